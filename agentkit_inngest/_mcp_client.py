"""How :class:`~agentkit_inngest.mcp.MCPServer` reaches a server: the transports
and the connections a run holds.

The SDK's transports and sessions are anyio task groups, which must be left in the
task that entered them. Each connection therefore has an owner task that opens the
transport and the session, waits to be told to stop, and closes both; tool calls
come from any task (parallel tool calls run as separate tasks) and closing works
from any task too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import sys
from typing import IO, TYPE_CHECKING, Any

import anyio

from ._mcp_secrets import header_secrets, public_url, shown_command, stdio_secrets, url_secrets
from .errors import MCPServerError

if TYPE_CHECKING:
    import httpx2
    from mcp import ClientSession
    from mcp.client import Transport
    from mcp_types import CallToolResult

    from .mcp import MCPServer, TransportFactory
    from .tools import Tool

logger = logging.getLogger("agentkit_inngest.mcp")

MAX_PAGES = 100
CLOSE_TIMEOUT = 10.0
CONNECTION_CLOSED = -32000
METHOD_NOT_FOUND = -32601
PERMANENT_HTTP = frozenset({400, 401, 403, 404, 405})


# -- transports ------------------------------------------------------------------------


# The transports' settings. Their reprs and descriptions show no secret (see
# _mcp_secrets); ``secrets()`` lists the values to scrub from errors and logs.


@dataclasses.dataclass(frozen=True, repr=False)
class Stdio:
    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] | None
    cwd: str | None
    stderr: IO[str] | int | None

    def __call__(self) -> Transport:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=self.command,
            args=list(self.args),
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
        )
        return stdio_client(params, errlog=_errlog(self.stderr))

    def describe(self) -> str:
        return f"stdio: {shown_command(self.command, self.args)}"

    def secrets(self) -> list[str]:
        return stdio_secrets(self.args, self.env)

    def __repr__(self) -> str:
        return f"Stdio({self.describe()})"


def _errlog(stderr: IO[str] | int | None) -> Any:
    """Where the server's stderr goes: given, else ours when it is a real file."""
    if stderr is not None:
        return stderr
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream (pytest, notebooks)
        import subprocess

        return subprocess.DEVNULL
    return sys.stderr


@dataclasses.dataclass(frozen=True, repr=False)
class Http:
    kind: str  # "sse" | "streamable_http"
    url: str
    headers: tuple[tuple[str, str], ...]
    auth: httpx2.Auth | None = dataclasses.field(compare=False)
    timeout: float
    read_timeout: float

    def __call__(self) -> Transport:
        return _HttpTransport(self)

    def describe(self) -> str:
        label = "SSE" if self.kind == "sse" else "streamable HTTP"
        return f"{label}: {public_url(self.url)}"

    def secrets(self) -> list[str]:
        return url_secrets(self.url) + header_secrets(self.headers)

    def __repr__(self) -> str:
        return f"Http({self.describe()})"


class _HttpTransport:
    """One connection over SSE or streamable HTTP that remembers the HTTP errors it
    met, so that a refused connection can say "HTTP 401" rather than guess."""

    def __init__(self, spec: Http) -> None:
        self.spec = spec
        self.http_errors: list[int] = []
        self._context: contextlib.AbstractAsyncContextManager[Any] | None = None

    def _client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        import httpx2

        return httpx2.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=timeout or httpx2.Timeout(self.spec.timeout, read=self.spec.read_timeout),
            event_hooks={"response": [self._record]},
        )

    async def _record(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.http_errors.append(response.status_code)

    async def __aenter__(self) -> Any:
        spec = self.spec
        headers = dict(spec.headers) or None
        if spec.kind == "sse":
            from mcp.client.sse import sse_client

            self._context = sse_client(
                spec.url,
                headers=headers,
                timeout=spec.timeout,
                sse_read_timeout=spec.read_timeout,
                httpx_client_factory=self._client,
                auth=spec.auth,
            )
        else:
            self._context = _streamable_http(spec.url, self._client(headers, auth=spec.auth))
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        assert self._context is not None
        return await self._context.__aexit__(*exc)


@contextlib.asynccontextmanager
async def _streamable_http(url: str, http: httpx2.AsyncClient) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams


@dataclasses.dataclass(frozen=True, repr=False)
class WebSocket:
    url: str
    headers: tuple[tuple[str, str], ...]
    open_timeout: float | None

    def __call__(self) -> Transport:
        from .mcp_websocket import WebSocketTransport

        return WebSocketTransport(
            self.url, headers=dict(self.headers) or None, open_timeout=self.open_timeout
        )

    def describe(self) -> str:
        return f"websocket: {public_url(self.url)}"

    def secrets(self) -> list[str]:
        return url_secrets(self.url) + header_secrets(self.headers)

    def __repr__(self) -> str:
        return f"WebSocket({self.describe()})"


def describe(transport: TransportFactory) -> str:
    describe = getattr(transport, "describe", None)
    return str(describe()) if callable(describe) else "custom transport"


def transport_secrets(transport: TransportFactory) -> list[str]:
    """The values of a transport's settings to scrub (none for a custom factory)."""
    secrets = getattr(transport, "secrets", None)
    return list(secrets()) if callable(secrets) else []


# -- connections --------------------------------------------------------------------------


class RunEntry:
    """One server's tools and connection within one run (kept in ``network.cache``)."""

    def __init__(self, server: MCPServer) -> None:
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

    def __init__(self, server: MCPServer) -> None:
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
