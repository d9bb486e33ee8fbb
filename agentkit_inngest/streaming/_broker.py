"""Brokers carry stream events from the code that runs steps to SSE subscribers.

:class:`MemoryBroker` works within one process (one event loop). When the app runs
as several instances (Inngest may send a step to any of them), implement
:class:`Broker` on a shared pub/sub (Redis, NATS, PostgreSQL ``LISTEN``): two
methods.

A subscriber resumes after an event it has seen by naming that event's id
(``<run_id>:<seq>``, the SSE ``id``). A thread's channel carries the events of
every run of the thread, and each run numbers its events from the start, so a seq
alone cannot say where a reader stopped: the broker resumes after that event's
place in the channel instead. When it no longer holds every event after that one
(the bounds below dropped some), the subscription says so with a :class:`Gap`.

Bounds of :class:`MemoryBroker`: events kept per channel (count and bytes), bytes
kept in all (the oldest events go first, from channels no run is using first),
bytes queued per subscriber, channel names of at most 256 characters. A channel
whose runs have ended (``run.completed``/``run.failed``) and that nobody reads is
kept ``linger`` seconds for reconnecting readers, then freed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from ._events import BrokerUnavailable, Gap, StreamEvent, event_body
from ._memory import ID_COST, NOTHING_KEPT, Channel, Kept, Subscription

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "Broker",
    "BrokerUnavailable",
    "Gap",
    "MemoryBroker",
    "Subscription",
    "check_channel",
    "parse_event_id",
]

MAX_CHANNEL_LENGTH = 256
"""The longest channel name (a thread id, or ``run:<run id>``) a broker takes."""

_TOMBSTONES = 1000  # freed channels whose last event id (and ended runs) are remembered


def parse_event_id(value: str) -> tuple[str, int]:
    """``"<run_id>:<seq>"`` -> ``(run_id, seq)``; :class:`ValueError` when malformed."""
    run_id, sep, seq = value.strip().rpartition(":")
    if not sep or not run_id or not seq.isdigit():
        raise ValueError(f"{value!r} is not an event id; expected '<run_id>:<seq>'")
    return run_id, int(seq)


def check_channel(channel: object) -> str:
    """``channel`` when it is a usable channel name; :class:`ValueError` saying why not."""
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"a channel name must be a non-empty string, got {type(channel).__name__}")
    if len(channel) > MAX_CHANNEL_LENGTH:
        raise ValueError(
            f"a channel name has at most {MAX_CHANNEL_LENGTH} characters; this one has "
            f"{len(channel):,} (thread ids are limited to 256 characters too)"
        )
    return channel


class Broker(ABC):
    """Publish events on channels; subscribe to a channel from now, or after an event id."""

    async def check(self) -> None:
        """Raise :class:`BrokerUnavailable` when subscribing cannot work now (in-process: never).

        The SSE endpoint asks before it answers ``200``.
        """
        return

    @abstractmethod
    async def publish(self, channel: str, event: StreamEvent) -> None:
        """Deliver ``event`` to subscribers, dropping a repeat (same ``run_id`` and ``seq``)."""

    @abstractmethod
    def subscribe(
        self, channel: str, *, after: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        """Events published on ``channel`` from now on.

        With ``after`` (an event id, ``<run_id>:<seq>``) first the retained events published after
        that one; all retained events when it is no longer retained (or unknown). A broker that can
        tell gives the iterator a ``gap`` attribute (a :class:`Gap`) when events after ``after`` are
        gone; the SSE endpoint reports it.
        """


class MemoryBroker(Broker):
    """An in-process broker (use it from the event loop that serves the app).

    Args:
        retain: events a channel keeps so a reconnecting client can resume
            (``Last-Event-ID``).
        channel_bytes: bytes of events (as JSON) a channel keeps (default 4 MiB, at
            most ``max_bytes``); a larger event is delivered but not kept.
        max_bytes: bytes all channels keep together; past it the oldest events go,
            those of channels no run is using first.
        queue_size, queue_bytes: events and bytes buffered per subscriber before it
            is cut off (it may reconnect and resume).
        linger: seconds a channel whose runs have ended and that nobody reads is
            kept for a reader that reconnects; then it is freed (``0``: at once).
        idle_seconds: a channel nobody reads and nothing was published on for this
            long is freed even if a run never said it ended (a crashed app).
    """

    def __init__(
        self,
        *,
        retain: int = 1000,
        channel_bytes: int | None = None,
        max_bytes: int = 32 * 2**20,
        queue_size: int = 10_000,
        queue_bytes: int = 16 * 2**20,
        linger: float = 30.0,
        idle_seconds: float = 600,
    ) -> None:
        if channel_bytes is None:
            channel_bytes = min(4 * 2**20, max_bytes)
        for label, value in (
            ("retain", retain),
            ("channel_bytes", channel_bytes),
            ("max_bytes", max_bytes),
            ("queue_size", queue_size),
            ("queue_bytes", queue_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MemoryBroker {label} must be a whole number of at least 1")
        if not linger >= 0 or not idle_seconds > 0:
            raise ValueError("MemoryBroker linger must be >= 0 and idle_seconds > 0")
        if channel_bytes > max_bytes:
            raise ValueError("MemoryBroker channel_bytes cannot exceed max_bytes")
        self.retain = retain
        self.channel_bytes = channel_bytes
        self.max_bytes = max_bytes
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.linger = linger
        self.idle_seconds = idle_seconds
        self._channels: collections.OrderedDict[str, Channel] = collections.OrderedDict()
        self._ended: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._tombstones: collections.OrderedDict[str, tuple[str, tuple[str, ...]]] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        self._peak = 0  # the most channels held at once since the dicts were last made
        self._next_sweep = 0.0
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- looking in -----------------------------------------------------------------------

    @property
    def retained_bytes(self) -> int:
        """What the broker counts as held: events (as JSON), ids and channels."""
        return self._bytes

    @property
    def subscriber_count(self) -> int:
        return sum(len(c.subscribers) for c in self._channels.values())

    def subscribers(self, channel: str) -> int:
        """How many subscribers ``channel`` has now."""
        found = self._channels.get(channel)
        return len(found.subscribers) if found is not None else 0

    def channels(self) -> list[str]:
        """The channels the broker holds anything for."""
        return sorted(self._channels)

    def retained(self, channel: str) -> list[StreamEvent]:
        """The events ``channel`` keeps for resuming subscribers, oldest first."""
        found = self._channels.get(channel)
        return [k.event for k in found.kept if k.event is not None] if found is not None else []

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
        """Return once ``condition()`` holds.

        It is checked whenever a subscription starts or ends and whenever a channel is freed (tests
        and graceful shutdowns wait with it, not with sleeps).
        """
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, channel: str, event: StreamEvent) -> None:
        check_channel(channel)
        size = len(event_body(channel, event))
        now = asyncio.get_running_loop().time()
        found = self._channels.get(channel)
        if found is None:
            last, _ = self._tombstones.get(channel, ("", ()))
            if last == event.id:
                return  # the last event of a freed channel, published again
            found = self._open(channel)
        new, delta = found.first_sighting((event.run_id, event.seq))
        if not new:
            return  # a replayed or retried step published it already
        self._bytes += delta
        found.track(event)
        self._keep(found, event, size)
        found.last_id, found.published_at = event.id, now
        self._channels.move_to_end(channel)
        for subscription in list(found.subscribers):
            subscription.offer(event, size)
        self._settle(found, now)
        self._bound()
        self._sweep(now)

    def _open(self, channel: str) -> Channel:
        made = self._channels[channel] = Channel(channel, window=2 * self.retain)
        self._peak = max(self._peak, len(self._channels))
        self._bytes += made.cost()
        # kept until the channel is freed again with a newer last event
        _, ended = self._tombstones.get(channel, ("", ()))
        made.ended.update(dict.fromkeys(ended))
        return made

    def _keep(self, channel: Channel, event: StreamEvent, size: int) -> None:
        kept = Kept(event.id, event if size <= self.channel_bytes else None, size)
        if kept.event is None:
            kept.size = 0  # a marker that an event was here: resuming before it is a gap
        if channel.kept is NOTHING_KEPT:
            channel.kept = collections.deque()
        channel.kept.append(kept)
        channel.bytes += kept.size
        self._bytes += kept.size
        while len(channel.kept) > self.retain or channel.bytes > self.channel_bytes:
            self._drop_oldest(channel)

    def _drop_oldest(self, channel: Channel) -> None:
        gone = channel.kept.popleft()
        channel.bytes -= gone.size
        self._bytes -= gone.size

    def _bound(self) -> None:
        """Give up what is held past ``max_bytes``.

        Ended channels, oldest first; then the oldest events of the channels published on least
        recently.
        """
        while self._bytes > self.max_bytes and self._ended:
            self._free(next(iter(self._ended)))
        for channel in list(self._channels.values()):
            if self._bytes <= self.max_bytes:
                return
            while channel.kept and self._bytes > self.max_bytes:
                self._drop_oldest(channel)

    # -- subscribing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, after: str | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        check_channel(channel)
        anchor = parse_event_id(after) if after is not None else None
        subscription = Subscription(self._unsubscribe, channel, self.queue_size, self.queue_bytes)
        found = self._channels.get(channel)
        if anchor is not None:
            events, subscription.gap = self._after(channel, found, after or "")
            for event, size in events:
                subscription.offer(event, size)
        if found is None:
            found = self._open(channel)
        found.subscribers.add(subscription)
        self._ended.pop(channel, None)
        self._notify()
        try:
            yield subscription
        finally:
            subscription.close()

    def _after(
        self, name: str, channel: Channel | None, after: str
    ) -> tuple[list[tuple[StreamEvent, int]], Gap | None]:
        if channel is None:
            if self._tombstones.get(name, ("", ()))[0] == after:
                return [], None  # the channel was freed after this very event
            return [], Gap(after=after, resumed_from=None)
        kept = list(channel.kept)
        for index in range(len(kept) - 1, -1, -1):
            if kept[index].id == after:
                tail = kept[index + 1 :]
                missed = sum(1 for k in tail if k.event is None)  # too large to keep
                events = [(k.event, k.size) for k in tail if k.event is not None]
                first = events[0][0].id if events else None
                return events, Gap(after, first, missed) if missed else None
        events = [(k.event, k.size) for k in kept if k.event is not None]
        return events, Gap(after=after, resumed_from=events[0][0].id if events else None)

    def _unsubscribe(self, subscription: Subscription) -> None:
        found = self._channels.get(subscription.channel)
        if found is not None:
            found.subscribers.discard(subscription)
            with contextlib.suppress(RuntimeError):  # no running loop: a closing app
                self._settle(found, asyncio.get_running_loop().time())
        self._notify()

    def _notify(self) -> None:
        for ready, future in self._waiters:
            if not future.done() and ready():
                future.set_result(None)

    # -- freeing --------------------------------------------------------------------------

    def _settle(self, channel: Channel, now: float) -> None:
        """Free a channel no run uses and nobody reads, now or after ``linger`` seconds.

        Now if it holds nothing (or ``linger`` is 0).
        """
        if not channel.idle():
            self._ended.pop(channel.name, None)
            return
        if not channel.kept or self.linger == 0:
            self._free(channel.name)
            return
        self._ended[channel.name] = now + self.linger
        self._ended.move_to_end(channel.name)
        self._arm(now)

    def _free(self, name: str) -> None:
        channel = self._channels.pop(name)
        self._compact()
        self._ended.pop(name, None)
        self._bytes -= channel.cost() + channel.bytes
        self._bytes -= sum(ID_COST + len(run_id) for run_id, _ in channel.seen)
        if channel.last_id is not None:
            self._tombstones[name] = (channel.last_id, tuple(channel.ended))
            self._tombstones.move_to_end(name)
            while len(self._tombstones) > _TOMBSTONES:
                self._tombstones.popitem(last=False)
        self._notify()

    def _compact(self) -> None:
        """A dict keeps the room it once needed: copy it once it is mostly empty."""
        size = len(self._channels)
        if size * 4 < self._peak and self._peak > 64:
            self._channels = collections.OrderedDict(self._channels)
            self._ended = collections.OrderedDict(self._ended)
            self._peak = size

    def _arm(self, now: float) -> None:
        """Make sure a timer of this loop frees ended channels when their time comes."""
        if not self._ended:
            return
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer[0] is loop and not loop.is_closed():
            return
        due = next(iter(self._ended.values()))
        self._timer = (loop, loop.call_at(max(due, now), self._on_timer))

    def _on_timer(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        self._sweep(now)
        self._arm(now)

    def _sweep(self, now: float) -> None:
        while self._ended:
            name, due = next(iter(self._ended.items()))
            if due > now:
                break
            self._free(name)
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.idle_seconds / 10
        for channel in list(self._channels.values()):
            if not channel.subscribers and now - channel.published_at > self.idle_seconds:
                self._free(channel.name)
