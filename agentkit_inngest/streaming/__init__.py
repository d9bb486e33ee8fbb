"""Streaming a run's progress: typed events, publishers, brokers, an SSE endpoint.

See docs/streaming.md. A run's events are emitted by the run layer and published,
exactly once per step across replays, by the step seam's ``RunStream``.
"""

from ._broker import Broker, BrokerUnavailable, MemoryBroker
from ._events import EVENT_TYPES, EventType, Gap, StreamEvent
from ._publishers import (
    BrokerPublisher,
    CallbackPublisher,
    FanOut,
    Publisher,
    RealtimePublisher,
    realtime_token,
)
from ._redis import RedisBroker
from ._sse import stream_router
from ._topics import Topic, stream_schema, typescript_types

__all__ = [
    "EVENT_TYPES",
    "Broker",
    "BrokerPublisher",
    "BrokerUnavailable",
    "CallbackPublisher",
    "EventType",
    "FanOut",
    "Gap",
    "MemoryBroker",
    "Publisher",
    "RealtimePublisher",
    "RedisBroker",
    "StreamEvent",
    "Topic",
    "realtime_token",
    "stream_router",
    "stream_schema",
    "typescript_types",
]
