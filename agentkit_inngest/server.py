"""The served app: a FastAPI application exposing ``/api/inngest`` and ``/health``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from .agent import Agent
from .durable import count_fetched_memos
from .errors import ConfigurationError
from .functions import served_functions
from .network import Network
from .steps import REQUEST_BYTES, CarriedMemos
from .streaming.broker import Broker
from .streaming.publishers import (
    BrokerPublisher,
    FanOut,
    Publisher,
    RealtimePublisher,
    realtime_token,
)
from .streaming.sse import stream_router

__all__ = ["create_client", "create_server"]


def create_client(
    app_id: str, *, is_production: bool | None = None, **options: Any
) -> inngest.Inngest:
    """An Inngest client. The mode follows ``INNGEST_DEV`` unless ``is_production`` is
    given: dev mode talks to a dev server and skips signatures; production mode
    needs ``INNGEST_SIGNING_KEY`` (and ``INNGEST_EVENT_KEY`` to send events)."""
    client = inngest.Inngest(app_id=app_id, is_production=is_production, **options)
    if client.is_production and not (client.signing_key or os.environ.get("INNGEST_SIGNING_KEY")):
        raise ConfigurationError(
            "production mode needs a signing key: set INNGEST_SIGNING_KEY "
            "(or INNGEST_DEV=1 to run against the Inngest dev server)"
        )
    return client


def create_server(
    *,
    app_id: str = "agentkit",
    agents: Sequence[Agent] = (),
    networks: Sequence[Network[Any]] = (),
    functions: Sequence[inngest.Function[Any]] = (),
    client: inngest.Inngest | None = None,
    serve_path: str = "/api/inngest",
    app: fastapi.FastAPI | None = None,
    broker: Broker | None = None,
    realtime: bool = False,
) -> fastapi.FastAPI:
    """A FastAPI app serving agents, networks and Inngest functions at ``/api/inngest``.

    Each agent and network becomes a function (``agent-<slug>``, ``network-<slug>``)
    with default options; build them with
    :func:`~agentkit_inngest.functions.network_function` to set flow control, and
    pass them in ``functions`` with your own Inngest functions.

    Args:
        app_id: the Inngest app id (used when ``client`` is not given).
        agents: agents to serve as functions.
        networks: networks to serve as functions.
        functions: more Inngest functions.
        client: the Inngest client; default :func:`create_client` ``(app_id)``.
        serve_path: where Inngest calls the app.
        app: add the routes to this FastAPI app instead of a new one.
        broker: stream the served agents' and networks' progress through this
            broker and serve it at ``GET /streams/{channel}`` (server-sent events).
        realtime: also publish the progress to Inngest Realtime, and serve
            subscription tokens at ``GET /streams/{channel}/token``.
    """
    client = client or create_client(app_id)
    publishers: list[Publisher] = []
    if broker is not None:
        publishers.append(BrokerPublisher(broker))
    if realtime:
        publishers.append(RealtimePublisher(client))
    publisher: Publisher | None = None
    if publishers:
        publisher = publishers[0] if len(publishers) == 1 else FanOut(*publishers)
    served = served_functions(
        client=client, agents=agents, networks=networks, functions=functions, publisher=publisher
    )
    if not served:
        raise ConfigurationError("create_server needs at least one agent, network or function")
    web = app or fastapi.FastAPI(title=f"{client.app_id} (agentkit-inngest)")
    web.add_middleware(_RequestSize, path=serve_path, client=client)
    inngest.fast_api.serve(web, client, served, serve_path=serve_path)

    @web.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "app_id": client.app_id,
            "mode": "production" if client.is_production else "dev",
            "functions": len(served),
        }

    if realtime:
        realtime_client = client

        @web.get("/streams/{channel}/token")
        async def token(channel: str) -> dict[str, object]:
            return await realtime_token(realtime_client, channel)

    if broker is not None:
        web.include_router(stream_router(broker))

    web.state.inngest_client = client
    web.state.inngest_functions = served
    web.state.stream_publisher = publisher
    web.state.broker = broker
    return web


class _RequestSize:
    """Tells runners how many bytes brought each Inngest request's memos: the request
    (it carries them while they total under 4 MB - 1 KB) plus what the SDK fetches
    from the Inngest API when they are larger (``use_api``). The run-size bound then
    holds in both modes without encoding the memos again on every replay."""

    def __init__(self, app: Any, *, path: str, client: inngest.Inngest) -> None:
        self.app = app
        self.path = path
        self.exact = count_fetched_memos(client)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("path") != self.path or not self.exact:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        carried = CarriedMemos(int(length)) if length and length.isdigit() else None
        token = REQUEST_BYTES.set(carried)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_BYTES.reset(token)
