"""HTTP clients kept per event loop, and closed with their loop.

An HTTP client's connections belong to the event loop that opened them, so a model
keeps one client per loop. Each is closed when its loop shuts down: ``asyncio.run``
(and ``asyncio.Runner``, pytest-asyncio, uvicorn...) ends a loop by closing the
asynchronous generators still open in it (``loop.shutdown_asyncgens()``) while the
loop still runs, so every client comes with a small generator that waits for that
moment and then closes the client on its own loop.

Without this, ``agent.run_sync()`` left a client behind per call, holding its
closed loop; when the garbage collector later reached the SDK's client inside
another loop, the SDK scheduled its close there and printed
``Task exception was never retrieved ... RuntimeError: Event loop is closed``.

A loop closed without shutting down its generators (``loop.close()`` alone) cannot
close its connections any more: its client is dropped, unclosed and silently, the
next time a client is made. The adapters give the SDKs plain ``httpx`` clients, which
never schedule work on whatever loop happens to run when they are collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LoopLocal"]

C = TypeVar("C")

logger = logging.getLogger("agentkit_inngest.models")


class _Slot(Generic[C]):
    """A loop's client and the generator that closes it."""

    def __init__(self, client: C) -> None:
        self.client = client
        self.abandoned = False  # its loop closed without shutting down its generators
        self.closer: AsyncGenerator[None, None] | None = None


class LoopLocal(Generic[C]):
    """One client per running event loop, closed when that loop shuts down.

    Args:
        factory: makes a client (called inside the loop that will use it).
        close: closes one (awaited on the client's own loop).
    """

    def __init__(self, factory: Callable[[], C], close: Callable[[C], Awaitable[object]]) -> None:
        self._factory = factory
        self._close = close
        self._slots: dict[asyncio.AbstractEventLoop, _Slot[C]] = {}

    def get(self) -> C:
        """The running loop's client (made on first use)."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            self._drop_closed_loops()
            slot = _Slot(self._factory())
            closer = self._closes(loop, slot)
            # asend() registers the generator with the running loop
            step = closer.asend(None)
            with contextlib.suppress(StopIteration):
                step.send(None)  # runs it to its ``yield``: nothing is awaited before
            slot.closer = closer
            self._slots[loop] = slot
        return slot.client

    def __len__(self) -> int:
        """How many loops have a client (for tests)."""
        return len(self._slots)

    async def _closes(
        self, loop: asyncio.AbstractEventLoop, slot: _Slot[C]
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._slots.pop(loop, None)
            if not slot.abandoned:
                try:
                    await self._close(slot.client)
                except Exception:
                    logger.debug("closing a model's HTTP client failed", exc_info=True)

    def _drop_closed_loops(self) -> None:
        for loop, slot in list(self._slots.items()):
            if not loop.is_closed():
                continue
            self._slots.pop(loop, None)
            slot.abandoned = True
            if slot.closer is not None:  # finish it here: its loop can no longer run it
                closing = slot.closer.aclose()
                try:
                    closing.send(None)
                except StopIteration:
                    pass
                else:  # pragma: no cover - an abandoned closer awaits nothing
                    closing.close()
