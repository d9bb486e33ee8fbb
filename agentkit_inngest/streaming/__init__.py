"""Streaming a run's progress: typed events, publishers, brokers, an SSE endpoint."""

from .broker import Broker, Gap, MemoryBroker
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
    "CallbackPublisher",
    "EventType",
    "FanOut",
    "Gap",
    "MemoryBroker",
    "Publisher",
    "RealtimePublisher",
    "StreamEvent",
    "realtime_token",
]
