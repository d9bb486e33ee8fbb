"""Security: signed requests in production mode, and secrets that never leak.

The app runs in production mode with sentinel signing keys and sentinel provider
API keys. Every byte the executor (standing in for Inngest) sends or receives,
every run output and error, and every log record of every logger at DEBUG level
is searched for the sentinels, while providers fail in the ways that tend to leak
them (an auth error that echoes the key, a 500 that does, a dead endpoint).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import inngest._internal.net as inngest_net
import pytest

from agentkit_inngest import Network, create_agent, create_network, create_server, route_in_order
from agentkit_inngest.models import anthropic, openai
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

SIGNING_KEY = "signkey-prod-" + "5e7e1a11" * 8
FALLBACK_KEY = "signkey-prod-" + "fa11bacc" * 8
EVENT_KEY = "EVENTKEY-SENTINEL-7f3a9c"
OPENAI_KEY = "sk-SENTINEL-openai-4c1d8e2b9f"
ANTHROPIC_KEY = "sk-ant-SENTINEL-anthropic-8e2b9f4c1d"
SECRETS = {
    "signing key": SIGNING_KEY,
    "signing key (hex part)": SIGNING_KEY.removeprefix("signkey-prod-"),
    "fallback signing key": FALLBACK_KEY.removeprefix("signkey-prod-"),
    "event key": EVENT_KEY,
    "OpenAI key": OPENAI_KEY,
    "Anthropic key": ANTHROPIC_KEY,
}


def leaks(where: str, blob: Any) -> list[str]:
    text_ = blob if isinstance(blob, str) else json.dumps(blob, default=str)
    return [f"{name} in {where}" for name, secret in SECRETS.items() if secret in text_]


class Capture(logging.Handler):
    """Every log record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


LOGGERS = ["", "agentkit_inngest", "inngest", "httpx", "httpcore", "openai", "anthropic", "uvicorn"]


