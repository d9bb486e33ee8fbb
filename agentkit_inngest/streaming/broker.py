"""Brokers carry stream events from the code that runs steps to the subscribers of
the app's server-sent-events endpoint.

:class:`MemoryBroker` works within one process (one event loop). When the app runs
as several instances (Inngest may send a step to any of them), implement
:class:`Broker` on a shared pub/sub (Redis, NATS, PostgreSQL ``LISTEN``): two
methods.

A subscriber resumes after an event it has seen by naming that event's id
(``<run_id>:<seq>``, the SSE ``id``). A thread's channel carries the events of
every run of the thread, and each run numbers its events from the start, so a seq
alone cannot say where a reader stopped: the broker resumes after that event's
place in the channel instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from .events import StreamEvent

__all__ = ["Broker", "MemoryBroker", "Subscription", "parse_event_id"]


def parse_event_id(value: str) -> tuple[str, int]:
    """``"<run_id>:<seq>"`` -> ``(run_id, seq)``; :class:`ValueError` when malformed."""
    run_id, sep, seq = value.strip().rpartition(":")
    if not sep or not run_id or not seq.isdigit():
        raise ValueError(f"{value!r} is not an event id; expected '<run_id>:<seq>'")
    return run_id, int(seq)


class Subscription:
    """A live subscription to one channel; iterate it for events, close it when done."""

    def __init__(self, broker: MemoryBroker, channel: str, limit: int) -> None:
        self.channel = channel
        self.limit = limit
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        self.overflowed = False
        self.closed = False
        self._broker = broker

    def offer(self, event: StreamEvent) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.limit:
            # a subscriber that cannot keep up is cut off rather than slowing the run;
            # it may reconnect and resume from the retained events
            self.overflowed = True
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        """Stop: iteration ends once the events already queued are read."""
        if self.closed:
            return
        self.closed = True
        self._broker._unsubscribe(self)
        self.queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class Broker(ABC):
    """Publish events on channels; subscribe to a channel from now, or resume after
    an event id."""

    @abstractmethod
    async def publish(self, channel: str, event: StreamEvent) -> None:
        """Deliver ``event`` to the channel's subscribers. The same event (same
        ``run_id`` and ``seq``) published again, by a retried step, is dropped."""

    @abstractmethod
    def subscribe(
        self, channel: str, *, after: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        """Events published on ``channel`` from now on. With ``after`` (an event id,
        ``<run_id>:<seq>``) first the retained events published after that one;
        all retained events when it is no longer retained (or unknown)."""


class MemoryBroker(Broker):
    """An in-process broker (use it from the event loop that serves the app).

    Args:
        retain: events kept per channel so a reconnecting client can resume
            (``Last-Event-ID``); channels with no subscriber and no activity for
            ``idle_seconds`` are forgotten.
        queue_size: events buffered per subscriber before it is cut off.
    """

    def __init__(
        self, *, retain: int = 1000, queue_size: int = 10_000, idle_seconds: float = 600
    ) -> None:
        self.retain = retain
        self.queue_size = queue_size
        self.idle_seconds = idle_seconds
        self._subscribers: dict[str, set[Subscription]] = collections.defaultdict(set)
        self._recent: dict[str, collections.deque[StreamEvent]] = {}
        self._seen: dict[str, _Window] = {}
        self._touched: dict[str, float] = {}
        self._next_sweep = 0.0
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    def subscribers(self, channel: str) -> int:
        """How many subscribers ``channel`` has now."""
        return len(self._subscribers.get(channel, ()))

    async def wait_for_subscribers(self, channel: str, count: int = 1) -> None:
        """Return once ``channel`` has at least ``count`` subscribers."""
        await self.wait_until(lambda: self.subscribers(channel) >= count)

    async def wait_for_no_subscribers(self, channel: str | None = None) -> None:
        """Return once ``channel`` (or, without one, every channel) has no subscriber."""
        if channel is None:
            await self.wait_until(lambda: self.subscriber_count == 0)
        else:
            await self.wait_until(lambda: self.subscribers(channel) == 0)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; it is checked whenever a subscription
        starts or ends (tests and graceful shutdowns wait with it, not with sleeps)."""
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)

    def retained(self, channel: str) -> list[StreamEvent]:
        """The events ``channel`` keeps for resuming subscribers, oldest first."""
        return list(self._recent.get(channel, ()))

    def channels(self) -> list[str]:
        return sorted(set(self._recent) | {c for c, s in self._subscribers.items() if s})

    async def publish(self, channel: str, event: StreamEvent) -> None:
        seen = self._seen.setdefault(channel, _Window(4 * self.retain))
        if not seen.add((event.run_id, event.seq)):
            return  # a replayed or retried step published it already
        self._recent.setdefault(channel, collections.deque(maxlen=self.retain)).append(event)
        self._touch(channel)
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, after: str | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        subscription = Subscription(self, channel, self.queue_size)
        if after is not None:
            for event in self._after(channel, parse_event_id(after)):
                subscription.offer(event)
        self._subscribers[channel].add(subscription)
        self._touch(channel)
        self._notify()
        try:
            yield subscription
        finally:
            subscription.close()

    def _after(self, channel: str, anchor: tuple[str, int]) -> list[StreamEvent]:
        recent = list(self._recent.get(channel, ()))
        for index in range(len(recent) - 1, -1, -1):
            if (recent[index].run_id, recent[index].seq) == anchor:
                return recent[index + 1 :]
        return recent  # evicted long ago (or never here): everything retained is newer

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]
        self._notify()

    def _notify(self) -> None:
        for ready, future in self._waiters:
            if not future.done() and ready():
                future.set_result(None)

    def _touch(self, channel: str) -> None:
        now = asyncio.get_running_loop().time()
        self._touched[channel] = now
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.idle_seconds / 10
        for name, when in list(self._touched.items()):
            if now - when > self.idle_seconds and not self._subscribers.get(name):
                self._touched.pop(name, None)
                self._recent.pop(name, None)
                self._seen.pop(name, None)


class _Window:
    """The ids of the last ``size`` distinct events of a channel."""

    def __init__(self, size: int) -> None:
        self._order: collections.deque[tuple[str, int]] = collections.deque()
        self._ids: set[tuple[str, int]] = set()
        self._size = size

    def add(self, key: tuple[str, int]) -> bool:
        """Record ``key``; ``False`` when it is already there."""
        if key in self._ids:
            return False
        self._ids.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True
