"""Brokers carry stream events from the code that runs steps to the subscribers of
the app's server-sent-events endpoint.

:class:`MemoryBroker` works within one process. When the app runs as several
instances (Inngest may send a step to any of them), implement :class:`Broker` on a
shared pub/sub (Redis, NATS, PostgreSQL ``LISTEN``): two methods.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from .events import StreamEvent

__all__ = ["Broker", "MemoryBroker", "Subscription"]


class Subscription:
    """A live subscription to one channel; iterate it for events, close it when done."""

    def __init__(self, broker: MemoryBroker, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self._broker = broker

    def offer(self, event: StreamEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # a subscriber that cannot keep up is cut off rather than slowing the run
            self.overflowed = True
            self.close()

    def close(self) -> None:
        self._broker._unsubscribe(self)
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class Broker(ABC):
    """Publish events on channels; subscribe to a channel from now (or from a seq)."""

    @abstractmethod
    async def publish(self, channel: str, event: StreamEvent) -> None: ...

    @abstractmethod
    def subscribe(
        self, channel: str, *, after_seq: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        """Events published on ``channel`` from now on; with ``after_seq`` also the
        retained ones with a larger seq (to resume after a reconnect)."""


class MemoryBroker(Broker):
    """An in-process broker.

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
        self._seen: dict[str, set[int]] = {}
        self._touched: dict[str, float] = {}
        self._changed = asyncio.Condition()

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    async def wait_for_subscribers(self, channel: str, count: int = 1) -> None:
        """Return once ``channel`` has at least ``count`` subscribers."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._subscribers.get(channel, ())) >= count)

    def channels(self) -> list[str]:
        return sorted(set(self._recent) | {c for c, s in self._subscribers.items() if s})

    async def publish(self, channel: str, event: StreamEvent) -> None:
        seen = self._seen.setdefault(channel, set())
        key = hash((event.run_id, event.seq))
        if key in seen:  # a replayed or retried step published it already
            return
        seen.add(key)
        recent = self._recent.setdefault(channel, collections.deque(maxlen=self.retain))
        recent.append(event)
        if len(seen) > 4 * self.retain:
            self._seen[channel] = {hash((e.run_id, e.seq)) for e in recent}
        self._touch(channel)
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, after_seq: int | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        subscription = Subscription(self, channel, self.queue_size)
        if after_seq is not None:
            for event in self._recent.get(channel, ()):
                if event.seq > after_seq:
                    subscription.offer(event)
        self._subscribers[channel].add(subscription)
        self._touch(channel)
        async with self._changed:
            self._changed.notify_all()
        try:
            yield subscription
        finally:
            self._unsubscribe(subscription)

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]

    def _touch(self, channel: str) -> None:
        now = asyncio.get_running_loop().time()
        self._touched[channel] = now
        for name, when in list(self._touched.items()):
            if now - when > self.idle_seconds and not self._subscribers.get(name):
                self._touched.pop(name, None)
                self._recent.pop(name, None)
                self._seen.pop(name, None)
