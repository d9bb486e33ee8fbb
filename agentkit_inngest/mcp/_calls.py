"""Calling a server's tool: the run's connection, a timeout, errors the model reads."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import anyio

from .._steps._tracing import annotate_current_span
from ..errors import MCPServerError
from ..tools import ToolOutcome
from ._client import CONNECTION_CLOSED, RunEntry, ServerSettings
from ._results import shape_result

__all__ = ["CallSettings", "call_tool"]

logger = logging.getLogger("agentkit_inngest.mcp")


class CallSettings(ServerSettings, Protocol):
    """What a tool call reads of its :class:`~agentkit_inngest.mcp.MCPServer`."""

    @property
    def call_timeout(self) -> float | None:
        """Seconds for one tool call."""
        ...

    @property
    def max_result_chars(self) -> int | None:
        """Longer results are cut to this many characters."""
        ...


async def call_tool(
    server: CallSettings, entry: RunEntry, tool: str, arguments: dict[str, Any]
) -> ToolOutcome:
    """Call ``tool`` on the run's connection.

    Every failure becomes a tool error the model reads (its text scrubbed of the server's secrets).
    """
    annotate_current_span(
        {
            "mcp.method.name": "tools/call",
            "agentkit.mcp.server": server.name,
            "agentkit.mcp.tool": tool,
        }
    )
    try:
        connection = await entry.connect()
    except MCPServerError as err:
        return _failure(server, tool, "mcp_server_unavailable", f"{err}. It did not run.")
    from mcp.shared.exceptions import MCPError

    try:
        result = await connection.call_tool(tool, arguments, server.call_timeout)
    except TimeoutError:
        return _failure(
            server,
            tool,
            "mcp_timeout",
            f"MCP server {server.name!r} did not answer the call of {tool!r} within "
            f"{server.call_timeout:g} s; the tool may still be running on the server",
        )
    except (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError) as err:
        code = err.code if isinstance(err, MCPError) else CONNECTION_CLOSED
        if code == CONNECTION_CLOSED:
            connection.alive = False
            return _failure(
                server,
                tool,
                "mcp_connection_closed",
                f"MCP server {server.name!r} closed the connection during the call of "
                f"{tool!r} (did it stop or crash?); whether the tool ran is unknown",
            )
        message = err.message if isinstance(err, MCPError) else str(err)
        return _failure(
            server,
            tool,
            "mcp_error",
            f"MCP server {server.name!r} refused the call of {tool!r}: {message} "
            f"(JSON-RPC error {code})",
        )
    except RuntimeError as err:  # the SDK's own checks of a result (output schema...)
        return _failure(
            server,
            tool,
            "mcp_invalid_result",
            f"MCP server {server.name!r} answered the call of {tool!r} with a result "
            f"that does not fit the tool's declaration: {err}",
        )
    except Exception as err:  # noqa: BLE001 - the model is told; the text is scrubbed
        return _failure(
            server,
            tool,
            "mcp_error",
            f"calling {tool!r} on MCP server {server.name!r} failed: {type(err).__name__}: "
            f"{err}; whether the tool ran is unknown",
        )
    outcome = shape_result(result, server=server.name, tool=tool, max_chars=server.max_result_chars)
    if outcome.is_error and isinstance(outcome.content, str):
        # an error the server wrote may repeat a credential it was started with
        outcome = ToolOutcome(server.scrub(outcome.content), is_error=True)
    return outcome


def _failure(server: CallSettings, tool: str, kind: str, message: str) -> ToolOutcome:
    message = server.scrub(message)
    logger.warning("%s", message)
    return ToolOutcome(
        {"error": kind, "server": server.name, "tool": tool, "message": message},
        is_error=True,
    )
