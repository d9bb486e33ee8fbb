"""A stream broker on Redis streams, shared by every process of an app.

Install the extra: ``pip install 'agentkit-inngest[redis]'``. Each channel is a
Redis stream bounded in events and bytes (exactly, not ``MAXLEN ~``: the bounds
are the same as :class:`~agentkit_inngest.streaming.MemoryBroker`'s), a hash of the
event ids it has seen (publishing is one Lua script, so an event sent again, by
any process, is dropped) and a few counters; see ``_redis_lua.py``. Readers
``XREAD BLOCK`` from the stream, each on a connection of its own.

Redis down: ``publish`` drops the event (it never fails a run), logs once per
outage, counts the drop, and once Redis answers again writes a marker into the
channel so its readers learn of the gap. ``subscribe`` (and the SSE endpoint,
with ``503``) says so at once. A live reader rides out a restart: it reconnects,
and goes on from where it was when the log survived; when the log was lost (or
trimmed past it) it ends, so its client resumes with ``Last-Event-ID`` and is told
of the gap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._extras import missing
from ..errors import ConfigurationError
from ._broker import Broker, BrokerUnavailable, Gap, check_channel, parse_event_id
from ._events import StreamEvent, event_body
from ._redis_lua import LOCATE, PUBLISH, TOUCH
from ._redis_reader import RedisSubscription

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - the extra is not installed
    aioredis = None  # type: ignore[assignment]

__all__ = ["RedisBroker"]

logger = logging.getLogger("agentkit_inngest")

_FINAL = ("run.completed", "run.failed")
_SUFFIXES = (b"log", b"seen", b"order", b"meta", b"runs", b"last")
_BIG_SECONDS = 60  # how long the body of an event too large to keep waits for live readers
_TOMBSTONE_SECONDS = 3600  # how long a freed channel's last event id is remembered
_PENDING_CHANNELS = 10_000  # channels whose dropped events are remembered for a marker


class RedisBroker(Broker):
    """A broker on Redis streams: publish in one app process, read in any other.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS,
            ``unix://`` for a socket). A malformed URL is a
            :class:`~agentkit_inngest.errors.ConfigurationError` at once.
        prefix: what every key of the broker starts with.
        retain: events a channel keeps so a reconnecting client can resume.
        channel_bytes: bytes of events (as JSON) a channel keeps; a larger event
            is delivered to live readers but not kept.
        linger: seconds a channel whose runs have ended is kept after its last
            reader left (readers keep it alive while they read).
        idle_seconds: a channel nothing was published on for this long is freed,
            even if a run never said it ended. Bound what all channels hold
            together with Redis's own ``maxmemory`` and ``maxmemory-policy
            volatile-ttl`` (every key has a time to live; ended channels the
            shortest).
        timeout: seconds a command may take (connecting included) before Redis
            counts as down.
        block_seconds: how long one ``XREAD BLOCK`` waits before a reader says it
            is still there.
        reconnect_seconds: how long a live reader tries to get Redis back before
            it ends (its client then reconnects and resumes).
        retry_seconds: after a failed publish, how long publishes are dropped
            without trying (so a run is not slowed by a Redis that is down).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "agentkit:stream:",
        retain: int = 1000,
        channel_bytes: int = 4 * 2**20,
        linger: float = 30.0,
        idle_seconds: float = 600,
        timeout: float = 2.0,
        block_seconds: float = 10.0,
        reconnect_seconds: float = 30.0,
        retry_seconds: float = 1.0,
    ) -> None:
        if aioredis is None:  # the extra is not installed
            raise missing("redis", extra="redis", feature="RedisBroker")
        for label, whole in (("retain", retain), ("channel_bytes", channel_bytes)):
            if isinstance(whole, bool) or not isinstance(whole, int) or whole < 1:
                raise ConfigurationError(f"RedisBroker {label} must be a whole number >= 1")
        for label, seconds in (
            ("linger", linger),
            ("idle_seconds", idle_seconds),
            ("timeout", timeout),
            ("block_seconds", block_seconds),
            ("reconnect_seconds", reconnect_seconds),
            ("retry_seconds", retry_seconds),
        ):
            if not (isinstance(seconds, (int, float)) and 0 < seconds < 10**7):
                raise ConfigurationError(f"RedisBroker {label} must be a positive number")
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError("RedisBroker needs a URL like redis://127.0.0.1:6379/0")
        # one retry at once: a pooled connection a restarted Redis closed is not an outage
        once = Retry(NoBackoff(), 1)
        # Any: redis-py's reply types depend on the protocol; the scripts fix them here
        self._redis: Any
        self._reader: Any
        try:
            self._redis = aioredis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=once
            )
            self._reader = aioredis.Redis.from_url(  # readers check what a reconnect found
                url,
                socket_timeout=block_seconds + timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as err:
            raise ConfigurationError(
                f"RedisBroker: {err} (expected redis://host:port/db, rediss:// or unix://)"
            ) from err
        kwargs = self._redis.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}"
        self.where = f"{where}/{kwargs.get('db', 0)}"
        """Where Redis is (no credentials), for messages."""
        self.prefix = prefix.encode()
        self.retain = retain
        self.channel_bytes = channel_bytes
        self.linger = linger
        self.idle_seconds = idle_seconds
        self.block_seconds = block_seconds
        self.reconnect_seconds = reconnect_seconds
        self.retry_seconds = retry_seconds
        self.dropped = 0
        """Events not published because Redis could not be reached."""
        self._publish = self._redis.register_script(PUBLISH)
        self._locate = self._redis.register_script(LOCATE)
        self._touch = self._redis.register_script(TOUCH)
        self._down_until: float | None = None
        self._pending: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._subscriptions: set[RedisSubscription] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- keys -----------------------------------------------------------------------------

    def keys(self, channel: str) -> list[bytes]:
        """The channel's keys: log, seen, order, meta, runs, last (one hash tag)."""
        name = channel.encode("utf-8", "surrogatepass")
        if b"{" in name or b"}" in name:  # a brace would cut the hash tag short
            name = hashlib.sha256(name).hexdigest().encode()
        base = self.prefix + b"{" + name + b"}:"
        return [base + suffix for suffix in _SUFFIXES]

    # -- looking in -----------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        """Subscriptions open in this process."""
        return len(self._subscriptions)

    def subscribers(self, channel: str) -> int:
        """Subscriptions to ``channel`` open in this process."""
        return sum(1 for s in self._subscriptions if s.channel == channel)

    async def wait_for_subscribers(self, channel: str, count: int = 1) -> None:
        """Return once ``channel`` has at least ``count`` subscribers here."""
        await self.wait_until(lambda: self.subscribers(channel) >= count)

    async def wait_for_no_subscribers(self, channel: str | None = None) -> None:
        """Return once ``channel`` (or every channel) has no subscriber here."""
        if channel is None:
            await self.wait_until(lambda: not self._subscriptions)
        else:
            await self.wait_until(lambda: self.subscribers(channel) == 0)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds.

        Checked whenever a subscription of this process starts or ends.
        """
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)

    def _notify(self) -> None:
        for ready, future in self._waiters:
            if not future.done() and ready():
                future.set_result(None)

    async def retained(self, channel: str) -> list[StreamEvent]:
        """The events ``channel`` keeps for resuming subscribers, oldest first."""
        entries = await self._redis.xrange(self.keys(check_channel(channel))[0])
        return [StreamEvent.model_validate_json(f[b"e"]) for _, f in entries if b"e" in f]

    async def check(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as err:
            raise BrokerUnavailable(
                f"the stream broker cannot reach Redis at {self.where}: {err}"
            ) from err

    async def aclose(self) -> None:
        """Close the connections (and stop retrying the markers of dropped events)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._redis.aclose()
        await self._reader.aclose()

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, channel: str, event: StreamEvent) -> None:
        check_channel(channel)
        body = event_body(channel, event)
        loop = asyncio.get_running_loop()
        if self._down_until is not None and loop.time() < self._down_until:
            self._drop(channel)
            return
        try:
            if self._pending:
                await self._flush()
            await self._run(channel, "event", event.id, event.run_id, body, event.type in _FINAL)
        except (RedisError, OSError) as err:
            if self._down_until is None:
                logger.warning(
                    "the stream broker cannot reach Redis at %s (%s): stream events are "
                    "dropped, runs go on; readers are told of the gap once it is back",
                    self.where,
                    err,
                )
            self._down_until = loop.time() + self.retry_seconds
            self._drop(channel)
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_later())
            return
        if self._down_until is not None:
            self._down_until = None
            logger.warning("the stream broker reaches Redis at %s again", self.where)

    async def _run(
        self, channel: str, mode: str, event_id: str, run_id: str, body: bytes, final: bool
    ) -> None:
        keys = self.keys(channel)
        big = keys[0][: -len(b"log")] + b"big:" + event_id.encode("utf-8", "surrogatepass")
        await self._publish(
            keys=[*keys, big],
            args=[
                mode,
                event_id,
                run_id,
                body,
                len(body),
                self.retain,
                self.channel_bytes,
                2 * self.retain,
                int(self.idle_seconds * 1000),
                int(self.linger * 1000),
                "1" if final else "0",
                _BIG_SECONDS,
                _TOMBSTONE_SECONDS,
            ],
        )

    def _drop(self, channel: str) -> None:
        self.dropped += 1
        self._pending[channel] = self._pending.pop(channel, 0) + 1
        while len(self._pending) > _PENDING_CHANNELS:
            self._pending.popitem(last=False)  # those readers are cut off by a lost log anyway

    async def _flush(self) -> None:
        """Write a marker of the events dropped on each channel (oldest first)."""
        async with self._flushing:
            while self._pending:
                channel, count = next(iter(self._pending.items()))
                await self._run(channel, "gap", "", "", str(count).encode(), False)
                if self._pending.get(channel) == count:
                    del self._pending[channel]
                else:  # more were dropped meanwhile: mark those next time
                    self._pending[channel] -= count

    async def _flush_later(self) -> None:
        while self._pending:
            await asyncio.sleep(self.retry_seconds)
            with contextlib.suppress(RedisError, OSError):
                await self._flush()
                if self._down_until is not None:
                    self._down_until = None
                    logger.warning("the stream broker reaches Redis at %s again", self.where)

    # -- subscribing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, after: str | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        check_channel(channel)
        if after is not None:
            parse_event_id(after)
        try:
            subscription = await self._open(channel, after)
        except (RedisError, OSError) as err:
            raise BrokerUnavailable(
                f"the stream broker cannot reach Redis at {self.where}: {err}"
            ) from err
        self._subscriptions.add(subscription)
        self._notify()
        try:
            yield subscription
        finally:
            subscription.close()
            self._subscriptions.discard(subscription)
            self._notify()

    async def _open(self, channel: str, after: str | None) -> RedisSubscription:
        keys = self.keys(channel)
        count, last_entry, anchor, tombstone = await self._locate(
            keys=[keys[0], keys[1], keys[3], keys[5]], args=[after or ""]
        )
        count, last_entry = int(count), last_entry.decode() or "0-0"
        subscription = RedisSubscription(self, channel, keys, last_entry, count)
        if after is None:
            return subscription
        if anchor:
            seen_k, entry = anchor.decode().split(" ")
            entries = await self._redis.xrange(keys[0], min="(" + entry)
            subscription.cursor, subscription.last_k = entry, int(seen_k)
            missed = await subscription.take(entries, catch_up=True)
            if subscription.last_k < count:  # the log ends before the count: events gone
                missed += count - subscription.last_k
                subscription.cursor, subscription.last_k = last_entry, count
            first = subscription.buffered[0].id if subscription.buffered else None
            subscription.gap = Gap(after, first, missed) if missed else None
            return subscription
        if count == 0 and tombstone.decode() == after:
            return subscription  # the channel was freed after this very event
        entries = await self._redis.xrange(keys[0])
        subscription.cursor, subscription.last_k = "0-0", None
        await subscription.take(entries, catch_up=True)
        if subscription.last_k is None:  # nothing is kept: go on from the count
            subscription.cursor, subscription.last_k = last_entry, count
        first = subscription.buffered[0].id if subscription.buffered else None
        subscription.gap = Gap(after=after, resumed_from=first)
        return subscription

    async def _decode(self, channel: str, fields: dict[bytes, bytes]) -> StreamEvent | None:
        body = fields.get(b"e")
        if body is None and b"b" in fields:
            big = self.keys(channel)[0][: -len(b"log")] + b"big:" + fields[b"i"]
            body = await self._redis.get(big)
        return StreamEvent.model_validate_json(body) if body is not None else None
