"""The tracing seam: spans of a run, each emitted once per execution.

Every runner owns one (``runner.tracing``): :data:`NO_TRACING`, which does nothing,
unless OpenTelemetry has a tracer provider (``agentkit_inngest._tracing.current``).

Two kinds of span, because under Inngest code outside steps runs again on every
request while a step's body runs once per attempt:

- a **step span** (an inference, a tool call in a step, a fast turn) opens inside the
  step's body (:meth:`RunTracing.wrap`, called by ``StepRunner._body``): a replay
  that reads the step's memo never opens it, and a retried step gets one span per
  attempt (``agentkit.step.attempt``). The run layer says what the next step is
  (:meth:`RunTracing.step_as`) so the span gets its GenAI name and attributes;
- a **logical span** (the run, an agent call, a routing decision, a tool call
  without a step of its own) covers code between steps. Its start and end are held
  by the run's stream gate (``RunStream.hold``) like stream events: released by the
  request that first reaches the next step as new, or by the final request, and
  dropped by replays. It is emitted at its end with a fixed id.

Ids come from the run id (``_tracing._ids``), so the spans of every request of a run
form one tree: step spans start under their unit's fixed span id.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from .._tracing import CURRENT_STEP, LOGICAL, Tracing, current
from .._tracing._ids import forced_ids, parent_context, span_id_for, trace_id_for
from ._span_specs import SpanSpec, SpecMaker, Unit, finish_step, retriable_failure
from ._stream import STEP_ATTEMPT, RunStream


class StepRunner(Protocol):
    """What the seam reads of the runner that owns it."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        ...

    @property
    def durable(self) -> bool:
        """Whether code outside steps is replayed."""
        ...

    @property
    def stream(self) -> RunStream:
        """The run's stream (and its gate)."""
        ...


__all__ = ["NO_TRACING", "NoTracing", "RunTracing", "annotate_current_span", "tracing_for"]

_PENDING: contextvars.ContextVar[SpecMaker | None] = contextvars.ContextVar(
    "agentkit_pending_span", default=None
)
_UNIT: contextvars.ContextVar[tuple[object, str] | None] = contextvars.ContextVar(
    "agentkit_current_unit", default=None
)
_STARTS: collections.OrderedDict[tuple[int, str], int] = collections.OrderedDict()
"""When each logical unit started, as seen by the request that ran it first."""
_EMITTED: collections.OrderedDict[tuple[int, str], None] = collections.OrderedDict()
"""Logical spans this process emitted (a re-sent final request emits nothing again)."""
_REMEMBERED = 4096


