"""Signed requests expire, and hostile bodies are refused before they cost the app.

In production mode a request to ``/api/inngest`` must carry one well-formed
``X-Inngest-Signature`` at most 5 minutes old (60 s of clock skew ahead), whose MAC
verifies over the bytes received; a body over ``max_body_bytes`` gets ``413`` as
soon as the bound is passed. The properties are checked with Hypothesis
(derandomized): whatever the header or the body, the answer is a clean 4xx and the
app runs nothing, unless the request is genuine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import fastapi
import httpx
import jcs
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agentkit_inngest import (
    Network,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest._security import DEFAULT_MAX_BODY_BYTES, INNGEST_REQUEST_BYTES
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call
from agentkit_inngest.testing.servers import serve

from .security_helpers import (
    FALLBACK_KEY,
    OTHER_KEY,
    SIGNING_KEY,
    TARGET,
    call_body,
    chunked,
    counting_function,
    exchange,
    head,
    mac,
    production_client,
    signature,
)

CAP = 64 * 1024  # the served app's bound in these tests (the default is 8 MiB)
JSON = (b"content-type", b"application/json")
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def examples(n: int) -> settings:
    """Deterministic settings for ``n`` examples (x10 and random when exploring)."""
    return settings(
        max_examples=n * 10 if EXPLORE else n,
        derandomize=not EXPLORE,
        deadline=None,
        database=None,
    )


# -- finding 1: a captured signed request, replayed later ------------------------------------


async def test_a_signed_request_replayed_after_five_minutes_is_refused_and_runs_nothing() -> None:
    transfers: list[int] = []

    @tool
    def transfer(amount: int) -> str:
        """Send money (a side effect)."""
        transfers.append(amount)
        return f"sent {amount}"

    model = ScriptedModel([tool_call("transfer", {"amount": 1}), text("done")])
    agent = create_agent(name="Bank", model=model, tools=[transfer])
    network: Network[Any] = create_network(
        name="Bank", agents=[agent], router=route_in_order(agent)
    )
    async with LocalExecutor(signing_key=SIGNING_KEY, keep_bodies=True) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        # one step per request (checkpointing off, or fallen back): the captured request
        # runs the tool when accepted, which the control at the end shows
        app = create_server(client=client, networks=[network], checkpointing=False)
        url = await executor.attach(app)
        run = await executor.run("network-bank", {"input": "pay"})
        assert transfers == [1]
        # the call that ran the tool, as the executor (Inngest) sent it
        captured = next(
            r for r in executor.requests_for(run) if ("StepRun", "Bank#1/tool/transfer") in r.ops
        )
        body = captured.request_body
        assert body is not None
        # what the MAC covers: the JCS form, which is what the executor sends (as Inngest does)
        signed = jcs.canonicalize(json.loads(body))
        target = f"{url}?fnId={run.fn_id}&stepId={captured.step}"
        now = int(time.time())
        six = now - 360
        replays = {
            "the same bytes signed 301 s ago": f"t={now - 301}&s={mac(signed, now - 301)}",
            "signed a year ago": f"t={now - 31_536_000}&s={mac(signed, now - 31_536_000)}",
            "signed 10 minutes in the future": f"t={now + 600}&s={mac(signed, now + 600)}",
            "no timestamp (a MAC over the body alone)": f"s={mac(signed, '')}",
            "the fallback key, 6 min ago": f"t={six}&s={mac(signed, six, FALLBACK_KEY)}",
        }
        async with httpx.AsyncClient() as http:

            async def post(header: str) -> httpx.Response:
                headers = {"content-type": "application/json", "x-inngest-signature": header}
                return await http.post(target, content=body, headers=headers)

            for name, header in replays.items():
                for _ in range(3):  # replayed three times, as an attacker would
                    answer = await post(header)
                    assert answer.status_code == 401, name
                    assert answer.json()["message"] == "Unauthorized", name
            assert transfers == [1], "a replayed request ran the tool again"
            expired = (await post(replays["the same bytes signed 301 s ago"])).json()["reason"]
            assert "signature expired" in expired and "over 300 s" in expired
            # control: the very same bytes, signed now, are accepted and do run the tool
            fresh = await post(f"t={now}&s={mac(signed, now)}")
            assert fresh.status_code == 206
            assert transfers == [1, 1]


# -- the app under attack: production mode, one function that counts its calls -------------


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[int, list[Any]]]:
    calls: list[Any] = []
    client = production_client(fallback=FALLBACK_KEY)
    app = create_server(
        client=client, functions=[counting_function(client, calls)], max_body_bytes=CAP
    )
    with serve(app) as server:
        yield server.port, calls


def post(port: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Any:
    return exchange(port, head("POST", TARGET, headers, port=port) + body)


def test_a_genuine_call_runs_with_either_key(guarded: tuple[int, list[Any]]) -> None:
    """The control for the tests below: a fresh signature over the bytes runs the function."""
    port, calls = guarded
    before = len(calls)
    for key in (SIGNING_KEY, FALLBACK_KEY):
        body = call_body(key=key[-8:])
        length = (b"content-length", str(len(body)).encode())
        answer = post(
            port, [JSON, length, (b"x-inngest-signature", signature(body, key=key).encode())], body
        )
        assert answer.status == 200 and answer.body == b'"counted"'
    assert len(calls) == before + 2


# -- finding 5: bodies over the bound ------------------------------------------------------


def test_a_declared_length_over_the_bound_is_refused_before_any_body_is_sent(
    guarded: tuple[int, list[Any]],
) -> None:
    port, calls = guarded
    before = len(calls)
    body = call_body()
    for headers in (
        [JSON, (b"content-length", b"200000000")],  # unsigned
        [
            JSON,
            (b"content-length", b"200000000"),
            (b"x-inngest-signature", signature(body).encode()),
        ],
    ):
        answer = post(port, headers)  # the head only: the app must answer without the body
        assert answer.status == 413
        assert b"this app accepts at most 65536 bytes" in answer.body
        assert answer.headers["connection"] == "close"
    assert len(calls) == before


def test_a_chunked_body_is_cut_off_at_the_bound_and_an_unsigned_one_is_never_read(
    guarded: tuple[int, list[Any]],
) -> None:
    port, calls = guarded
    before = len(calls)
    padded = call_body(pad="x" * CAP)  # a genuine call, just too large, correctly signed
    framing = (b"transfer-encoding", b"chunked")
    signed = (b"x-inngest-signature", signature(padded).encode())
    # exactly one byte past the bound, with no end: the app must decide without the rest
    answer = post(port, [JSON, framing, signed], chunked(padded[: CAP + 1], finish=False))
    assert answer.status == 413 and b"over 65536 bytes sent" in answer.body
    # unsigned: refused on its headers, before a byte of the body
    answer = post(port, [JSON, framing])
    assert answer.status == 401 and b"not signed" in answer.body
    # under the bound, a forged MAC is checked on the raw bytes, before any JSON parsing
    small = call_body()
    forged = (b"x-inngest-signature", f"t={int(time.time())}&s={'0' * 64}".encode())
    answer = post(port, [JSON, framing, forged], chunked(small))
    assert answer.status == 401 and b"does not match" in answer.body
    assert len(calls) == before


async def test_health_answers_while_a_hostile_body_is_held_open() -> None:
    calls: list[Any] = []
    client = production_client()
    app = create_server(
        client=client, functions=[counting_function(client, calls)], max_body_bytes=CAP
    )
    with serve(app) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        signed = (b"x-inngest-signature", signature(b"{}").encode())
        writer.write(
            head(
                "POST", TARGET, [JSON, (b"transfer-encoding", b"chunked"), signed], port=server.port
            )
        )
        writer.write(chunked(b"x" * (CAP // 2), finish=False))  # half the bound, then silence
        await writer.drain()
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{server.url}/health")
        assert health.status_code == 200 and health.json()["mode"] == "production"
        writer.close()
    assert calls == []


def test_the_default_bound_holds_the_largest_call_inngest_sends() -> None:
    # MaxSDKRequestBodySize (4 MiB) plus a first event at the absolute event limit (3 MiB)
    assert DEFAULT_MAX_BODY_BYTES >= INNGEST_REQUEST_BYTES + 3 * 1024 * 1024
    assert DEFAULT_MAX_BODY_BYTES == 8 * 1024 * 1024


# -- properties: any header, any body -------------------------------------------------------


# Stamps are written relative to the moment a request is sent ("{now-301}" is 301 s
# before it), so a slow test run cannot age a fresh stamp into a stale one.
ARABIC_DIGITS = "\u0661\u0667" + "\u0660" * 8  # int() reads them as 1700000000
FRESH = "{now}"
stamps = st.one_of(
    st.integers(301, 10**9).map(lambda age: f"{{now-{age}}}"),  # stale
    st.integers(120, 10**9).map(lambda ahead: f"{{now+{ahead}}}"),  # future (60 s allowed)
    st.integers(10**12, 10**80).map(str),  # huge
    st.integers(-(10**9), -1).map(str),  # negative
    st.sampled_from(["", " ", "0", "1e9", "{now}.0", " {now}", "{now}\x00", ARABIC_DIGITS]),
    st.just(FRESH),  # fresh: hostile only with a bad MAC or another flaw
)


def _stamp(value: str, now: int) -> str:
    """``value`` with its ``{now}``, ``{now-N}`` or ``{now+N}`` written out."""
    return re.sub(
        r"\{now(?:([+-])(\d+))?\}",
        lambda m: str(now + (int(m[2]) if m[1] == "+" else -int(m[2] or 0))),
        value,
    )


macs = st.one_of(
    st.just("VALID"),  # replaced by the right MAC for the header's t (if it has one)
    st.just("0" * 64),
    st.text("0123456789abcdefABCDEF", min_size=0, max_size=70),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n&"), max_size=20),
)
fields = st.one_of(
    st.tuples(st.just("t"), stamps),
    st.tuples(st.just("s"), macs),
    st.tuples(
        st.sampled_from(["v", "T", "S", "", "t ", "s\x00"]),
        st.text(st.characters(exclude_characters="&\r\n"), max_size=8),
    ),
)


def _render(parts: list[tuple[str, str]], body: bytes, now: int) -> bytes:
    written = [(name, _stamp(value, now) if name == "t" else value) for name, value in parts]
    stamp = next((value for name, value in written if name == "t"), "")
    text_ = "&".join(
        f"{name}={mac(body, stamp) if value == 'VALID' else value}" for name, value in written
    )
    return text_.encode("utf-8", "surrogateescape").replace(b"\r", b"").replace(b"\n", b"")


def _genuine(headers: list[bytes], parts: list[tuple[str, str]]) -> bool:
    stamps_ = [value for name, value in parts if name == "t"]
    macs_ = [value for name, value in parts if name == "s"]
    return (
        len(headers) == 1
        and all(0x20 <= byte < 0x7F for byte in headers[0])  # else h11 or the app refuses
        and stamps_ == [FRESH]
        and macs_ == ["VALID"]
    )


benign = st.tuples(st.sampled_from(["v", "T", "x"]), st.text("abc123", max_size=4))
headers_ = st.one_of(
    st.lists(fields, max_size=5),
    # near-genuine: a fresh, correct t and s, with other fields (maybe another t or s)
    st.lists(st.one_of(benign, benign, fields), max_size=2).map(
        lambda extra: [("t", FRESH), ("s", "VALID"), *extra]
    ),
)


@examples(300)
@given(parts=headers_, copies=st.sampled_from([1, 0, 2]))
def test_any_signature_header_but_a_genuine_one_gets_401_and_runs_nothing(
    guarded: tuple[int, list[Any]], parts: list[tuple[str, str]], copies: int
) -> None:
    port, calls = guarded
    before = len(calls)
    body = call_body()
    rendered = [_render(parts, body, int(time.time()))] * max(copies, 1) if copies else []
    headers = [JSON, (b"content-length", str(len(body)).encode())]
    headers += [(b"x-inngest-signature", value) for value in rendered]
    answer = post(port, headers, body)
    event(f"HTTP {answer.status}")
    if _genuine(rendered, parts):
        assert answer.status == 200 and len(calls) == before + 1
        return
    assert 400 <= answer.status < 500, (rendered, answer)
    assert len(calls) == before, f"the handler ran for {rendered!r}"


def _hostile(kind: str, junk: bytes) -> bytes:
    genuine = call_body()
    if kind == "invalid utf-8":
        return genuine.replace(b'"data":{}', b'"data":{"x":"' + junk.replace(b'"', b"") + b'\xff"}')
    if kind == "lone surrogate":
        return genuine.replace(b'"data":{}', b'"data":{"x":"\\ud800\\udbff"}')
    if kind == "nan":
        return genuine.replace(b'"data":{}', b'"data":{"x":NaN,"y":Infinity}')
    if kind == "nul":
        return genuine.replace(b'"data":{}', b'"data":{"x":"\x00' + junk.hex().encode() + b'"}')
    if kind == "deep":
        return b"[" * 30_000 + b"]" * 30_000
    if kind == "huge int":
        return genuine.replace(b'"data":{}', b'"data":{"x":' + b"9" * 5000 + b"}")
    return genuine.replace(b'"data":{}', b'"data":{"pad":"' + b"y" * (CAP + len(junk)) + b'"}')


@examples(120)
@given(
    kind=st.sampled_from(
        ["invalid utf-8", "lone surrogate", "nan", "nul", "deep", "huge int", "oversized"]
    ),
    signer=st.sampled_from(["none", "forged", "other key", "genuine"]),
    framing=st.sampled_from(["length", "chunked"]),
    junk=st.binary(max_size=64),
)
def test_any_hostile_body_gets_a_clean_4xx_and_runs_nothing(
    guarded: tuple[int, list[Any]], kind: str, signer: str, framing: str, junk: bytes
) -> None:
    port, calls = guarded
    before = len(calls)
    body = _hostile(kind, junk)
    headers = [JSON]
    if signer == "forged":
        headers.append((b"x-inngest-signature", f"t={int(time.time())}&s={'f' * 64}".encode()))
    elif signer != "none":
        key = OTHER_KEY if signer == "other key" else SIGNING_KEY
        headers.append((b"x-inngest-signature", signature(body, key=key).encode()))
    oversized = len(body) > CAP
    if framing == "length":
        headers.append((b"content-length", str(len(body)).encode()))
        # refused on the headers (unsigned, or a declared length over the bound): head only
        sent = b"" if signer == "none" or oversized else body
    else:
        headers.append((b"transfer-encoding", b"chunked"))
        sent = b"" if signer == "none" else chunked(body[: CAP + 1], finish=not oversized)
    answer = post(port, headers, sent)
    event(f"HTTP {answer.status}")
    assert 400 <= answer.status < 500, (kind, signer, framing, answer)
    if oversized:
        assert answer.status == 413 or signer == "none"
    assert len(calls) == before, f"the handler ran for a {kind} body ({signer}, {framing})"


def test_the_guard_holds_when_the_app_is_mounted_under_a_prefix() -> None:
    calls: list[Any] = []
    client = production_client()
    outer = fastapi.FastAPI()
    outer.mount(
        "/agents", create_server(client=client, functions=[counting_function(client, calls)])
    )
    body = call_body()
    with serve(outer) as server:
        target = "/agents" + TARGET
        length = (b"content-length", str(len(body)).encode())
        stale = (b"x-inngest-signature", signature(body, age=400).encode())
        huge = (b"content-length", b"900000000")
        port = server.port
        assert exchange(port, head("POST", target, [JSON, length], port=port) + body).status == 401
        answer = exchange(port, head("POST", target, [JSON, length, stale], port=port) + body)
        assert answer.status == 401 and b"expired" in answer.body
        assert exchange(port, head("POST", target, [JSON, huge], port=port)).status == 413
        fresh = (b"x-inngest-signature", signature(body).encode())
        assert (
            exchange(port, head("POST", target, [JSON, length, fresh], port=port) + body).status
            == 200
        )
    assert calls == [{}]  # only the genuine call ran
