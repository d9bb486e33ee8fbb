"""The connections a run holds to an :class:`~agentkit_inngest.mcp.MCPServer`.

The SDK's transports and sessions are anyio task groups, which must be left in the
task that entered them. Each connection therefore has an owner task that opens the
transport and the session, waits to be told to stop, and closes both; tool calls
come from any task (parallel tool calls run as separate tasks) and closing works
from any task too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..errors import MCPServerError
from ..tools import Tool
from ._transports import TransportFactory, describe

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.client import Transport
    from mcp_types import CallToolResult

__all__ = ["CONNECTION_CLOSED", "Connection", "RunEntry", "ServerSettings"]

logger = logging.getLogger("agentkit_inngest.mcp")

MAX_PAGES = 100
CLOSE_TIMEOUT = 10.0
CONNECTION_CLOSED = -32000
METHOD_NOT_FOUND = -32601
PERMANENT_HTTP = frozenset({400, 401, 403, 404, 405})


class ServerSettings(Protocol):
    """What a connection reads of its :class:`~agentkit_inngest.mcp.MCPServer`."""

    @property
    def name(self) -> str:
        """The server's name."""
        ...

    @property
    def transport(self) -> TransportFactory:
        """Makes a fresh transport for each connection."""
        ...

    @property
    def connect_timeout(self) -> float | None:
        """Seconds to connect and finish the handshake."""
        ...

    def scrub(self, text: str) -> str:
        """``text`` without the server's secrets."""
        ...

    def error(self, message: str, *, retriable: bool = True) -> MCPServerError:
        """An error about the server, its message scrubbed."""
        ...


# -- connections --------------------------------------------------------------------------


class RunEntry:
    """One server's tools and connection within one run (kept in ``network.cache``)."""

    def __init__(self, server: ServerSettings) -> None:
        self.server = server
        self.tools: list[Tool] | None = None
        self.listing_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._connection: Connection | None = None
        self._closed = False

    async def connect(self) -> Connection:
        """The run's open connection, opened (again) when there is none."""
        async with self._connect_lock:
            if self._closed:
                raise MCPServerError(
                    f"MCP server {self.server.name!r}: the run has ended and closed its connection",
                    server=self.server.name,
                    retriable=False,
                )
            current = self._connection
            if current is not None and current.alive:
                return current
            if current is not None:
                self._connection = None
                await current.close()
            connection = self._connection = Connection(self.server)
            try:
                await connection.open()
            except MCPServerError:
                self._connection = None
                raise
            return connection

    async def close(self) -> None:
        async with self._connect_lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


class Connection:
    """One client session, opened and closed by a task of its own.

    The SDK's transports and sessions are anyio task groups, which must be left in
    the task that entered them; the owner task does both, so tool calls may come
    from any task (parallel tool calls) and closing works from any task too.
    """

    def __init__(self, server: ServerSettings) -> None:
        self.server = server
        self.alive = False
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self._transport: Transport | None = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._own(), name=f"mcp-server-{self.server.name}")
        try:
            await self._ready.wait()
        finally:
            if not self.alive:
                self._stop.set()
        if not self.alive:
            await asyncio.wait({self._task})
            raise self._open_error()

    async def _own(self) -> None:
        from mcp import ClientSession

        try:
            with anyio.CancelScope() as scope:
                if self.server.connect_timeout is not None:
                    scope.deadline = anyio.current_time() + self.server.connect_timeout
                transport = self._transport = self.server.transport()
                async with (
                    transport as (read, write),
                    ClientSession(read, write) as session,
                ):  # fmt: skip
                    await session.initialize()
                    scope.deadline = math.inf
                    self._session = session
                    self.alive = True
                    self._ready.set()
                    await self._stop.wait()
        except Exception as err:  # noqa: BLE001 - reported by open() or logged below
            self._error = err
            if self.alive:
                ended = self.server.scrub(str(_leaf(err)))
                logger.info("connection to MCP server %r ended: %s", self.server.name, ended)
        finally:
            self.alive = False
            self._session = None
            self._ready.set()

    def _open_error(self) -> MCPServerError:
        name, where = self.server.name, describe(self.server.transport)
        if self._error is None:
            return self.server.error(
                f"MCP server {name!r} ({where}) did not finish connecting within "
                f"{self.server.connect_timeout:g} s"
            )
        leaf = _leaf(self._error)
        reason = _explain(leaf)
        permanent = isinstance(leaf, (FileNotFoundError, PermissionError, NotADirectoryError))
        statuses = list(getattr(self._transport, "http_errors", None) or [])
        refused = getattr(getattr(leaf, "response", None), "status_code", None)
        if isinstance(refused, int):  # a websocket handshake refused with an HTTP status
            statuses.append(refused)
        if statuses:
            status = statuses[-1]
            reason = f"the server answered HTTP {status}"
            if status in (401, 403):
                reason += " (check the headers or auth given to MCPServer)"
            permanent = status in PERMANENT_HTTP
        return self.server.error(
            f"could not connect to MCP server {name!r} ({where}): {reason}",
            retriable=not permanent,
        )

    async def list_tools(self, time_limit: float | None) -> list[dict[str, Any]]:
        from mcp.shared.exceptions import MCPError
        from mcp_types import PaginatedRequestParams

        session = self._session
        name = self.server.name
        if session is None:
            raise self.server.error(f"MCP server {name!r} closed the connection")
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(time_limit):
                for _ in range(MAX_PAGES):
                    params = PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    records.extend(_tool_record(tool) for tool in page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except TimeoutError as err:
            raise self.server.error(
                f"MCP server {name!r} did not list its tools within {time_limit:g} s"
            ) from err
        except MCPError as err:
            if err.code == METHOD_NOT_FOUND:
                said = self.server.scrub(str(err.message))
                logger.warning("MCP server %r offers no tools (%s)", name, said)
                return []
            if err.code == CONNECTION_CLOSED:
                self.alive = False
            # not chained: the server's error may repeat a secret it was given
            raise self.server.error(
                f"MCP server {name!r} failed to list its tools: {err.message} "
                f"(JSON-RPC error {err.code})",
                retriable=err.code == CONNECTION_CLOSED,
            ) from None
        return records

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], time_limit: float | None
    ) -> CallToolResult:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CallToolResult

        session = self._session
        if session is None:
            raise MCPError(CONNECTION_CLOSED, "Connection closed")
        with anyio.fail_after(time_limit):
            result = await session.call_tool(tool, arguments)
        if not isinstance(result, CallToolResult):
            raise RuntimeError(f"expected a tool result, got {type(result).__name__}")
        return result

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None:
            return
        _, pending = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        if pending:
            logger.warning("MCP server %r did not close in time; abandoning it", self.server.name)
            task.cancel()
            await asyncio.wait({task})


def _tool_record(tool: Any) -> dict[str, Any]:
    """What the listing step keeps of a tool: JSON, with the schema as sent."""
    record: dict[str, Any] = {"name": tool.name, "inputSchema": tool.input_schema}
    if tool.title:
        record["title"] = tool.title
    if tool.description:
        record["description"] = tool.description
    return record


def _leaf(err: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    inner = getattr(err, "exceptions", None)
    while isinstance(inner, tuple) and inner:
        err = inner[0]
        inner = getattr(err, "exceptions", None)
    return err


def _explain(err: BaseException) -> str:
    text = str(err)
    message = getattr(err, "message", None)  # MCPError keeps its text here
    if isinstance(message, str) and message:
        text = message
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