def _remember(table: collections.OrderedDict[tuple[int, str], Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > _REMEMBERED:
        table.popitem(last=False)


class NoTracing:
    """The seam when tracing is off: every method does nothing."""

    enabled = False

    # RunTracing overrides each method with the same arguments: hence the noqa: ARG002.
    def wrap(
        self,
        step_id: str,  # noqa: ARG002
        index: int,  # noqa: ARG002
        fn: Callable[[], Awaitable[Any]],
    ) -> Callable[[], Awaitable[Any]]:
        """``fn``, unchanged."""
        return fn

    def step_as(self, spec: SpecMaker) -> contextlib.AbstractContextManager[None]:  # noqa: ARG002
        """Nothing to describe."""
        return _NOTHING

    def unit(
        self,
        key: str,  # noqa: ARG002
        spec: SpecMaker,  # noqa: ARG002
    ) -> contextlib.AbstractContextManager[Unit]:
        """A unit whose attributes go nowhere."""
        return contextlib.nullcontext(Unit())

    def child(self, spec: SpecMaker) -> contextlib.AbstractContextManager[Unit]:  # noqa: ARG002
        """A span inside a step body that goes nowhere."""
        return contextlib.nullcontext(Unit())

    def logical_key(self, key: str) -> str:
        """``key``."""
        return key

    def offloaded(self, step_id: str, spec: SpecMaker, answer: Mapping[str, Any]) -> None:
        """Nothing to record."""

    def run_failed(self, err: BaseException) -> None:
        """Nothing to release."""


NO_TRACING = NoTracing()
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()
"""One no-op context for every step (it holds nothing, so it is reusable)."""


def tracing_for(runner: StepRunner) -> NoTracing:
    """The seam of ``runner``: :data:`NO_TRACING` unless tracing is configured."""
    config = current()
    if config is None:
        return NO_TRACING
    return RunTracing(runner, config)


@dataclasses.dataclass
class _Held:
    """A logical span's fixed parts, kept until its end is released."""

    key: str
    parent: str | None
    make: SpecMaker
    start_ns: int
    unit: Unit


class RunTracing(NoTracing):
    """The seam of one runner (one request under Inngest) when tracing is on."""

    enabled = True

    def __init__(self, runner: StepRunner, config: Tracing) -> None:
        self.runner = runner
        self.config = config
        self.tracer = config.tracer
        self._trace_id: int | None = None
        self._root: int | None = None  # the ambient span a plain-Python run nests under
        self._counts: dict[str, int] = {}
        runner.stream.holds = True
        if not runner.durable:
            from opentelemetry import trace

            ambient = trace.get_current_span().get_span_context()
            if ambient.is_valid:
                self._trace_id, self._root = ambient.trace_id, ambient.span_id

    @property
    def trace_id(self) -> int:
        """The run's trace id (from its run id, or the caller's trace in plain Python)."""
        if self._trace_id is None:
            self._trace_id = trace_id_for(self.runner.run_id)
        return self._trace_id

    def logical_key(self, key: str) -> str:
        """``key`` made unique among the runner's units: ``route`` -> ``route#2``."""
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return f"{key}#{count}"

    def _prefixed(self, key: str) -> str:
        """``key`` within this run (runs may share a trace) and the runner's step prefix."""
        prefix = getattr(self.runner, "prefix", "")
        return f"{self.runner.run_id}/{prefix}/{key}" if prefix else f"{self.runner.run_id}/{key}"

    def _parent(self) -> str | None:
        found = _UNIT.get()
        return found[1] if found is not None and found[0] is self else None

    def _context(self, parent: str | None) -> Any:
        if parent is not None:
            return parent_context(self.trace_id, span_id_for(self.trace_id, parent))
        if self._root is not None:
            return parent_context(self.trace_id, self._root)
        from opentelemetry.context import Context

        return Context()  # a root: not under whatever span is current in this request

    # -- step spans ----------------------------------------------------------------------

    def step_as(self, spec: SpecMaker) -> contextlib.AbstractContextManager[None]:
        """Give the next step's body a span described by ``spec()`` (not called on replay)."""
        return _pending(spec)

    def wrap(
        self, step_id: str, index: int, fn: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """``fn`` (the ``index``-th step's body) in a span of its own, once per execution."""
        make = _PENDING.get()
        _PENDING.set(None)  # a step inside this body (plain Python) is not this one
        parent = self._parent()

        async def traced() -> Any:
            spec = make() if make is not None else SpanSpec.generic(step_id)
            attempt = STEP_ATTEMPT.get()
            attributes = {**spec.start_attributes(), "agentkit.step.id": step_id}
            attributes["agentkit.step.attempt"] = attempt
            attributes["agentkit.step.index"] = index
            step = CURRENT_STEP.set((step_id, index, attempt, self.runner.run_id))
            with forced_ids(self.trace_id if self.config.steerable else None, None):
                span = self.tracer.start_span(
                    spec.name,
                    context=self._context(parent),
                    kind=spec.span_kind(),
                    attributes=attributes,
                )
            try:
                with _use(span):
                    output = await fn()
                finish_step(span, spec, output, self.config.capture_content)
                return output
            except Exception as err:
                spec.failed(span, err, retried=retriable_failure(err))
                raise
            finally:
                CURRENT_STEP.reset(step)
                span.end()

        return traced

    @contextlib.contextmanager
    def child(self, make: SpecMaker) -> Iterator[Unit]:
        """A span inside a step's body (a fast turn's tool call), under the body's span."""
        unit, spec = Unit(), make()
        span = self.tracer.start_span(
            spec.name, kind=spec.span_kind(), attributes=spec.start_attributes()
        )
        try:
            with _use(span):
                yield unit
        except Exception as err:
            spec.failed(span, err, retried=retriable_failure(err))
            raise
        else:
            spec.finish(span, unit, self.config.capture_content)
        finally:
            span.end()

    # -- logical spans -------------------------------------------------------------------

    def unit(self, key: str, spec: SpecMaker) -> contextlib.AbstractContextManager[Unit]:
        """A logical unit of the run (``run``, ``agent:Triage#1``...).

        Steps and units started inside are its children; its span is emitted once, when its end is
        released by the stream gate.
        """
        return _UnitScope(self, self._prefixed(key), spec)

    def _end(self, held: _Held) -> None:
        end_ns = time.time_ns()
        self.runner.stream.hold(lambda: self._emit(held, end_ns))

    def offloaded(self, step_id: str, spec: SpecMaker, answer: Mapping[str, Any]) -> None:
        """An inference the Inngest server made (``step.ai.infer``).

        A span of no duration, emitted once, when the answer is first read by new code.
        """
        held = _Held(self._prefixed(f"offload:{step_id}"), self._parent(), spec, 0, Unit())
        held.unit.output, held.start_ns = answer, time.time_ns()
        self.runner.stream.hold(lambda: self._emit(held, held.start_ns, exact=True))

    def _emit(self, held: _Held, end_ns: int, *, exact: bool = False) -> None:
        if not self.config.steerable:
            return  # not an SDK tracer: the unit's fixed id cannot be given
        trace_id = self.trace_id
        if (trace_id, held.key) in _EMITTED:
            return
        _remember(_EMITTED, (trace_id, held.key), None)
        start_ns = held.start_ns if exact else _STARTS.get((trace_id, held.key))
        spec = held.make()
        attributes = {**spec.start_attributes(), LOGICAL: True}
        if start_ns is None:  # started in another process: start at the run's event
            start_ns = min(_event_ns(self.runner) or end_ns, end_ns)
            attributes["agentkit.span.start_inexact"] = True
        with forced_ids(trace_id, span_id_for(trace_id, held.key)):
            span = self.tracer.start_span(
                spec.name,
                context=self._context(held.parent),
                kind=spec.span_kind(),
                attributes=attributes,
                start_time=min(start_ns, end_ns),
            )
        if held.unit.error is not None:
            spec.failed(span, held.unit.error, retried=False)
        else:
            spec.finish(span, held.unit, self.config.capture_content)
        span.end(end_time=end_ns)

    def run_failed(self, err: BaseException) -> None:
        """The run raised ``err``: release the failed units' spans if it failed for good.

        For good: in plain Python, for a non-retriable error, or on the last attempt.
        """
        if not self.runner.durable or _final(self.runner, err):
            self.runner.stream.release_held()


class _UnitScope:
    """The ``with`` block of a logical unit.

    A unit this process has emitted already (a replay of an earlier turn) only sets itself as the
    parent of what it holds.
    """

    def __init__(self, tracing: RunTracing, key: str, make: SpecMaker) -> None:
        self.tracing, self.key = tracing, key
        self.emitted = (tracing.trace_id, key) in _EMITTED
        self.held = _Held(key, tracing._parent(), make, time.time_ns(), Unit())
        self.token: contextvars.Token[tuple[object, str] | None] | None = None

    def __enter__(self) -> Unit:
        tracing, trace_id, held = self.tracing, self.tracing.trace_id, self.held
        if not self.emitted and (trace_id, self.key) not in _STARTS:
            tracing.runner.stream.hold(
                lambda: _remember(_STARTS, (trace_id, held.key), held.start_ns)
            )
        self.token = _UNIT.set((tracing, self.key))
        return held.unit

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, _: Any) -> None:
        if self.token is not None:
            _UNIT.reset(self.token)
        if self.emitted or (err is not None and not isinstance(err, Exception)):
            return  # emitted before, or an Inngest interrupt (a BaseException): no end
        self.held.unit.error = err
        self.tracing._end(self.held)


@contextlib.contextmanager
def _pending(spec: SpecMaker) -> Iterator[None]:
    token = _PENDING.set(spec)
    try:
        yield
    finally:
        _PENDING.reset(token)


@contextlib.contextmanager
def _use(span: Any) -> Iterator[None]:
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


def _event_ns(runner: StepRunner) -> int | None:
    """The time of the run's triggering event (Inngest), in nanoseconds."""
    ts = getattr(getattr(getattr(runner, "ctx", None), "event", None), "ts", None)
    return ts * 1_000_000 if isinstance(ts, int) and ts > 0 else None


def _final(runner: StepRunner, err: BaseException) -> bool:
    """Whether a durable run's error ends it (Inngest will not call again)."""
    if not retriable_failure(err):
        return True
    attempt = getattr(getattr(runner, "ctx", None), "attempt", 0)
    attempts = getattr(runner, "max_attempts", 1)
    return isinstance(attempt, int) and isinstance(attempts, int) and attempt + 1 >= attempts


def annotate_current_span(attributes: Mapping[str, object]) -> None:
    """Add ``attributes`` to the span of the step body running now.

    MCP calls use it to describe the tool span they run in; nothing when tracing is off.
    """
    if current() is None or CURRENT_STEP.get() is None:
        return
    from opentelemetry import trace

    from .._tracing._attrs import clean_attrs

    trace.get_current_span().set_attributes(clean_attrs(attributes))
