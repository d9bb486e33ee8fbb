"""The step seam: the only place where the run layer meets a runtime.

Everything with a side effect (an inference, a tool handler, an event wait, an
event send) goes through a :class:`StepRunner`. Two runners implement it:

- :class:`~agentkit_inngest.InlineRunner` runs steps inline in plain Python;
- :class:`~agentkit_inngest.InngestRunner` maps each call onto the Inngest SDK's
  step API, so outputs are memoized and replays skip the work.

Both runners return every step output after a JSON round trip, so a plain-Python
run sees exactly what a replayed Inngest run sees.

Step IDs are made by the run layer (``Triage#1/infer``, ``Triage#1/tool/save_answer``)
and claimed here: a runner refuses an ID it has already seen in the run, so IDs are
unique by construction rather than silently suffixed.

Two methods are the seam's hooks for what wraps every step: :meth:`StepRunner._body`
wraps a step's body, the code that runs only when the step really executes (size
bounds, stream events, and the place for a span or a checkpoint), and
:meth:`StepRunner._step` wraps the hand-off to the runtime around it.
"""

from __future__ import annotations

import contextlib
import datetime
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._durations import Duration, parse_duration
from .._json import MAX_STEP_DEPTH, NotJSONError, json_size, not_json_step, plain_json
from .._limits import Limits
from ..errors import SizeLimitError
from ..models import Model, ModelResponse, TextSink
from ._retry import RetryPolicy
from ._stream import EXECUTING_STEP, RunStream
from ._tracing import tracing_for
from ._types import REQUEST_BYTES, Body, EventWait, Invocation, build_body

__all__ = ["StepRunner"]

T = TypeVar("T")


