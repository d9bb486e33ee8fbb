"""Syncs: who may make the app register itself, and at which URL.

A sync (``PUT /api/inngest``) makes the app send its functions and its URL to its
Inngest API; the server then sends every run (events, step outputs) to that URL. In
production mode an unsigned sync is refused unless allowed, and ``serve_origin`` /
``INNGEST_SERVE_ORIGIN`` pins the registered URL whatever the request's ``Host``.

The executor syncs as the Inngest server does (``pkg/deploy/deploy.go`` ``Ping`` in
``inngest/inngest``): a ``PUT``, signed with ``{"url": ...}`` in production mode,
after which the app registers out of band (``POST /fn/register`` with the hash of
its signing key); or in band, as Inngest Cloud's ``pkg/appsync`` does.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import inngest
import pytest

from agentkit_inngest import (
    ConfigurationError,
    create_agent,
    create_network,
    create_server,
    route_in_order,
)
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text

from .security_helpers import OTHER_KEY, SIGNING_KEY, mac

PINNED = "https://agents.example.com"


def _network() -> Any:
    agent = create_agent(name="A", model=ScriptedModel([text("ok")] * 10))
    return create_network(name="Prod", agents=[agent], router=route_in_order(agent))


def _registered_urls(executor: LocalExecutor) -> set[str]:
    """The app URLs in the function configurations the executor holds."""
    return {
        config["steps"]["step"]["runtime"]["url"].split("?")[0]
        for config in executor.functions.values()
    }


def _signed_put(url: str, *, host: str | None = None, key: str = SIGNING_KEY) -> dict[str, Any]:
    """A sync as the self-hosted Inngest server sends it (signed ``{"url": ...}``)."""
    body = json.dumps({"url": url}, separators=(",", ":")).encode()
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "x-inngest-server-kind": "cloud",
        "x-inngest-signature": f"t={stamp}&s={mac(body, stamp, key)}",
    }
    if host is not None:
        headers["host"] = host
    return {"content": body, "headers": headers}


async def test_an_unsigned_sync_with_a_forged_host_is_refused_and_registers_nothing() -> None:
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        url = await executor.attach(create_server(client=client, networks=[_network()]))
        registrations = executor.registrations
        async with httpx.AsyncClient() as http:
            for headers in (
                {"host": "evil.example"},
                {"host": "evil.example", "x-inngest-server-kind": "cloud"},
                {"host": "evil.example", "x-inngest-sync-kind": "in_band"},
            ):
                answer = await http.put(url, headers=headers)
                assert answer.status_code == 401, headers
        assert executor.registrations == registrations, "an unsigned sync made the app register"
        assert _registered_urls(executor) == {url}
        run = await executor.run("network-prod", {"input": "hi"})  # runs still reach the app
        assert run.output["output"] == "ok"


async def test_a_pinned_origin_is_registered_whatever_the_host_header_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        app = create_server(client=client, networks=[_network()], serve_origin=PINNED)
        url = await executor.attach(app)
        assert executor.registered_urls == [f"{PINNED}/api/inngest"]
        async with httpx.AsyncClient() as http:
            # a genuine, signed sync arriving with a forged Host (a replay, or a proxy's)
            answer = await http.put(url, **_signed_put(url, host="evil.example"))
            assert answer.status_code == 200
            # signed with another key: refused like any forgery
            forged = await http.put(url, **_signed_put(url, host="evil.example", key=OTHER_KEY))
            assert forged.status_code == 401
        assert executor.registered_urls == [f"{PINNED}/api/inngest"] * 2
        assert _registered_urls(executor) == {f"{PINNED}/api/inngest"}

        # the same from the environment, and with unsigned syncs explicitly allowed
        monkeypatch.setenv("INNGEST_SERVE_ORIGIN", "agents.example.com:8443")
        app = create_server(client=client, networks=[_network()], allow_unsigned_sync=True)
        other = await executor.attach(app)
        async with httpx.AsyncClient() as http:
            answer = await http.put(other, headers={"host": "evil.example"})
        assert answer.status_code == 200
        assert executor.registered_urls[-2:] == ["https://agents.example.com:8443/api/inngest"] * 2


def test_unsigned_syncs_are_refused_by_default_and_allowed_by_name_or_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentkit_inngest._server import _unsigned_sync

    monkeypatch.delenv("INNGEST_ENABLE_UNAUTHED_SYNC", raising=False)
    assert _unsigned_sync(None) is False  # the SDK's own default would be True
    assert _unsigned_sync(True) is True
    for value, allowed in (("true", True), ("1", True), ("false", False), ("", False)):
        monkeypatch.setenv("INNGEST_ENABLE_UNAUTHED_SYNC", value)
        assert _unsigned_sync(None) is allowed, value
    monkeypatch.setenv("INNGEST_ENABLE_UNAUTHED_SYNC", "true")
    assert _unsigned_sync(False) is False


@pytest.mark.parametrize(
    "origin",
    [
        "https://agents.example.com/api",
        "ftp://agents.example.com",
        "https://",
        "https://a.example?x=1",
        "https://user:pw@agents.example.com",
    ],
)
def test_a_serve_origin_that_is_not_an_origin_is_refused(
    origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = inngest.Inngest(app_id="o", is_production=True, signing_key=SIGNING_KEY)
    with pytest.raises(ConfigurationError, match="serve_origin must be an origin"):
        create_server(client=prod, networks=[_network()], serve_origin=origin)
    monkeypatch.setenv("INNGEST_SERVE_ORIGIN", origin)
    with pytest.raises(ConfigurationError, match="INNGEST_SERVE_ORIGIN must be an origin"):
        create_server(client=prod, networks=[_network()])


async def test_the_executor_syncs_out_of_band_like_the_inngest_server() -> None:
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        url = await executor.attach(create_server(client=client, networks=[_network()]))
        # the app answered a signed PUT by registering itself with its key's hash
        assert executor.registrations == 1 and executor.registered_urls == [url]
        # a registration without the key's hash is refused, as the server refuses it
        async with httpx.AsyncClient() as http:
            register = f"{executor.api_url}/fn/register"
            payload = {"url": "https://evil.example/api/inngest", "functions": []}
            anonymous = await http.post(register, json=payload)
            wrong = await http.post(
                register, json=payload, headers={"authorization": "Bearer " + "0" * 64}
            )
        assert anonymous.status_code == wrong.status_code == 401
        assert executor.registered_urls == [url]
        # the in-band handshake of Inngest Cloud still works, and registers nothing
        functions = await executor.sync(url, in_band=True)
        assert set(functions) == {"prod-network-prod"}
        assert executor.registrations == 1
    async with LocalExecutor() as dev:  # dev mode: an unsigned PUT, as the dev server sends
        url = await dev.attach(create_server(client=dev.client("dev"), networks=[_network()]))
        assert dev.registered_urls == [url]
        with pytest.raises(RuntimeError, match="in-band sync is signed"):
            await dev.sync(url, in_band=True)


@pytest.mark.parametrize("bad", [{"max_body_bytes": 0}, {"signature_max_age": 0.0}])
def test_a_bound_that_would_refuse_everything_is_refused_at_startup(bad: dict[str, Any]) -> None:
    prod = inngest.Inngest(app_id="o", is_production=True, signing_key=SIGNING_KEY)
    with pytest.raises(ConfigurationError, match="must be positive"):
        create_server(client=prod, networks=[_network()], **bad)
