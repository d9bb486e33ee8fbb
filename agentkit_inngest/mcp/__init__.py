"""MCP servers as agent tools (the websocket transport needs the ``websocket`` extra).

An :class:`MCPServer` is a tool source: give it to ``create_agent(mcp_servers=[...])``
and each tool of the server becomes a tool of the agent, named ``<server>-<tool>``.
Four transports: :meth:`MCPServer.stdio`, :meth:`MCPServer.sse`,
:meth:`MCPServer.streamable_http` and :meth:`MCPServer.websocket`; the websocket
helpers (:class:`WebSocketTransport`, :func:`websocket_app`...) serve or reach MCP
over a websocket. See docs/mcp.md.
"""

from __future__ import annotations

import typing

from .._extras import require as _require
from ..errors import MCPServerError
from ._listing import agent_tool_names
from ._results import shape_result
from ._server import MCPServer, ServerOptions
from ._transports import TransportFactory

if typing.TYPE_CHECKING:
    from ._websocket import (
        WebSocketTransport,
        websocket_app,
        websocket_client,
        websocket_endpoint,
    )

__all__ = [
    "MCPServer",
    "MCPServerError",
    "ServerOptions",
    "TransportFactory",
    "WebSocketTransport",
    "agent_tool_names",
    "shape_result",
    "websocket_app",
    "websocket_client",
    "websocket_endpoint",
]

_WEBSOCKET = frozenset(
    {"WebSocketTransport", "websocket_app", "websocket_client", "websocket_endpoint"}
)


def __getattr__(name: str) -> object:
    """The websocket helpers are imported on first use: they need ``websockets``."""
    if name in _WEBSOCKET:
        _require("websockets", extra="websocket", feature=name)
        from . import _websocket

        return getattr(_websocket, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
