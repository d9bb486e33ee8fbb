"""How an :class:`~agentkit_inngest.mcp.MCPServer` reaches its server: the transports.

Their reprs and descriptions show no secret (see ``_secrets``); ``secrets()``
lists the values to scrub from errors and logs. The ``mcp`` SDK is imported when
a transport is first opened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from ._secrets import header_secrets, public_url, shown_command, stdio_secrets, url_secrets

if TYPE_CHECKING:
    import httpx2
    from mcp.client import Transport

__all__ = ["Http", "Stdio", "TransportFactory", "WebSocket", "describe", "transport_secrets"]

TransportFactory: TypeAlias = "Callable[[], Transport]"
"""Makes a fresh ``mcp.client.Transport`` (an async context manager yielding the
``(read, write)`` streams) for each connection."""


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
    """One SSE or streamable HTTP connection that remembers its HTTP errors.

    One connection over SSE or streamable HTTP that remembers the HTTP errors it
    met, so that a refused connection can say "HTTP 401" rather than guess.
    """

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
        from ._websocket import WebSocketTransport

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
