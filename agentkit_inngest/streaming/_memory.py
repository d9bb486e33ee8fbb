"""The bookkeeping of :class:`~agentkit_inngest.streaming.MemoryBroker`.

What it keeps per channel, and each reader of a channel.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Callable

from ._events import Gap, StreamEvent

__all__ = ["ID_COST", "NOTHING_KEPT", "Channel", "Kept", "Subscription"]

FINAL = frozenset({"run.completed", "run.failed"})
CHANNEL_COST = 1024  # bytes counted for a channel's own bookkeeping
ID_COST = 96  # bytes counted per remembered event id (beside the run id's length)
ENDED_RUNS = 8  # ended runs a channel remembers


class Subscription:
    """A live subscription to one channel; iterate it for events, close it when done.

    ``gap`` is set when the subscription resumed after an event and the broker no
    longer held every event published since (see
    :class:`~agentkit_inngest.streaming.Gap`).
    """

    def __init__(
        self,
        unsubscribe: Callable[[Subscription], None],
        channel: str,
        limit: int,
        limit_bytes: int,
    ) -> None:
        self.channel = channel
        self.limit = limit
        self.limit_bytes = limit_bytes
        # a deque and a future made only while the reader waits: lighter than an
        # asyncio.Queue (three deques), for apps holding thousands of readers
        self._queue: collections.deque[tuple[StreamEvent, int] | None] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self.queued_bytes = 0
        self.overflowed = False
        self.closed = False
        self.gap: Gap | None = None
        self._unsubscribe = unsubscribe

    @property
    def pending(self) -> int:
        """Events queued and not yet read."""
        return sum(1 for item in self._queue if item is not None)

    def offer(self, event: StreamEvent, size: int = 0) -> None:
        """Queue ``event`` (``size`` bytes as JSON) for the reader."""
        if self.closed:
            return
        full = len(self._queue) >= self.limit
        if full or (self.queued_bytes and self.queued_bytes + size > self.limit_bytes):
            # a subscriber that cannot keep up is cut off rather than slowing the run
            # or holding memory; it may reconnect and resume from the retained events
            self.overflowed = True
            self.close()
            return
        self.queued_bytes += size
        self._put((event, size))

    def _put(self, item: tuple[StreamEvent, int] | None) -> None:
        self._queue.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def close(self) -> None:
        """Stop: iteration ends once the events already queued are read."""
        if self.closed:
            return
        self.closed = True
        self._unsubscribe(self)
        self._put(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamEvent:
        while not self._queue:
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        item = self._queue.popleft()
        if item is None:
            self._queue.appendleft(None)  # the end, for every later read too
            raise StopAsyncIteration
        event, size = item
        self.queued_bytes -= size
        return event


@dataclasses.dataclass
class Kept:
    __slots__ = ("event", "id", "size")

    id: str
    event: StreamEvent | None  # None: published, but too large to keep
    size: int


class Channel:
    __slots__ = (
        "bytes",
        "ended",
        "kept",
        "last_id",
        "name",
        "published_at",
        "runs",
        "seen",
        "subscribers",
        "window",
    )

    def __init__(self, name: str, window: int) -> None:
        self.name = name
        self.kept: collections.deque[Kept] = NOTHING_KEPT  # made on the first event
        self.bytes = 0
        self.seen: dict[tuple[str, int], None] = {}  # in order of arrival
        self.window = window
        self.runs: set[str] = set()
        self.ended: dict[str, None] = {}  # the last runs that ended, oldest first
        self.subscribers: set[Subscription] = set()
        self.last_id: str | None = None
        self.published_at = 0.0

    def cost(self) -> int:
        return CHANNEL_COST + 2 * len(self.name)

    def first_sighting(self, key: tuple[str, int]) -> tuple[bool, int]:
        """Record an event id; ``(new?, change in bytes)``."""
        if key in self.seen:
            return False, 0
        self.seen[key] = None
        delta = ID_COST + len(key[0])
        if len(self.seen) > self.window:
            old = next(iter(self.seen))
            del self.seen[old]
            delta -= ID_COST + len(old[0])
        return True, delta

    def track(self, event: StreamEvent) -> None:
        """Follow which runs use the channel.

        A run is in use from its first event to ``run.completed``/``run.failed``; an event that
        comes after that (a request sent again) does not make it in use again.
        """
        run = event.run_id
        if event.type in FINAL:
            self.runs.discard(run)
            self.ended.pop(run, None)
            self.ended[run] = None
            while len(self.ended) > ENDED_RUNS:
                del self.ended[next(iter(self.ended))]
        elif run not in self.ended:
            self.runs.add(run)

    def idle(self) -> bool:
        return not self.runs and not self.subscribers


NOTHING_KEPT: collections.deque[Kept] = collections.deque(maxlen=0)
"""What a channel keeps until its first event (a deque costs ~600 bytes)."""
