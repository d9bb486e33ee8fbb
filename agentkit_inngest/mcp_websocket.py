"""MCP over a websocket (kept for the old import path).

Import these from :mod:`agentkit_inngest.mcp` instead: ``from agentkit_inngest.mcp
import WebSocketTransport, websocket_app``. This module stays for one version so
that existing imports work.
"""

from .mcp._websocket import (
    SUBPROTOCOL,
    WebSocketTransport,
    websocket_app,
    websocket_client,
    websocket_endpoint,
)

__all__ = [
    "SUBPROTOCOL",
    "WebSocketTransport",
    "websocket_app",
    "websocket_client",
    "websocket_endpoint",
]
