"""The typed events of a run's progress stream.

Every event carries the run id, the thread id (when the run belongs to a thread),
the channel it is published on, and a sequence number. Sequence numbers are
deterministic: a replayed or retried step publishes the same numbers again, so a
client orders events by ``seq`` and drops any ``seq`` it has already seen.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, TypeAlias

import pydantic
import pydantic_core

from .._json import MAX_STEP_DEPTH, NotJSONError, check_depth

__all__ = ["EVENT_TYPES", "BrokerUnavailable", "EventType", "Gap", "StreamEvent", "event_body"]

EventType: TypeAlias = Literal[
    "run.started",
    "run.completed",
    "run.failed",
    "agent.started",
    "agent.finished",
    "text.delta",
    "tool.call",
    "tool.result",
    "usage",
    "custom",
]
"""What happened:

- ``run.started`` ``{"input", "network"}`` (``network`` is null when one agent
  runs alone; ``agent`` names it); ``run.completed`` ``{"output", "usage"}``;
  ``run.failed`` ``{"error"}``, always the last event of a run;
- ``agent.started`` ``{"call"}``; ``agent.finished`` ``{"call", "output", "usage"}``;
- ``text.delta`` ``{"call", "step", "delta"}`` — text as the model writes it;
  ``step`` is the inference's step id (``Writer#1/infer#2``): a retried inference
  writes its text again with a higher ``attempt``, so show per step the deltas of
  the highest attempt;
- ``tool.call`` ``{"call", "id", "name", "arguments"}``;
- ``tool.result`` ``{"call", "id", "name", "content", "is_error"}``;
- ``usage`` ``{"call", "input_tokens", "output_tokens"}`` after each inference;
- ``custom`` ``{"topic", "data", "tool_call_id"}``: published by a tool
  (``ctx.publish``) or a hook (``network.publish``); see :class:`Topic`.
"""

EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


class StreamEvent(pydantic.BaseModel):
    """One event of a run's stream."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    type: EventType
    seq: int
    run_id: str
    thread_id: str | None = None
    channel: str
    agent: str | None = None
    attempt: int = 0
    """The attempt of the step that produced the event (0 = first). A retried
    inference streams its text again under new seqs with a higher attempt: show
    the text of a step's highest attempt only."""
    data: dict[str, Any] = pydantic.Field(default_factory=dict)

    @property
    def id(self) -> str:
        """A unique id: ``<run_id>:<seq>``."""
        return f"{self.run_id}:{self.seq}"


@dataclasses.dataclass(frozen=True)
class Gap:
    """A resumed subscription misses events.

    The broker no longer holds every event published after ``after``. ``resumed_from`` is the id
    of the first event it still holds (``None`` when it holds none); ``missed`` counts the
    events known to be gone (``None`` when unknown).
    """

    after: str
    resumed_from: str | None
    missed: int | None = None


class BrokerUnavailable(RuntimeError):
    """A shared broker cannot be reached now.

    A shared broker cannot be reached now (its store is down): subscribing fails with it, and
    the SSE endpoint answers ``503``. Publishing never raises it: a run goes on without its
    stream.
    """


def event_body(channel: str, event: StreamEvent) -> bytes:
    """``event`` as the JSON a reader gets.

    Raises:
        ValueError: it cannot be sent (not JSON, or nested deeper than readers parse).
    """
    try:
        text = event.model_dump_json()
        check_depth(text, MAX_STEP_DEPTH)
    except (pydantic_core.PydanticSerializationError, NotJSONError, ValueError) as err:
        raise ValueError(f"event {event.id} on {channel!r} cannot be sent as JSON: {err}") from err
    return text.encode()
