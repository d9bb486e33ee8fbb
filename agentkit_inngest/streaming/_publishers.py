"""Publishers: where a run's stream events go.

One interface, :class:`Publisher`, with transports behind it:

- :class:`BrokerPublisher` → a :class:`~agentkit_inngest.streaming.Broker`
  (in-process, or shared such as Redis) that the app's server-sent-events endpoint
  reads from;
- :class:`RealtimePublisher` → Inngest Realtime (a channel per thread or run, one
  topic per event type);
- :class:`CallbackPublisher` → any async function (the CLI's live view uses it);
- :class:`FanOut` → several of the above.

A publisher failure never fails a run: it is logged and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._events import StreamEvent

if TYPE_CHECKING:
    import inngest

    from ._broker import Broker

__all__ = [
    "BrokerPublisher",
    "CallbackPublisher",
    "FanOut",
    "Publisher",
    "RealtimePublisher",
    "realtime_token",
]

logger = logging.getLogger("agentkit_inngest")


@runtime_checkable
class Publisher(Protocol):
    """Sends stream events somewhere."""

    async def publish(self, event: StreamEvent) -> None: ...


class CallbackPublisher:
    """Publishes by calling ``callback(event)``."""

    def __init__(self, callback: Callable[[StreamEvent], Awaitable[None]]) -> None:
        self._callback = callback

    async def publish(self, event: StreamEvent) -> None:
        await self._callback(event)


class BrokerPublisher:
    """Publishes to a broker on the event's channel."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish(self, event: StreamEvent) -> None:
        await self.broker.publish(event.channel, event)


class RealtimePublisher:
    """Publishes to Inngest Realtime.

    Channel ``<prefix><thread or run id>``, topic = the event type, data = the event as JSON.
    """

    def __init__(self, client: inngest.Inngest) -> None:
        self.client = client

    async def publish(self, event: StreamEvent) -> None:
        from inngest.experimental import realtime

        await realtime.publish(
            self.client, event.channel, event.type, event.model_dump(mode="json")
        )


async def realtime_token(
    client: inngest.Inngest, channel: str, topics: Sequence[str] | None = None
) -> dict[str, object]:
    """A subscription token for a browser (``@inngest/realtime``) to read a channel."""
    from inngest.experimental import realtime

    from ._events import EVENT_TYPES

    return dict(await realtime.get_subscription_token(client, channel, list(topics or EVENT_TYPES)))


class FanOut:
    """Publishes to every publisher; one failing does not stop the others."""

    def __init__(self, *publishers: Publisher) -> None:
        self.publishers = list(publishers)

    async def publish(self, event: StreamEvent) -> None:
        for publisher in self.publishers:
            await safe_publish(publisher, event)


async def safe_publish(publisher: Publisher, event: StreamEvent) -> None:
    """Publish, logging (not raising) a failure: streaming must never fail a run."""
    try:
        await publisher.publish(event)
    except Exception:
        logger.warning(
            "publishing %s (seq %d) on %s failed",
            event.type,
            event.seq,
            event.channel,
            exc_info=True,
        )
