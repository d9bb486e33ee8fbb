"""MCP servers as agent tools.

An :class:`MCPServer` is a tool source: give it to ``create_agent(mcp_servers=[...])``
and each tool of the server becomes a tool of the agent, named
``<server>-<tool>``, with the server's input schema sent to the model as it is::

    calc = MCPServer.stdio("calc", command="python", args=["calc_server.py"])
    agent = create_agent(name="Maths", model=model, mcp_servers=[calc])

Four transports: :meth:`MCPServer.stdio`, :meth:`MCPServer.sse`,
:meth:`MCPServer.streamable_http` (through the official ``mcp`` SDK) and
:meth:`MCPServer.websocket` (see :func:`~agentkit_inngest.mcp.websocket_app`).

Durability. Listing a server's tools is one step per run, ``mcp/<server>/tools``;
each tool call is the agent's usual tool step, ``<Agent>#<n>/tool/<server>-<tool>``.
A replay reads both from their memos: it neither reconnects nor calls a tool twice.
The :class:`MCPServer` object holds settings only; connections and tool lists live
in the run (``network.cache``), so no process-wide cache can make a replay differ.

Connections. A run opens one connection per server when it first needs one and
reuses it for the rest of the run (under Inngest, for the rest of the request: the
next request only reconnects if it runs an MCP step). Every connection is closed
when the run (or request) ends. A server that cannot be reached, is too slow or
drops the connection gives an error naming the server; a failed connection is
opened afresh by the next call.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, TypedDict

from typing_extensions import Unpack

from .._context import NetworkRun, ToolContext
from .._steps import SpanSpec
from ..errors import ConfigurationError, MCPServerError
from ..tools import Tool, ToolOutcome
from ._calls import call_tool
from ._client import RunEntry
from ._listing import build_tools
from ._secrets import Secrets, install_log_scrubbing
from ._transports import Http, Stdio, TransportFactory, WebSocket, describe, transport_secrets

if TYPE_CHECKING:
    import httpx2

__all__ = ["MCPServer", "ServerOptions"]


class ServerOptions(TypedDict, total=False):
    """The :class:`MCPServer` settings its constructors (:meth:`MCPServer.stdio`...) pass on.

    Each means what the :class:`MCPServer` argument of the same name means.
    """

    include: Sequence[str] | None
    exclude: Sequence[str]
    connect_timeout: float | None
    list_timeout: float | None
    call_timeout: float | None
    max_result_chars: int | None
    optional: bool
    secrets: Sequence[str]


logger = logging.getLogger("agentkit_inngest.mcp")

_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# -- the tool source ----------------------------------------------------------------------


class MCPServer:
    """An MCP server whose tools an agent may call.

    Build one with :meth:`stdio`, :meth:`sse`, :meth:`streamable_http` or
    :meth:`websocket`, or pass any ``transport`` factory.

    Args:
        name: names the server in tool names (``<name>-<tool>``), step IDs and
            errors: 1-40 letters, digits, ``_`` or ``-``; unique among an agent's
            servers.
        transport: makes a fresh ``mcp.client.Transport`` for each connection.
        include: expose only tools whose names match one of these (exact names or
            ``fnmatch`` patterns such as ``"get_*"``); default: all.
        exclude: hide tools whose names match one of these.
        connect_timeout: seconds to start the transport and finish the MCP handshake.
        list_timeout: seconds for listing the tools (all pages).
        call_timeout: seconds for one tool call; the model gets a tool error after it.
        max_result_chars: longer results are cut to this many characters, with a
            note saying so (``None``: no limit; mind Inngest's 4 MB per step).
        optional: when the server cannot be listed, the agent runs without its tools
            (a warning is logged) instead of failing.
        secrets: more strings to keep out of errors and logs (see below).

    ``None`` for a timeout means no limit.

    Credentials in the settings never show: errors, reprs and logs (this package's, the
    ``mcp`` SDK's, ``httpx``'s, ``websockets``'...) carry ``[redacted]`` instead of a
    stdio server's arguments and environment values, an HTTP server's header values,
    URL user and password, query and key-like path segments. Values under 4
    characters cannot be redacted; pass what else is secret (a value a custom
    transport or an ``auth`` uses) in ``secrets``. See docs/mcp.md.
    """

    def __init__(
        self,
        *,
        name: str,
        transport: TransportFactory,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        connect_timeout: float | None = 10.0,
        list_timeout: float | None = 30.0,
        call_timeout: float | None = 60.0,
        max_result_chars: int | None = 20_000,
        optional: bool = False,
        secrets: Sequence[str] = (),
    ) -> None:
        if not isinstance(name, str) or not _SERVER_NAME.match(name):
            raise ConfigurationError(
                f"MCP server name {name!r} must be 1-40 letters, digits, '_' or '-' "
                "(it prefixes tool names such as '<name>-<tool>')"
            )
        if not callable(transport):
            raise ConfigurationError(
                f"MCP server {name!r}: transport must be a callable returning an "
                "mcp.client.Transport (or use MCPServer.stdio/sse/streamable_http/websocket)"
            )
        for label, value in (
            ("connect_timeout", connect_timeout),
            ("list_timeout", list_timeout),
            ("call_timeout", call_timeout),
            ("max_result_chars", max_result_chars),
        ):
            if value is not None and not value > 0:
                raise ConfigurationError(
                    f"MCP server {name!r}: {label} must be positive or None, got {value!r}"
                )
        for label, patterns in (("include", include), ("exclude", exclude)):
            if isinstance(patterns, str):
                raise ConfigurationError(
                    f"MCP server {name!r}: {label} takes a list of tool names, "
                    f"not the string {patterns!r}"
                )
        self.name = name
        self.transport = transport
        self.include = tuple(include) if include is not None else None
        self.exclude = tuple(exclude)
        self.connect_timeout = connect_timeout
        self.list_timeout = list_timeout
        self.call_timeout = call_timeout
        self.max_result_chars = max_result_chars
        self.optional = optional
        if isinstance(secrets, str) or not all(isinstance(v, str) for v in secrets):
            raise ConfigurationError(
                f"MCP server {name!r}: secrets takes a list of strings, not a "
                f"{type(secrets).__name__}"
            )
        self._secrets = Secrets([*transport_secrets(transport), *secrets])
        install_log_scrubbing(self._secrets)

    def scrub(self, text: str) -> str:
        """``text`` without the secrets of this server's settings."""
        return self._secrets.scrub(text)

    def error(self, message: str, *, retriable: bool = True) -> MCPServerError:
        """An :class:`MCPServerError` about this server, its message scrubbed."""
        return MCPServerError(self.scrub(message), server=self.name, retriable=retriable)

    def __repr__(self) -> str:
        return f"MCPServer(name={self.name!r}, {describe(self.transport)})"

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def stdio(
        cls,
        name: str,
        *,
        command: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stderr: IO[str] | int | None = None,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server started as a subprocess, speaking MCP over its stdin/stdout.

        Args:
            name: the server's name (it prefixes its tools' names and step IDs).
            command: the executable (looked up on ``PATH``).
            args: its arguments.
            env: variables for the server. The SDK starts it with a minimal
                environment (``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``,
                ``USER``) plus these; pass API keys and the like explicitly.
            cwd: its working directory.
            stderr: where its stderr goes (a file or ``subprocess.DEVNULL``);
                default: this process's stderr.
            options: the :class:`MCPServer` options (``include``, timeouts...).
        """
        if isinstance(args, str):
            raise ConfigurationError(
                f"MCP server {name!r}: args takes a list of strings, not one string"
            )
        transport = Stdio(
            command=command,
            args=tuple(args),
            env=tuple(sorted(env.items())) if env is not None else None,
            cwd=cwd,
            stderr=stderr,
        )
        return cls(name=name, transport=transport, **options)

    @classmethod
    def sse(
        cls,
        name: str,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        http_timeout: float = 30.0,
        read_timeout: float = 300.0,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server speaking the (older) HTTP+SSE transport; ``url`` is its SSE endpoint.

        Args:
            name: the server's name (it prefixes its tools' names and step IDs).
            url: the server's SSE endpoint.
            headers: sent with every request (``{"Authorization": "Bearer ..."}``).
            auth: an ``httpx2.Auth`` (the SDK's OAuth providers in ``mcp.client.auth``).
            http_timeout: seconds for each HTTP operation.
            read_timeout: seconds the event stream may stay silent.
            options: the :class:`MCPServer` options.
        """
        transport = Http("sse", url, _headers(headers), auth, http_timeout, read_timeout)
        return cls(name=name, transport=transport, **options)

    @classmethod
    def streamable_http(
        cls,
        name: str,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        http_timeout: float = 30.0,
        read_timeout: float = 300.0,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server speaking streamable HTTP; ``url`` is its MCP endpoint (``.../mcp``).

        The options are those of :meth:`sse`.
        """
        transport = Http(
            "streamable_http", url, _headers(headers), auth, http_timeout, read_timeout
        )
        return cls(name=name, transport=transport, **options)

    @classmethod
    def websocket(
        cls,
        name: str,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server behind a websocket (``ws://`` or ``wss://``, subprotocol ``mcp``).

        Args:
            name: the server's name (it prefixes its tools' names and step IDs).
            url: the websocket's address.
            headers: sent with the opening handshake.
            options: the :class:`MCPServer` options.
        """
        open_timeout = options.get("connect_timeout", 10.0)
        transport = WebSocket(url, _headers(headers), open_timeout)
        return cls(name=name, transport=transport, **options)

    # -- the tool source ------------------------------------------------------------------

    @property
    def listing_step(self) -> str:
        """The ID of the step that lists this server's tools."""
        return f"mcp/{self.name}/tools"

    async def list_tools(self, network: NetworkRun) -> list[Tool]:
        """The server's tools (after ``include``/``exclude``) as agent tools.

        Listed once per run, in the step :attr:`listing_step`.
        """
        entry = self._entry(network)
        async with entry.listing_lock:
            if entry.tools is None:
                with network.runner.tracing.step_as(lambda: SpanSpec.mcp_list(self.name)):
                    listing = await network.runner.run(
                        self.listing_step, lambda: self._fetch_listing(entry)
                    )
                entry.tools = self._build_tools(listing)
        return list(entry.tools)

    def _settings(self) -> tuple[Any, ...]:
        return (
            self.transport,
            self.include,
            self.exclude,
            self.connect_timeout,
            self.list_timeout,
            self.call_timeout,
            self.max_result_chars,
            self.optional,
        )

    def _entry(self, network: NetworkRun) -> RunEntry:
        key = f"mcp:{self.name}"
        entry = network.cache.get(key)
        if entry is None:
            entry = RunEntry(self)
            network.cache[key] = entry
            network.add_cleanup(entry.close)
        elif entry.server is not self and entry.server._settings() != self._settings():
            raise ConfigurationError(
                f"two MCP servers named {self.name!r} with different settings are used in "
                "one run; give each server its own name"
            )
        assert isinstance(entry, RunEntry)
        return entry

    async def _fetch_listing(self, entry: RunEntry) -> dict[str, Any]:
        try:
            try:
                connection = await entry.connect()
                tools = await connection.list_tools(self.list_timeout)
            except MCPServerError:
                raise
            except Exception as err:  # noqa: BLE001 - reported, scrubbed, as a server error
                # whatever the SDK raised may carry a secret (in its text or its chain)
                raise self.error(
                    f"MCP server {self.name!r} failed to list its tools: "
                    f"{type(err).__name__}: {err}"
                ) from None
        except MCPServerError as err:
            if not self.optional:
                raise
            logger.warning("%s; the agent goes on without its tools", err)
            return {"tools": [], "error": str(err)}
        return {"tools": tools, "error": None}

    def _build_tools(self, listing: Mapping[str, Any]) -> list[Tool]:
        return build_tools(
            self, listing, lambda original: functools.partial(self._handle, original)
        )

    # -- calling --------------------------------------------------------------------------

    async def _handle(self, tool: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        """The handler of each of the server's tools.

        Each is a coroutine function, so the call stays on the event loop.
        """
        return await call_tool(self, self._entry(ctx.network), tool, arguments)


def _headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((headers or {}).items()))
