"""The served app: a FastAPI application exposing ``/api/inngest`` and ``/health``."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from ._agent import Agent
from ._functions import install_middleware, serve_streams, served_functions
from ._network import Network
from ._security import (
    DEFAULT_MAX_BODY_BYTES,
    SIGNATURE_MAX_AGE,
    InngestRequestGuard,
    StreamAuth,
    stream_authorizer,
)
from ._steps import (
    REQUEST_BYTES,
    CarriedMemos,
    CheckpointingOption,
    count_fetched_memos,
    set_app_checkpointing,
)
from ._tracing import TraceHeaders
from .errors import ConfigurationError
from .streaming import (
    Broker,
    BrokerPublisher,
    FanOut,
    Publisher,
    RealtimePublisher,
    realtime_token,
    stream_router,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "StreamAuth", "create_client", "create_server"]


def create_client(
    app_id: str, *, is_production: bool | None = None, **options: Any
) -> inngest.Inngest:
    """An Inngest client.

    The mode follows ``INNGEST_DEV`` unless ``is_production`` is given: dev mode talks to a dev
    server and skips signatures; production mode needs ``INNGEST_SIGNING_KEY`` (and
    ``INNGEST_EVENT_KEY`` to send events).

    The client carries :class:`~agentkit_inngest.AgentKitMiddleware`: in its
    (async) functions, ``network.run(...)`` runs as the function's steps and a
    returned run becomes JSON.
    """
    client = inngest.Inngest(app_id=app_id, is_production=is_production, **options)
    if client.is_production and not (client.signing_key or os.environ.get("INNGEST_SIGNING_KEY")):
        raise ConfigurationError(
            "production mode needs a signing key: set INNGEST_SIGNING_KEY "
            "(or INNGEST_DEV=1 to run against the Inngest dev server)"
        )
    return install_middleware(client)


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
    stream_auth: StreamAuth | None = None,
    allow_public_streams: bool = False,
    serve_origin: str | None = None,
    allow_unsigned_sync: bool | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    signature_max_age: float = SIGNATURE_MAX_AGE,
    checkpointing: CheckpointingOption = None,
) -> fastapi.FastAPI:
    """A FastAPI app serving agents, networks and Inngest functions at ``/api/inngest``.

    Each agent and network becomes a function (``agent-<slug>``, ``network-<slug>``)
    with default options; build them with
    :func:`~agentkit_inngest.network_function` to set flow control, and
    pass them in ``functions`` with your own Inngest functions. The client gets
    :class:`~agentkit_inngest.AgentKitMiddleware` (when every served function is
    async): in your functions ``network.run(...)`` then runs as the function's steps,
    streams with the app's broker or Realtime, and a returned run becomes JSON.

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
        stream_auth: who may read a stream: called (sync or async) with the request
            and the thread id (the channel) before ``/streams/{channel}`` and its
            token answer; ``True`` lets the request through, anything else gets
            ``403``. Production mode refuses to serve streams without it unless
            ``allow_public_streams`` is set.
        allow_public_streams: serve streams to anyone in production mode (say so
            explicitly: thread ids are then the only secret).
        serve_origin: the origin the app registers when it syncs
            (``https://agents.example.com``); default ``INNGEST_SERVE_ORIGIN``, else
            the scheme and ``Host`` of the sync request. Pin it in production.
        allow_unsigned_sync: in production mode, let an unsigned
            ``PUT /api/inngest`` make the app register itself (an out-of-band sync,
            e.g. ``curl -X PUT`` from a deploy hook). Default: ``True`` only when
            ``INNGEST_ENABLE_UNAUTHED_SYNC`` is ``true``/``1``; otherwise a sync
            must be signed, as Inngest's own syncs are.
        max_body_bytes: the largest request body ``/api/inngest`` accepts; a larger
            one gets ``413`` before it is read. The default, 8 MiB, is above
            anything Inngest sends (at most 4 MiB a call, plus a first event at
            the 3 MiB event limit).
        signature_max_age: seconds a request signature stays valid in production
            mode (Inngest's SDKs use 300); a replayed older request gets ``401``.
        checkpointing: the app's default for its agent, network and
            ``create_function`` functions that do not choose (``True``, ``False`` or a
            :class:`~agentkit_inngest.Checkpointing`); default on. See docs/checkpointing.md.
    """
    client = client or create_client(app_id)
    set_app_checkpointing(client, checkpointing)
    _check_stream_auth(client, broker is not None or realtime, stream_auth, allow_public_streams)
    if max_body_bytes < 1 or not signature_max_age > 0:
        raise ConfigurationError(
            "max_body_bytes and signature_max_age must be positive, not "
            f"{max_body_bytes} and {signature_max_age}"
        )
    origin = _serve_origin(serve_origin)
    publisher = _publisher(client, broker, realtime)
    served = served_functions(
        client=client, agents=agents, networks=networks, functions=functions, publisher=publisher
    )
    if not served:
        raise ConfigurationError("create_server needs at least one agent, network or function")
    if all(fn.is_handler_async for fn in served):  # the middleware is async only
        install_middleware(client)
    serve_streams(client, publisher)
    web = app if app is not None else _new_app(client)
    unsigned_sync = _unsigned_sync(allow_unsigned_sync) if client.is_production else True
    web.add_middleware(_RequestSize, path=serve_path, client=client)
    web.add_middleware(TraceHeaders, path=serve_path, client=client)
    web.add_middleware(
        InngestRequestGuard,
        path=serve_path,
        max_body_bytes=max_body_bytes,
        signing_keys=_signing_keys(client) if client.is_production else None,
        allow_unsigned_sync=unsigned_sync,
        max_age=signature_max_age,
    )
    inngest.fast_api.serve(
        web,
        client,
        served,
        serve_path=serve_path,
        serve_origin=origin,
        enable_unauthed_sync=unsigned_sync,
    )
    authorize = stream_authorizer(stream_auth) if stream_auth is not None else None

    @web.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "app_id": client.app_id,
            "mode": "production" if client.is_production else "dev",
            "functions": len(served),
        }

    if realtime:
        _serve_realtime_tokens(web, client, authorize)
    if broker is not None:
        web.include_router(stream_router(broker, authorize=authorize))

    web.state.inngest_client = client
    web.state.inngest_functions = served
    web.state.stream_publisher = publisher
    web.state.broker = broker
    return web


def _check_stream_auth(
    client: inngest.Inngest,
    streams: bool,
    stream_auth: StreamAuth | None,
    allow_public_streams: bool,
) -> None:
    """Refuse conflicting stream options, and public streams nobody asked for in production."""
    if stream_auth is not None and allow_public_streams:
        raise ConfigurationError("give stream_auth or allow_public_streams=True, not both")
    if streams and client.is_production and stream_auth is None and not allow_public_streams:
        raise ConfigurationError(
            "production mode serves streams (/streams/...) only to requests a hook allows: "
            "pass create_server(stream_auth=...) (called with the request and the thread id), "
            "or allow_public_streams=True to serve them to anyone"
        )


def _publisher(client: inngest.Inngest, broker: Broker | None, realtime: bool) -> Publisher | None:
    """Where the served runs publish their streams: the broker, Realtime, both or neither."""
    publishers: list[Publisher] = []
    if broker is not None:
        publishers.append(BrokerPublisher(broker))
    if realtime:
        publishers.append(RealtimePublisher(client))
    if not publishers:
        return None
    return publishers[0] if len(publishers) == 1 else FanOut(*publishers)


def _new_app(client: inngest.Inngest) -> fastapi.FastAPI:
    """A FastAPI app for ``client``; in production, without its API docs."""
    if client.is_production:  # no /docs, /redoc or /openapi.json for anyone to read
        return fastapi.FastAPI(
            title=f"{client.app_id} (agentkit-inngest)",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
    return fastapi.FastAPI(title=f"{client.app_id} (agentkit-inngest)")


def _serve_realtime_tokens(
    web: fastapi.FastAPI,
    client: inngest.Inngest,
    authorize: Callable[[fastapi.Request, str], Awaitable[None]] | None,
) -> None:
    """Serve Realtime subscription tokens at ``GET /streams/{channel}/token``."""

    @web.get("/streams/{channel}/token")
    async def token(channel: str, request: fastapi.Request) -> dict[str, object]:
        if authorize is not None:
            await authorize(request, channel)
        return await realtime_token(client, channel)


def _signing_keys(client: inngest.Inngest) -> list[str | None]:
    """The keys requests may be signed with, read as the SDK reads them."""
    return [
        client.signing_key or os.environ.get("INNGEST_SIGNING_KEY"),
        client.signing_key_fallback,
    ]


def _unsigned_sync(allowed: bool | None) -> bool:
    if allowed is not None:
        return allowed
    return os.environ.get("INNGEST_ENABLE_UNAUTHED_SYNC", "").strip().lower() in ("1", "true")


def _serve_origin(origin: str | None) -> str | None:
    """``origin`` (else ``INNGEST_SERVE_ORIGIN``), checked: a scheme and a host, no path."""
    source = "serve_origin"
    if origin is None:
        origin, source = os.environ.get("INNGEST_SERVE_ORIGIN") or None, "INNGEST_SERVE_ORIGIN"
    if origin is None:
        return None
    parsed = urllib.parse.urlsplit(origin if "://" in origin else f"https://{origin}")
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
        or parsed.username is not None
    ):
        raise ConfigurationError(
            f"{source} must be an origin like https://agents.example.com (a scheme and a "
            f"host, no path), not {origin!r}"
        )
    return f"{parsed.scheme}://{parsed.netloc}"


class _RequestSize:
    """Tell runners how many bytes brought each Inngest request's memos.

    Tells runners how many bytes brought each Inngest request's memos: the request (it carries
    them while they total under 4 MB - 1 KB) plus what the SDK fetches from the Inngest API when
    they are larger (``use_api``). The run-size bound then holds in both modes without encoding
    the memos again on every replay.
    """

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
