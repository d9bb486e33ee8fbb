"""MCP over a websocket, for the ``mcp`` SDK 2.x (which ships no websocket transport).

The wire format is the one MCP websocket servers have used since the 1.x SDK: the
client offers the subprotocol ``mcp``, and each text frame carries exactly one
JSON-RPC message. Both ends are here:

- :class:`WebSocketTransport` (and :func:`websocket_client`) is a client transport on
  the SDK's ``mcp.client.Transport`` protocol: it yields the ``(read, write)`` stream
  pair that ``mcp.ClientSession`` and ``mcp.Client`` take;
- :func:`websocket_endpoint` / :func:`websocket_app` serve any SDK server (a
  low-level ``mcp.server.Server`` or an ``MCPServer``) from an ASGI app, one server
  connection per websocket.

The client uses the ``websockets`` package, which runs on asyncio only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import pydantic
from mcp.client import Transport
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

from .._extras import require
from ._secrets import public_url

if TYPE_CHECKING:
    from mcp.server import MCPServer, Server
    from starlette.applications import Starlette
    from starlette.websockets import WebSocket

__all__ = [
    "SUBPROTOCOL",
    "WebSocketTransport",
    "websocket_app",
    "websocket_client",
    "websocket_endpoint",
]

SUBPROTOCOL = "mcp"
"""The websocket subprotocol of MCP."""

logger = logging.getLogger("agentkit_inngest.mcp")

_STREAM_GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)


def _encode(message: SessionMessage) -> str:
    """One JSON-RPC message as the text of one frame."""
    return message.message.model_dump_json(by_alias=True, exclude_unset=True)


def _decode(frame: str | bytes) -> SessionMessage | Exception:
    """One frame as a message.

    A frame that is not JSON-RPC comes back as the error, which the session reports without dropping
    the connection.
    """
    try:
        return SessionMessage(jsonrpc_message_adapter.validate_json(frame, by_name=False))
    except pydantic.ValidationError as err:
        return err


# -- the client ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def websocket_client(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    open_timeout: float | None = 10.0,
    max_size: int | None = 16 * 2**20,
) -> AsyncIterator[TransportStreams]:
    """Connect to an MCP websocket endpoint; yields ``(read_stream, write_stream)``.

    Args:
        url: ``ws://`` or ``wss://`` address of the endpoint.
        headers: extra HTTP headers for the opening handshake (``Authorization``...).
        open_timeout: seconds allowed for the TCP and websocket handshakes.
        max_size: the largest frame accepted, in bytes (``None``: no limit).

    Raises:
        ConnectionError: the server did not accept the ``mcp`` subprotocol.
        OSError, websockets.exceptions.InvalidHandshake, TimeoutError: as
            ``websockets.connect`` raises them.
    """
    require("websockets", extra="websocket", feature="MCP over a websocket")
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    async with connect(
        url,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        additional_headers=headers,
        open_timeout=open_timeout,
        max_size=max_size,
    ) as ws:
        if ws.subprotocol != SUBPROTOCOL:
            raise ConnectionError(
                f"the websocket server at {public_url(url)} did not accept the "
                f"{SUBPROTOCOL!r} subprotocol (it chose {ws.subprotocol!r})"
            )
        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)

        async def reader() -> None:
            # Closing read_in is the end of the stream: pending requests then fail
            # with "Connection closed" instead of waiting for ever.
            async with read_in:
                with contextlib.suppress(ConnectionClosed, *_STREAM_GONE):
                    async for frame in ws:
                        await read_in.send(_decode(frame))

        async def writer() -> None:
            async with write_out:
                try:
                    async for message in write_out:
                        await ws.send(_encode(message))
                except (ConnectionClosed, *_STREAM_GONE):
                    await read_in.aclose()

        async with read_out, write_in, anyio.create_task_group() as tasks:
            tasks.start_soon(reader)
            tasks.start_soon(writer)
            try:
                yield read_out, write_in
            finally:
                tasks.cancel_scope.cancel()


class WebSocketTransport:
    """A client transport for ``mcp.ClientSession`` or ``mcp.Client``.

    For example::

        async with mcp.Client(WebSocketTransport("ws://127.0.0.1:8000/ws")) as client:
            tools = await client.list_tools()

    Enter it once, and leave it in the task that entered it. The options are those
    of :func:`websocket_client`.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        open_timeout: float | None = 10.0,
        max_size: int | None = 16 * 2**20,
    ) -> None:
        self.url = url
        self._options: dict[str, Any] = {
            "headers": headers,
            "open_timeout": open_timeout,
            "max_size": max_size,
        }
        self._context: contextlib.AbstractAsyncContextManager[TransportStreams] | None = None

    def __repr__(self) -> str:
        return f"WebSocketTransport({public_url(self.url)!r})"  # no credentials

    async def __aenter__(self) -> TransportStreams:
        if self._context is not None:
            raise RuntimeError("a WebSocketTransport can be entered only once")
        self._context = websocket_client(self.url, **self._options)
        return await self._context.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if self._context is None:
            return None
        return await self._context.__aexit__(exc_type, exc, traceback)


if TYPE_CHECKING:  # the class keeps to the SDK's protocol
    _check: type[Transport] = WebSocketTransport


# -- the server ---------------------------------------------------------------------------


def _lowlevel(server: Server[Any] | MCPServer) -> Server[Any]:
    inner = getattr(server, "_lowlevel_server", None)  # MCPServer keeps its Server here
    return inner if inner is not None else server  # type: ignore[return-value]


def websocket_endpoint(server: Server[Any] | MCPServer) -> Callable[[WebSocket], Awaitable[None]]:
    """A Starlette websocket endpoint that serves ``server``, one connection per socket.

    Clients must offer the ``mcp`` subprotocol; others are refused (HTTP 403).
    """
    lowlevel = _lowlevel(server)

    async def endpoint(websocket: WebSocket) -> None:
        from starlette.websockets import WebSocketDisconnect

        if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.close(code=1002)
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)
        gone = (WebSocketDisconnect, RuntimeError, OSError, *_STREAM_GONE)

        async def receive() -> None:
            async with read_in:
                with contextlib.suppress(*gone):
                    while True:
                        message = await websocket.receive()
                        if message["type"] == "websocket.disconnect":
                            return
                        frame = message.get("text")
                        if frame is None:
                            frame = message.get("bytes") or b""
                        await read_in.send(_decode(frame))

        async def send() -> None:
            async with write_out:
                try:
                    async for message in write_out:
                        await websocket.send_text(_encode(message))
                except gone:
                    await read_in.aclose()  # the socket is gone: end the server's session

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(receive)
            tasks.start_soon(send)
            # run() returns once the read stream ends (the client left), closing write_in.
            await lowlevel.run(read_out, write_in, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()
        with contextlib.suppress(*gone):
            await websocket.close()

    return endpoint


def websocket_app(server: Server[Any] | MCPServer, *, path: str = "/ws") -> Starlette:
    """An ASGI app serving ``server`` over a websocket at ``path``."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    return Starlette(routes=[WebSocketRoute(path, websocket_endpoint(server))])
