"""Who may read a stream, and what a production app shows about itself.

``/streams/<thread>`` carries a thread's tool results and answers, and
``/streams/<thread>/token`` grants a Realtime subscription to them. In production
mode ``create_server`` serves them only through a ``stream_auth`` hook (or with an
explicit ``allow_public_streams=True``), and serves no API docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fastapi
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
from agentkit_inngest.streaming import MemoryBroker
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text
from agentkit_inngest.testing.servers import serve_async

from .security_helpers import SIGNING_KEY

OWNERS = {"alice-token": "thread-alice", "bob-token": "thread-bob"}


def _network() -> Any:
    agent = create_agent(name="A", model=ScriptedModel([text("secret answer")] * 5))
    return create_network(name="Chat", agents=[agent], router=route_in_order(agent))


async def owner_only(request: fastapi.Request, thread_id: str) -> bool:
    """A user reads only the thread their bearer token owns."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    return OWNERS.get(token) == thread_id


def owner_only_sync(request: fastapi.Request, thread_id: str) -> bool:
    return OWNERS.get(request.headers.get("authorization", "").removeprefix("Bearer ")) == thread_id


async def _first_message(http: httpx.AsyncClient, url: str, **headers: str) -> tuple[int, str]:
    """The status, and the first SSE message (or the error body)."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, (await response.aread()).decode()
        lines: list[str] = []
        async for line in response.aiter_lines():
            if not line and lines:
                return 200, "\n".join(lines)
            if line and not line.startswith(":"):
                lines.append(line)
    return 200, "\n".join(lines)


@pytest.fixture
async def production_executor() -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        yield executor


@pytest.mark.parametrize("hook", [owner_only, owner_only_sync], ids=["async hook", "sync hook"])
async def test_a_stream_is_served_only_to_whom_the_hook_allows(
    production_executor: LocalExecutor, hook: Any
) -> None:
    executor = production_executor
    client = executor.client("prod", signing_key=SIGNING_KEY)
    broker = MemoryBroker()
    app = create_server(
        client=client, networks=[_network()], broker=broker, realtime=True, stream_auth=hook
    )
    url = await executor.attach(app)
    base = url.removesuffix("/api/inngest")
    await executor.run("network-chat", {"input": "hi", "thread_id": "thread-alice"})
    async with httpx.AsyncClient(timeout=30) as http:
        for path in ("/streams/thread-alice", "/streams/thread-alice/token"):
            for headers in ({}, {"authorization": "Bearer bob-token"}, {"authorization": "x"}):
                status, body = await _first_message(http, base + path, **headers)
                assert status == 403, (path, headers)
                assert "secret answer" not in body
        status, first = await _first_message(
            http, base + "/streams/thread-alice", authorization="Bearer alice-token"
        )
        assert status == 200 and first.startswith("event: ready")
        token = await http.get(
            base + "/streams/thread-alice/token", headers={"authorization": "Bearer alice-token"}
        )
        assert token.status_code == 200 and token.json()["channel"] == "thread-alice"
        # the owner reads the retained events of the run, answer included
        async with http.stream(
            "GET",
            base + "/streams/thread-alice?after=none:0&until=done",  # all retained events
            headers={"authorization": "Bearer alice-token"},
        ) as response:
            body = (await response.aread()).decode()
        assert "secret answer" in body and "run.completed" in body


async def test_a_hook_may_answer_401_itself_and_an_unsure_hook_denies() -> None:
    async def needs_login(request: fastapi.Request, thread_id: str) -> bool:
        if "authorization" not in request.headers:
            raise fastapi.HTTPException(401, "log in first")
        return None  # type: ignore[return-value]  # a hook that forgot to return True

    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        app = create_server(
            client=client, networks=[_network()], broker=MemoryBroker(), stream_auth=needs_login
        )
        base = (await executor.attach(app)).removesuffix("/api/inngest")
        async with httpx.AsyncClient() as http:
            anonymous = await http.get(base + "/streams/t")
            unsure = await http.get(base + "/streams/t", headers={"authorization": "Bearer x"})
    assert anonymous.status_code == 401 and anonymous.json() == {"detail": "log in first"}
    assert unsure.status_code == 403


def test_production_refuses_to_serve_streams_without_a_hook_or_an_explicit_opt_out() -> None:
    client = inngest.Inngest(app_id="p", is_production=True, signing_key=SIGNING_KEY)
    for transport in ({"broker": MemoryBroker()}, {"realtime": True}):
        with pytest.raises(ConfigurationError, match="stream_auth=") as refused:
            create_server(client=client, networks=[_network()], **transport)
        assert "allow_public_streams=True" in str(refused.value)
        create_server(client=client, networks=[_network()], allow_public_streams=True, **transport)
    with pytest.raises(ConfigurationError, match="not both"):
        create_server(
            client=client,
            networks=[_network()],
            broker=MemoryBroker(),
            stream_auth=owner_only,
            allow_public_streams=True,
        )


async def test_public_streams_are_served_to_anyone_when_asked_for() -> None:
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        app = create_server(
            client=client, networks=[_network()], broker=MemoryBroker(), allow_public_streams=True
        )
        base = (await executor.attach(app)).removesuffix("/api/inngest")
        async with httpx.AsyncClient(timeout=30) as http:
            status, first = await _first_message(http, base + "/streams/anything")
    assert status == 200 and first.startswith("event: ready")


async def test_a_production_app_serves_no_api_docs_and_a_dev_app_does() -> None:
    prod = inngest.Inngest(app_id="p", is_production=True, signing_key=SIGNING_KEY)
    dev = inngest.Inngest(app_id="d", is_production=False)
    for client, expected in ((prod, 404), (dev, 200)):
        app = create_server(client=client, networks=[_network()])
        async with serve_async(app) as server, httpx.AsyncClient() as http:
            for path in ("/docs", "/redoc", "/openapi.json"):
                answer = await http.get(server.url + path)
                assert answer.status_code == expected, (client.is_production, path)
            assert (await http.get(server.url + "/health")).status_code == 200