@pytest.fixture
def logs() -> Iterator[Capture]:
    capture = Capture()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).addHandler(capture)
    try:
        yield capture
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).removeHandler(capture)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNGEST_SIGNING_KEY_FALLBACK", FALLBACK_KEY)
    monkeypatch.setenv("INNGEST_EVENT_KEY", EVENT_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


# -- signatures -----------------------------------------------------------------------------


async def test_production_mode_accepts_only_correctly_signed_requests(production: None) -> None:
    model = ScriptedModel(
        [text("signed"), text("the genuine request"), text("signed with the fallback key")]
    )
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(
        name="Prod", agents=[agent], router=route_in_order(agent)
    )
    async with LocalExecutor(signing_key=SIGNING_KEY, keep_bodies=True) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        url = await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-prod", {"input": "hi"})
        assert run.output["output"] == "signed"  # and every response signature verified
        valid = executor.requests_for(run)[0]
        assert valid.request_body is not None
        body = valid.request_body
        target = f"{url}?fnId=prod-network-prod&stepId=step"

        def signed_with(key: str, payload: bytes = body) -> dict[str, str]:
            signature = inngest_net.sign_request(payload, key)
            assert isinstance(signature, str), signature
            return {"content-type": "application/json", "x-inngest-signature": signature}

        tampered = body.replace(b'"hi"', b'"rm -rf /"')
        forged = {
            "no signature": {"content-type": "application/json"},
            "another key": signed_with("signkey-prod-" + "0badc0de" * 8),
            "a signature of another body": {
                **signed_with(SIGNING_KEY),
                "x-inngest-signature": signed_with(SIGNING_KEY)["x-inngest-signature"],
            },
            "garbage": {"x-inngest-signature": "not-a-signature"},
            "no hash": {"x-inngest-signature": "t=1700000000"},
        }
        async with httpx.AsyncClient() as http:
            for name, headers in forged.items():
                content = tampered if name == "a signature of another body" else body
                answer = await http.post(target, content=content, headers=headers)
                assert answer.status_code == 401, name
                assert answer.json()["message"] == "Unauthorized", name
            assert (await http.get(url)).status_code == 401  # inspection needs a signature too
            in_band = await http.put(url, headers={"x-inngest-sync-kind": "in_band"})
            assert in_band.status_code == 401  # an unsigned sync gets no app configuration
            # the same body, correctly signed, is accepted (the forgeries failed on the key)
            genuine = await http.post(target, content=body, headers=signed_with(SIGNING_KEY))
            assert genuine.status_code == 206
        executor.signing_key = FALLBACK_KEY  # a key rotation: the fallback key still works
        run = await executor.run("network-prod", {"input": "hi"})
        assert run.output["output"] == "signed with the fallback key"


# -- secrets --------------------------------------------------------------------------------


async def test_sentinel_keys_never_reach_outputs_errors_or_logs(
    production: None, logs: Capture, fake_provider: FakeProvider, provider_url: str
) -> None:
    echo = f"Incorrect API key provided: {OPENAI_KEY}. Find your key at example.invalid"

    def network(name: str, model: Any, *, tools: bool = False) -> Any:
        from agentkit_inngest import tool

        @tool
        def lookup(q: str) -> str:
            """Look something up."""
            return f"found {q}"

        agent = create_agent(name="A", model=model, tools=[lookup] if tools else [], max_iter=2)
        return create_network(name=name, agents=[agent], router=route_in_order(agent))

    oa = openai("gpt-test", base_url=f"{provider_url}/v1")  # the key comes from the env
    dead = openai("gpt-test", base_url="http://127.0.0.1:9/v1", timeout=1)
    claude = anthropic("claude-test", base_url=provider_url)
    networks = [
        network("Works", oa, tools=True),
        network("Echo401", oa),
        network("Echo500", oa),
        network("Dead", dead),
        network("Claude401", claude),
    ]
    fake_provider.reply(
        tool_call("lookup", {"q": "pg"}),
        text("done"),
        Fault(status=401, message=echo),
        Fault(status=500, message=echo),
        text("recovered"),
        Fault(status=401, message=f"invalid x-api-key {ANTHROPIC_KEY}"),
    )
    async with LocalExecutor(signing_key=SIGNING_KEY, keep_bodies=True) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        await executor.attach(create_server(client=client, networks=networks))
        outcomes = {}
        for name in ("works", "echo401", "echo500", "dead", "claude401"):
            run = await executor.run(f"network-{name}", {"input": "hi"}, check=False)
            outcomes[name] = run

    # the sentinels were really used: the provider received them
    sent = json.dumps([r.headers for r in fake_provider.requests])
    assert OPENAI_KEY in sent and ANTHROPIC_KEY in sent
    assert [o.status for o in outcomes.values()] == [
        "completed",
        "failed",
        "completed",
        "failed",
        "failed",
    ]
    assert "HTTP 401" in outcomes["echo401"].error["message"]
    assert "[redacted]" in outcomes["echo401"].error["message"]
    assert "could not be reached" in outcomes["dead"].error["message"]

    found: list[str] = []
    for name, run in outcomes.items():
        found += leaks(f"{name}: output", run.output) + leaks(f"{name}: error", run.error)
        found += leaks(f"{name}: memos", run.memos)
    for record in executor.requests:
        found += leaks(f"request {record.index} to the app", (record.request_body or b"").decode())
        found += leaks(f"answer {record.index} of the app", (record.response_body or b"").decode())
    found += leaks("registration", executor.functions)
    found += leaks("logs", "\n".join(logs.lines))
    assert not found, found
    assert logs.lines, "nothing was logged: the log scan would prove nothing"


async def test_offload_mode_hands_the_provider_key_to_inngest_and_nowhere_else(
    production: None, fake_provider: FakeProvider, provider_url: str
) -> None:
    """What the Inngest server sees in offload mode (RELIABILITY.md): the provider key
    in each AIGateway request it is asked to make, because it makes the call."""
    fake_provider.reply(text("offloaded"))
    model = openai("gpt-test", base_url=f"{provider_url}/v1", inference="offload")
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(name="Off", agents=[agent], router=route_in_order(agent))
    async with LocalExecutor(signing_key=SIGNING_KEY, keep_bodies=True) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-off", {"input": "hi"})
    assert run.output["output"] == "offloaded"
    opcodes = [
        op
        for record in executor.requests_for(run)
        if record.status == 206
        for op in json.loads(record.response_body or b"[]")
    ]
    gateway = [op for op in opcodes if op["op"] == "AIGateway"]
    assert len(gateway) == 1
    assert gateway[0]["opts"]["auth_key"] == OPENAI_KEY  # the server holds the key ...
    assert gateway[0]["opts"]["url"] == f"{provider_url}/v1/chat/completions"
    assert gateway[0]["opts"]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    others = [op for op in opcodes if op is not gateway[0]]
    assert not leaks("other opcodes", others)  # ... and sees it nowhere else
    assert not leaks("memos", run.memos) and not leaks("output", run.output)


def test_a_secret_in_a_chained_provider_exception_drops_the_chain() -> None:
    from agentkit_inngest import FatalProviderError
    from agentkit_inngest.models._base import redact_error

    try:
        try:
            raise ValueError(f"bad key {OPENAI_KEY}")
        except ValueError as cause:
            raise FatalProviderError("openai answered HTTP 401", provider="openai") from cause
    except FatalProviderError as err:
        original, cleaned = err, redact_error(err, [OPENAI_KEY])
    assert cleaned is not original and cleaned.__cause__ is None
    assert str(cleaned) == (
        "openai answered HTTP 401 (details from the provider were withheld: they contained "
        "a secret)"
    )
    assert cleaned.provider == "openai" and isinstance(cleaned, FatalProviderError)
    clean = FatalProviderError("HTTP 401", provider="openai")
    assert redact_error(clean, [OPENAI_KEY, "short"]) is clean