class StepRunner(ABC):
    """Runs steps. One instance serves exactly one run (it tracks the IDs it has seen).

    Args:
        limits: size limits of the run's step outputs, state and tool results
            (default :class:`~agentkit_inngest.Limits`).
        retry: how work retried in process is retried (default :class:`RetryPolicy`).
    """

    durable: bool = False
    """``True`` when outputs are memoized by Inngest and code outside steps is replayed."""

    def __init__(self, *, limits: Limits | None = None, retry: RetryPolicy | None = None) -> None:
        self._claimed: set[str] = set()
        self._calls: dict[str, int] = {}
        self.stream = RunStream(self)
        self.tracing = tracing_for(self)
        self.limits = limits if limits is not None else Limits()
        self.retry = retry if retry is not None else RetryPolicy()
        self.memo_bytes = 0
        """Bytes of JSON of every step output this run has produced or replayed so far."""

    @property
    @abstractmethod
    def run_id(self) -> str:
        """An id of the run, the same on every replay (derive idempotency keys from it)."""

    # -- identifiers -----------------------------------------------------------------

    def next_call(self, name: str) -> str:
        """A readable, deterministic key for the next call of ``name`` in this run: ``name#n``."""
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return f"{name}#{count}"

    def step_key(self, step_id: str) -> str:
        """The id ``step_id`` is claimed under: unique in the function (a runner's prefix)."""
        return step_id

    def claim(self, step_id: str) -> str:
        """Register ``step_id``; a second claim of one ID is a bug in the caller."""
        if step_id in self._claimed:
            raise RuntimeError(f"step id {step_id!r} used twice in one run")
        self._claimed.add(step_id)
        self.stream.on_claim(len(self._claimed))
        return step_id

    @property
    def claims(self) -> int:
        """How many steps the run has reached so far (in this replay)."""
        return len(self._claimed)

    @property
    def discovering(self) -> bool:
        """Whether this request discovers new steps (not when it targets a planned one).

        ``False`` in a request that targets one planned step: the request that planned it has
        published the stream events held before it.
        """
        return True

    # -- what wraps every step ---------------------------------------------------------

    async def _step(self, call: Callable[[], Awaitable[T]]) -> T:
        """Hand one step to the runtime.

        When the step is new in a discovering request (not memoized) and its body does not run
        here, publish the stream events produced since the previous step.
        """
        index = self.claims
        if not self.stream.gated:
            return await call()
        outcome = "interrupted"  # by the runtime's control flow: the step is new here
        try:
            result = await call()
            outcome = "returned"
            return result
        except Exception:
            outcome = "raised"  # a memoized failure, or the body's own error
            raise
        finally:
            if outcome == "interrupted" and self.discovering:
                await self.stream.flush_before(index)

    def _body(
        self, step_id: str, index: int, fn: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """The body of step ``step_id`` (the ``index``-th claimed), as the runtime runs it.

        This is the one place where a step's own work is wrapped: it runs only when
        the step really executes (never when a replay reads its memo), once per
        attempt. Here its output is checked (:meth:`bounded`) and the stream events
        it emits are published at once; tracing spans and checkpoints belong here too.
        """
        checked = self.tracing.wrap(step_id, index, self.bounded(step_id, fn))
        if not self.stream.gated:
            return checked

        async def body() -> Any:
            token = EXECUTING_STEP.set(index)
            try:
                if self.discovering:
                    await self.stream.flush_before(index)
                return await checked()
            finally:
                EXECUTING_STEP.reset(token)

        return body

    # -- size bounds -------------------------------------------------------------------

    def bounded(
        self, step_id: str, fn: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """``fn`` with its output checked inside the step.

        ``fn`` with its output checked inside the step, before it can be memoized: a non-JSON
        value, an output over ``limits.step_bytes`` or one that would take the run past
        ``limits.run_bytes`` raises a non-retriable error. Lone surrogates in strings become
        U+FFFD here, as the Inngest server would make them.
        """

        async def checked() -> Any:
            try:
                output, size = plain_json(await fn(), max_depth=MAX_STEP_DEPTH)
            except NotJSONError as err:
                raise not_json_step(step_id, err) from err
            self._check_size(step_id, size)
            return output

        return checked

    def _check_size(self, step_id: str, size: int) -> None:
        limit = self.limits.step_bytes
        if size > limit:
            raise SizeLimitError(
                f"step {step_id!r} returned {size:,} bytes of JSON, over the limit of "
                f"{limit:,} bytes per step (Limits.step_bytes; Inngest refuses step outputs "
                "over 4 MB): return less, or store large data elsewhere and return a reference",
                size=size,
                limit=limit,
            )
        total, limit = self.memo_total() + size, self.limits.run_bytes
        if total > limit:
            raise SizeLimitError(
                f"step {step_id!r} would bring the run's memoized step outputs to {total:,} "
                f"bytes, over the limit of {limit:,} bytes per run (Limits.run_bytes; "
                "Inngest allows 32 MB a run): keep tool results and state small, or split "
                "the work into several runs",
                size=total,
                limit=limit,
            )

    def memo_total(self) -> int:
        """Bytes of the run's memoized step outputs so far.

        Under Inngest, when the app knows how many bytes brought them (the request, plus what
        the SDK fetched from the API when the memos were too large to inline), that size is used
        instead of encoding each memo again on every replay.
        """
        carried = REQUEST_BYTES.get() if self.durable else None
        return carried.total if carried is not None else self.memo_bytes

    def verified_answer(
        self,
        model: Model,  # noqa: ARG002 - runners that verify answers use both
        raw: dict[str, Any],  # noqa: ARG002
    ) -> ModelResponse | None:
        """The messages of ``raw``, when this runner has just verified them.

        That is: found ``raw`` equal to an answer kept from an earlier request, so the
        caller need not compare it again. ``None`` here.
        """
        return None

    def parse_answer(self, model: Model, raw: dict[str, Any]) -> ModelResponse:
        """``model.parse_response(raw)`` for an answer :meth:`infer` returned.

        ``model.parse_response(raw)`` for an answer :meth:`infer` returned (a runner that has
        already read it may keep the result).
        """
        return model.parse_response(raw)

    def _account(self, output: T) -> T:
        """Count a step output (fresh or replayed) towards the run's memoized bytes."""
        if self.durable and REQUEST_BYTES.get() is not None:
            return output  # the request's size already counts it
        with contextlib.suppress(TypeError, ValueError):  # memos are JSON; be lenient anyway
            self.memo_bytes += json_size(output)
        return output

    # -- the step API -----------------------------------------------------------------

    async def run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` once as a step; returns its JSON output (memoized when durable)."""
        claimed = self.claim(step_id)
        body = self._body(claimed, self.claims, fn)
        return self._account(await self._step(lambda: self._run(claimed, body)))

    async def parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run several step-producing callables as parallel steps; results keep their order."""
        if not thunks:
            return []
        if len(thunks) == 1:
            return [await thunks[0]()]
        return await self._parallel(thunks)

    async def infer(
        self,
        step_id: str,
        model: Model,
        body: Body,
        *,
        on_text: TextSink | None = None,
    ) -> dict[str, Any]:
        """One model call.

        Returns the provider's raw JSON response. With ``on_text``, an in-process call streams
        and reports text as it arrives.

        ``body`` may be a function that builds the request body: an in-process call
        builds it inside the step, so a replay that reads the memo does not convert
        the whole conversation to the provider's format again. An in-process answer's
        size is checked (:meth:`bounded`) inside the step.
        """
        claimed = self.claim(step_id)

        async def call_model() -> dict[str, Any]:
            return await model.complete(build_body(body), on_text=on_text)

        checked = self._body(claimed, self.claims, call_model)
        answer: dict[str, Any] = await self._step(
            lambda: self._infer(claimed, model, body, checked)
        )
        return self._account(answer)

    async def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: Duration
    ) -> dict[str, Any] | None:
        """Wait for an event; ``None`` when the timeout passes first."""
        limit = parse_duration(timeout, field=f"step {step_id!r} timeout")
        wait = EventWait(self.claim(step_id), event, if_exp, limit)
        event_data = await self._step(lambda: self._wait_for_event(wait))
        return self._account(event_data)

    async def invoke(
        self,
        step_id: str,
        *,
        function_id: str,
        data: Mapping[str, Any],
        timeout: Duration | None = None,
    ) -> Any:
        """Run another Inngest function and return its output."""
        limit = (
            None if timeout is None else parse_duration(timeout, field=f"step {step_id!r} timeout")
        )
        invocation = Invocation(self.claim(step_id), function_id, data, limit)
        return self._account(await self._step(lambda: self._invoke(invocation)))

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run (durably under Inngest: no compute is held)."""
        pause = parse_duration(duration, field=f"step {step_id!r} duration", allow_zero=True)
        claimed = self.claim(step_id)
        await self._step(lambda: self._sleep(claimed, pause))

    async def send_event(self, step_id: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Send events (``{"name": ..., "data": {...}}``) once; returns their ids."""
        payload = [dict(e) for e in events]
        claimed = self.claim(step_id)
        ids = await self._step(lambda: self._send_event(claimed, payload))
        return self._account(ids)

    # -- what runners implement ---------------------------------------------------------

    @abstractmethod
    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run the body ``fn`` of step ``step_id`` (or read its memo)."""

    @abstractmethod
    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run the step-producing ``thunks`` as parallel steps."""

    @abstractmethod
    async def _infer(
        self,
        step_id: str,
        model: Model,
        body: Body,
        call_model: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Make the model call: ``call_model`` in process, or hand ``body`` to Inngest."""

    @abstractmethod
    async def _wait_for_event(self, wait: EventWait) -> dict[str, Any] | None:
        """Wait for an event (``None`` on timeout)."""

    @abstractmethod
    async def _invoke(self, invocation: Invocation) -> Any:
        """Run another function and return its output."""

    @abstractmethod
    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None:
        """Pause the run."""

    @abstractmethod
    async def _send_event(self, step_id: str, events: list[dict[str, Any]]) -> list[str]:
        """Send events; return their ids."""
