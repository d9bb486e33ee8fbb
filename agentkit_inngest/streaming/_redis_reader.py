"""The reader side of :class:`~agentkit_inngest.streaming.RedisBroker`.

One subscription, reading its channel's Redis stream with ``XREAD BLOCK``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Protocol

from ._broker import Gap
from ._events import StreamEvent

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - the extra is not installed
    RedisError = OSError  # type: ignore[misc,assignment]


class _Broker(Protocol):
    """What a subscription reads through.

    The parts of ``RedisBroker`` it uses (its reading connection, its scripts, its settings and its
    event decoder).
    """

    _reader: Any
    _touch: Any
    _locate: Any
    block_seconds: float
    linger: float
    reconnect_seconds: float

    async def _decode(self, channel: str, fields: dict[bytes, bytes]) -> StreamEvent | None: ...


__all__ = ["RedisSubscription"]

logger = logging.getLogger("agentkit_inngest")

_BATCH = 200  # entries read at once


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve what an abandoned read ended with (so asyncio does not log it)."""
    if not task.cancelled():
        task.exception()


class RedisSubscription:
    """A reader of one channel: iterate it for events.

    ``gap`` is set when it resumed after an event and events after that one are gone.
    """

    def __init__(
        self, broker: _Broker, channel: str, keys: list[bytes], cursor: str, last_k: int
    ) -> None:
        self.broker = broker
        self.channel = channel
        self.keys = keys
        self.cursor = cursor
        self.last_k: int | None = last_k
        self.gap: Gap | None = None
        self.buffered: collections.deque[StreamEvent] = collections.deque()
        self.closed = False
        self.cut_off = False
        """The reader ended because events were lost under it (its client should
        resume with the last id it got, and will be told of the gap)."""

    def close(self) -> None:
        """Stop: iteration ends once the events already read are given out."""
        self.closed = True

    def __aiter__(self) -> RedisSubscription:
        return self

    async def __anext__(self) -> StreamEvent:
        while not self.buffered:
            if self.closed:
                raise StopAsyncIteration
            await self._read()
        return self.buffered.popleft()

    async def take(self, entries: list[Any], *, catch_up: bool) -> int:
        """Queue the events of ``entries``; how many are known to be missing.

        Live (not ``catch_up``), a hole ends the subscription instead.
        """
        missed = 0
        for entry_id, fields in entries:
            k = int(fields[b"k"])
            hole = self.last_k is not None and k != self.last_k + 1
            if hole and not catch_up:
                self._cut_off()
                return 0
            if hole and self.last_k is not None and k > self.last_k:
                missed += k - self.last_k - 1
            self.cursor = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            self.last_k = k
            if b"g" in fields:  # a publisher dropped events here while Redis was down
                if not catch_up:
                    self._cut_off()
                    return 0
                missed += int(fields[b"g"])
                continue
            if b"e" not in fields and catch_up:
                missed += 1  # too large to keep
                continue
            event = await self.broker._decode(self.channel, fields)
            if event is None:  # its body is gone before this reader came for it
                self._cut_off()
                return 0
            self.buffered.append(event)
        return missed

    def _cut_off(self) -> None:
        self.cut_off = True
        self.close()

    async def _read(self) -> None:
        broker = self.broker
        read = asyncio.ensure_future(
            broker._reader.xread(
                {self.keys[0]: self.cursor},
                count=_BATCH,
                block=int(broker.block_seconds * 1000),
            )
        )
        try:
            # awaited through asyncio.wait: a cancelled reader (its client went away)
            # stops at once, even where redis-py's read swallows a cancellation
            await asyncio.wait([read])
        except asyncio.CancelledError:
            read.cancel()
            read.add_done_callback(_consume)
            raise
        try:
            reply = read.result()
        except (RedisError, OSError) as err:
            await self._reconnect(err)
            return
        if not reply:  # still here: keep the channel while someone reads it
            try:
                count = await broker._touch(keys=self.keys[:5], args=[int(broker.linger * 1000)])
            except (RedisError, OSError) as err:
                await self._reconnect(err)
                return
            if self.last_k is not None and int(count) < self.last_k:
                self._cut_off()  # Redis lost the channel (restarted without its data)
            return
        for _, entries in reply:
            await self.take(entries, catch_up=False)

    async def _reconnect(self, error: Exception) -> None:
        """Get Redis back within ``reconnect_seconds``.

        When it lost the channel's count (a restart without its data), end: the client resumes and
        hears of the gap.
        """
        broker = self.broker
        loop = asyncio.get_running_loop()
        deadline = loop.time() + broker.reconnect_seconds
        pause = 0.05
        logger.info("a stream reader of %r lost Redis (%s); reconnecting", self.channel, error)
        while loop.time() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
            try:
                count, *_ = await broker._locate(
                    keys=[self.keys[0], self.keys[1], self.keys[3], self.keys[5]], args=[""]
                )
            except (RedisError, OSError):
                continue
            if self.last_k is not None and int(count) < self.last_k:
                self._cut_off()
            return
        self._cut_off()
