"""Serve an ASGI app on 127.0.0.1 in a background thread (for tests and examples)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["RunningServer", "serve", "serve_async"]


class RunningServer:
    """A uvicorn server running in a daemon thread. Use :func:`serve`.

    Args:
        app: the ASGI app to serve.
        host: the address to listen on.
        port: the port (0: a free one, read back into :attr:`port` once started).
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="auto",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="agentkit-test-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.host = host
        self.port = port

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except (Exception, SystemExit) as err:  # noqa: BLE001 - reported to the caller
            self._error = err
            self._ready.set()

    async def _serve(self) -> None:
        task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.005)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        self._ready.set()
        await task

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> RunningServer:
        """Start serving and wait (up to ``timeout`` seconds) until the server listens."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the test server did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the test server failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait up to ``timeout`` seconds for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)


@contextlib.contextmanager
def serve(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
    """Run ``app`` on ``host`` (a free port by default) for the duration of the block."""
    server = RunningServer(app, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def serve_async(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningServer]:
    """Run ``app`` as a task of the current event loop for the duration of the block."""
    server = RunningServer(app, host=host, port=port)
    task = asyncio.create_task(server._server.serve())
    try:
        while not server._server.started:
            if task.done():
                await task
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.005)
        sockets = [s for srv in server._server.servers for s in srv.sockets]
        server.port = sockets[0].getsockname()[1]
        yield server
    finally:
        server._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
