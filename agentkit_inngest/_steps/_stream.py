"""How a run emits stream events exactly once per step, across replays.

Under Inngest the code between steps runs again on every request, while a step's
body runs once. So:

- an event emitted **inside** a step's body (text deltas while the model streams)
  is published at once;
- an event emitted **between** steps (``agent.started``, a tool result seen after
  its step) is held, and published by the request that first reaches the *next*
  step as new: at the start of its body if it runs there, else when the step
  hands control back to Inngest (planned, offloaded, waiting). Replays that find
  that step memoized drop the held events: an earlier request published them.
  Requests that target one planned step (parallel steps, steps after them)
  publish no held events either: the request that planned the step did;
- what remains when the run ends is published by the final request.

The same gate releases the ends of a run's logical spans (tracing): they are held
as calls (:meth:`RunStream.hold`) among the events, and run exactly when the events
beside them would be published.

Sequence numbers are deterministic: ``(steps reached, inside/between, attempt,
index)`` packed into one integer (below 2**53, exact in JavaScript), so a
re-sent request publishes the same numbers again and clients (and
:class:`~agentkit_inngest.streaming.MemoryBroker`) drop the duplicates.
A retried step body (a new attempt) publishes under new numbers and says its
``attempt``: a client shows the text of a call's latest attempt only. A
plain-Python run publishes everything at once with a counter.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from ..streaming._events import EventType, StreamEvent
from ..streaming._publishers import Publisher, safe_publish

__all__ = ["EXECUTING_STEP", "LAST_SEQ", "STEP_ATTEMPT", "RunStream", "StreamOwner"]

EXECUTING_STEP: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "agentkit_executing_step", default=None
)
"""The index of the step whose body is running in this task, if any."""

STEP_ATTEMPT: contextvars.ContextVar[int] = contextvars.ContextVar(
    "agentkit_step_attempt", default=0
)
"""The attempt (0 first) of the step whose body is running in this task."""

_COUNT = 1 << 21  # events per attempt of a step body
_MAX_ATTEMPT = 31  # attempts above share the last slot (Inngest allows 21)
_BETWEEN = (_MAX_ATTEMPT + 1) * _COUNT  # offset of the events after a step
_STEP = 2 * _BETWEEN  # seq space of one step: 2**27, so 2**26 steps fit below LAST_SEQ
LAST_SEQ = (1 << 53) - 1
"""The seq of ``run.failed``/``run.completed`` sent after the run: sorts last."""


class StreamOwner(Protocol):
    """What a :class:`RunStream` reads of the runner that owns it."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        ...

    @property
    def durable(self) -> bool:
        """Whether code outside steps is replayed."""
        ...

    @property
    def claims(self) -> int:
        """How many steps the run has reached."""
        ...


_Held: TypeAlias = "tuple[int, EventType, str | None, dict[str, Any]] | Callable[[], None]"

logger = logging.getLogger("agentkit_inngest.tracing")


class RunStream:
    """The stream of one run (owned by its :class:`~agentkit_inngest.StepRunner`)."""

    def __init__(self, runner: StreamOwner) -> None:
        self._runner = runner
        self.publisher: Publisher | None = None
        self.channel = ""
        self.thread_id: str | None = None
        self._held: list[_Held] = []
        self._before: dict[int, list[_Held]] = {}
        self._between: dict[int, int] = {}
        self._inside: dict[tuple[int, int], int] = {}
        self._counter = 0
        self._published: set[int] = set()
        self.holds = False
        """Whether calls are held too (tracing is on), so the gate runs without a publisher."""

    def configure(
        self,
        publisher: Publisher | None,
        *,
        channel: str | None = None,
        thread_id: str | None = None,
    ) -> None:
        """Publish this run's events with ``publisher`` on ``channel``.

        ``channel`` defaults to the thread id, else ``run:<run id>``.
        """
        self.publisher = publisher
        self.thread_id = thread_id
        self.channel = channel or thread_id or f"run:{self._runner.run_id}"

    @property
    def enabled(self) -> bool:
        """Whether events go anywhere (a publisher is configured)."""
        return self.publisher is not None

    @property
    def gated(self) -> bool:
        """Whether anything goes through the gate (events, or held calls)."""
        return self.publisher is not None or self.holds

    def on_claim(self, index: int) -> None:
        """Step ``index`` was claimed: the events held so far belong before it."""
        if not self.gated:
            return
        self._before[index] = self._held
        self._held = []

    async def emit(self, type: EventType, *, agent: str | None = None, **data: Any) -> None:
        """Emit an event (a no-op without a publisher)."""
        if self.publisher is None:
            return
        step = EXECUTING_STEP.get()
        attempt = STEP_ATTEMPT.get() if step is not None else 0
        if not self._runner.durable:
            self._counter += 1
            await self._publish(self._counter, type, agent, data, attempt)
            return
        if step is not None:
            slot = min(attempt, _MAX_ATTEMPT)
            count = self._inside.get((step, slot), 0)
            self._inside[step, slot] = count + 1
            await self._publish(step * _STEP + slot * _COUNT + count, type, agent, data, attempt)
            return
        reached = self._runner.claims
        count = self._between.get(reached, 0)
        self._between[reached] = count + 1
        self._held.append((reached * _STEP + _BETWEEN + count, type, agent, data))

    def hold(self, release: Callable[[], None]) -> None:
        """Call ``release`` once, when the events emitted here are published.

        Call ``release`` once: at once in plain Python; under Inngest when the
        events emitted here would be published (never on a replay).
        """
        if self._runner.durable:
            self._held.append(release)
        else:
            _call(release)

    def release_held(self) -> None:
        """Run the calls held since the last step (the run failed for good).

        The events beside them are dropped, as before.
        """
        held, self._held = self._held, []
        for item in held:
            if callable(item):
                _call(item)

    async def flush_before(self, index: int) -> None:
        """Publish the events held before step ``index`` (it is new in this request)."""
        for item in self._before.pop(index, []):
            await self._release(item)

    async def flush(self) -> None:
        """Publish what is held at the end of the run."""
        held, self._held = self._held, []
        for item in held:
            await self._release(item)

    async def _release(self, item: _Held) -> None:
        if callable(item):
            _call(item)
        else:
            seq, type, agent, data = item
            await self._publish(seq, type, agent, data)

    async def fail(self, error: Exception) -> None:
        """Publish ``run.failed`` for a plain-Python run.

        Under Inngest an error in one request may still be retried: the function's failure handler
        publishes ``run.failed`` once the run has failed for good.
        """
        if not self._runner.durable:
            await self.publish_final("run.failed", error=str(error) or type(error).__name__)

    async def publish_final(self, type: EventType, **data: Any) -> None:
        """Publish an event that follows everything else (``run.failed``)."""
        await self._publish(LAST_SEQ, type, None, data)

    async def _publish(
        self,
        seq: int,
        type: EventType,
        agent: str | None,
        data: dict[str, Any],
        attempt: int = 0,
    ) -> None:
        if self.publisher is None or seq in self._published:
            return
        self._published.add(seq)
        event = StreamEvent(
            type=type,
            seq=seq,
            run_id=self._runner.run_id,
            thread_id=self.thread_id,
            channel=self.channel,
            agent=agent,
            attempt=attempt,
            data=data,
        )
        await safe_publish(self.publisher, event)


def _call(release: Callable[[], None]) -> None:
    """Run a held call; tracing never fails a run."""
    try:
        release()
    except Exception:
        logger.warning("a span could not be emitted", exc_info=True)
