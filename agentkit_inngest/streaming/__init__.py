"""Streaming a run's progress: typed events, publishers, brokers, an SSE endpoint."""

from ._redis import RedisBroker
from .broker import Broker, BrokerUnavailable, Gap, MemoryBroker
from .events import EVENT_TYPES, EventType, StreamEvent
from .publishers import (
    BrokerPublisher,
    CallbackPublisher,
    FanOut,
    Publisher,
    RealtimePublisher,
    realtime_token,
)

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
    "realtime_token",
]
