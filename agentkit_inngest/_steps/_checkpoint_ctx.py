"""Checkpointed steps: a function's ``ctx.step`` and ``ctx.group``, steps one after another.

How (the protocol note's "Design A"; the server's side is ``checkpointAsyncSteps`` in
``pkg/execution/checkpoint/checkpoint.go`` of ``inngest/inngest``, the client's the
``inngest`` npm SDK's ``checkpointing``): :func:`checkpointed_context` wraps the
context a handler receives. ``step.run`` still goes through the SDK, which decides as
always whether the step's body runs here (a memo, a targeted or parallel request
decide otherwise), and the body is wrapped:

1. the user's body runs and its output is made JSON (the value a replay would read);
2. the output is reported to ``POST /v1/checkpoint/{run_id}/async``;
3. **acknowledged** (2xx): the body leaves ``step.run`` through :class:`_Checkpointed`,
   a ``BaseException`` the SDK lets through (``inngest`` 0.5's ``Step.run`` catches only
   ``Exception`` and its own interrupts), carrying the output to the caller: the step
   is a memo now, and the function goes on in this request;
4. **not acknowledged** (the server could not be reached after retries, a 4xx or 5xx,
   an output over 4 MiB): the body *returns* the output, and the SDK reports it the
   ordinary way (a ``StepRun`` op ending the request): the server saves it, the step
   does not run a second time. When the answer was lost on the way, the run's saved
   steps are read first (``GET /v0/runs/{id}/actions``): a step the server did save is
   treated as acknowledged, because the server schedules nothing after a ``StepRun``
   for a step it already holds;
5. **stale** (409: the server retried this request elsewhere): as 4, and this request
   checkpoints nothing more.

A step that raises is left to the SDK (its ``StepError``/``StepFailed`` end the request),
and steps only the server can do (``wait_for_event``, ``sleep``, ``invoke``,
``step.ai.infer``) end the request as before. Once the time budget has passed, the
next new step is planned (handed back to the server) instead of run here.

Requests that cannot checkpoint get the context unchanged: a server that sends no
``fn_id``/``qi_id``, a request that targets one step or follows parallel steps
(``disable_immediate_execution``), and retries (``attempt > 0``): the server resets a
queue item's attempts on every checkpoint, while the SDK counts a step's attempts from
the request's, so a retried request runs its next step the ordinary way and the count
stays the SDK's.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import inngest

from .._checkpoint import CheckpointClient, CheckpointOutcome, CheckpointStep
from .._json import MAX_STEP_DEPTH, NotJSONError, plain_json_text
from .._request_context import RequestContext, current_disconnect_probe, current_request_context
from ._checkpointing import Checkpointing, checkpoint_client
from ._types import REQUEST_BYTES

__all__ = ["CheckpointSession", "StepNote", "checkpointed_context", "current_note"]

_UNSET: Any = object()
_AMBIGUOUS = frozenset({429, 500, 502, 503, 504})


@dataclasses.dataclass
class StepNote:
    """What the body of the step being checkpointed says about itself.

    What the body of the step being checkpointed says about itself (an in-process inference
    marks its op as an AI call).
    """

    record_prompts: bool = False
    opts: dict[str, Any] | None = None
    metadata: list[dict[str, Any]] | None = None


_NOTE: contextvars.ContextVar[StepNote | None] = contextvars.ContextVar(
    "agentkit_checkpoint_note", default=None
)


def current_note() -> StepNote | None:
    """The note of the step body being checkpointed in this task, if any."""
    return _NOTE.get()


class _Checkpointed(BaseException):
    """Leaves the SDK's ``step.run`` once the server has acknowledged the step."""

    def __init__(self, output: Any) -> None:
        super().__init__("checkpointed")
        self.output = output


class CheckpointSession:
    """The checkpoints of one request: where they go, the budget, whether it still checkpoints."""

    def __init__(self, context: RequestContext, config: Checkpointing, client: CheckpointClient):
        self.context = context
        self.config = config
        self.client = client
        self.stopped: str | None = None
        """Why this request checkpoints nothing more (``None`` while it does)."""
        self.acked = 0
        self._probe = current_disconnect_probe()
        budget = config.budget_seconds
        self._deadline = None if budget is None else context.started_at_ms / 1000 + budget

    @property
    def live(self) -> bool:
        """Whether steps are still checkpointed in this request."""
        return self.stopped is None

    def spent(self) -> bool:
        """Whether the time budget has passed."""
        return self._deadline is not None and time.time() >= self._deadline

    def memoized(self, hashed_id: str) -> bool:
        """Whether the server said it holds the step (it is not run again)."""
        return hashed_id in self.context.memoized

    async def may_start(self) -> bool:
        """Whether a new step may run here.

        It may when within the budget and the server still waits for this request (after it gave
        up, a retry owns the run: a step started here would run twice). Stops checkpointing when
        not.
        """
        if self.stopped is not None:
            return False
        if self.spent():
            self.stopped = "the time budget is spent"
        elif self._probe is not None and await self._probe():
            self.stopped = "the server closed the request"
        return self.stopped is None

    def body(
        self, step: CheckpointStep, handler: Callable[..., Any], args: Sequence[Any]
    ) -> Callable[[], Awaitable[Any]]:
        """The body the SDK runs for ``step`` (its ``data`` filled in when it has run)."""

        async def run() -> Any:
            note = StepNote(record_prompts=self.config.record_prompts)
            token = _NOTE.set(note)
            started = time.time()
            try:
                output = handler(*args)
                if inspect.isawaitable(output):
                    output = await output
            finally:
                _NOTE.reset(token)
            try:  # the value a replay reads back (a lone surrogate as U+FFFD, as the server's)
                encoded = plain_json_text(output, max_depth=MAX_STEP_DEPTH)
                data = json.loads(encoded)
            except NotJSONError:
                return output  # not JSON: the SDK reports it, exactly as without checkpoints
            done = dataclasses.replace(
                step,
                data=data,
                started_at=started,
                ended_at=time.time(),
                opts=note.opts,
                metadata=note.metadata,
            )
            if await self.settle(done):
                carried = REQUEST_BYTES.get()
                if carried is not None:  # a memo the request did not bring: count it
                    carried.checkpointed += len(encoded.encode("utf-8"))  # as memos count
                raise _Checkpointed(data)
            return output

        return run

    async def settle(self, step: CheckpointStep) -> bool:
        """Report ``step``; ``True`` when the server holds it (carry on in process)."""
        if self.stopped is not None:
            return False
        outcome = await self.client.checkpoint(self.context, [step])
        if outcome.acked:
            self.acked += 1
            return True
        if outcome.stale:
            self.stopped = f"stale dispatch: {outcome.reason}"
            return False
        if _ambiguous(outcome):
            hashed = step.hashed_id or _hashed(step.step_id)
            if await self.client.saved(self.context, [hashed]):
                self.acked += 1
                return True
        self.stopped = f"checkpoint failed: {outcome.reason}"
        return False


def _ambiguous(outcome: CheckpointOutcome) -> bool:
    """Whether the server may have saved the step although it did not say so."""
    return outcome.calls > 0 and (outcome.http_status is None or outcome.http_status in _AMBIGUOUS)


def _hashed(step_id: str) -> str:
    return hashlib.sha1(step_id.encode("utf-8")).hexdigest()


class CheckpointedStep:
    """``ctx.step`` of a checkpointed request.

    ``run`` and ``send_event`` checkpoint, the other methods are the SDK's. It counts reused
    step ids as the SDK does (``step_counts``, which a memo read elsewhere counts in too), so
    a checkpoint names a step exactly as the SDK's own op would.
    """

    def __init__(
        self, step: inngest.Step, group: Any, session: CheckpointSession, client: inngest.Inngest
    ) -> None:
        self._step = step
        self._group = group
        self._session = session
        self._client = client
        self.step_counts: dict[str, int] = {}
        self.ai = _CountedAI(self, step.ai)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._step, name)

    @property
    def sdk_step(self) -> inngest.Step:
        """The SDK's own step API this one wraps."""
        return self._step

    def _count(self, step_id: str) -> CheckpointStep:
        count = self.step_counts.get(step_id, 0) + 1
        self.step_counts[step_id] = count
        if count == 1:
            return CheckpointStep(step_id, None)
        return CheckpointStep(
            step_id, None, hashed_id=_hashed(f"{step_id}:{count - 1}"), index=count - 1
        )

    async def run(
        self,
        step_id: str,
        handler: Callable[..., Any],
        *handler_args: Any,
        output_type: Any = _UNSET,
    ) -> Any:
        """``step.run``, checkpointed (see the module docstring)."""
        step = self._count(step_id)
        if output_type is not _UNSET:  # the client's serializer: the ordinary way
            return await self._step.run(step_id, handler, *handler_args, output_type=output_type)
        session = self._session
        if session.memoized(step.hashed_id or _hashed(step_id)):  # the SDK returns the memo
            return await self._step.run(step_id, handler, *handler_args)
        if not await session.may_start():  # plan it: the server calls the app again for it
            planned = await self._group.parallel(
                (lambda: self._step.run(step_id, handler, *handler_args),)
            )
            return planned[0]
        try:
            return await self._step.run(step_id, self._session.body(step, handler, handler_args))
        except _Checkpointed as done:
            return done.output

    async def send_event(self, step_id: str, events: Any) -> list[str]:
        """``step.send_event``, as a checkpointed step (the SDK's is a ``step.run``)."""
        client = self._client

        async def send() -> list[str]:
            return await client.send(events)

        ids: list[str] = await self.run(step_id, send)
        return ids

    async def invoke(self, step_id: str, **options: Any) -> Any:
        self._count(step_id)
        return await self._step.invoke(step_id, **options)

    async def invoke_by_id(self, step_id: str, **options: Any) -> Any:
        self._count(step_id)
        return await self._step.invoke_by_id(step_id, **options)

    async def sleep(self, step_id: str, duration: Any) -> None:
        self._count(step_id)
        await self._step.sleep(step_id, duration)

    async def sleep_until(self, step_id: str, until: Any) -> None:
        self._count(step_id)
        await self._step.sleep_until(step_id, until)

    async def wait_for_event(self, step_id: str, **options: Any) -> Any:
        self._count(step_id)
        return await self._step.wait_for_event(step_id, **options)


class _CountedAI:
    """``ctx.step.ai``: the SDK's, counting its step ids."""

    def __init__(self, step: CheckpointedStep, ai: Any) -> None:
        self._owner = step
        self._ai = ai

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ai, name)

    async def infer(self, step_id: str, **options: Any) -> Any:
        self._owner._count(step_id)
        return await self._ai.infer(step_id, **options)


class CheckpointedGroup:
    """``ctx.group`` of a checkpointed request.

    Parallel steps run concurrently in this request (the SDK would plan them, and the server
    would then plan every later step of the run too), each checkpointing its own result.
    """

    def __init__(self, group: Any, session: CheckpointSession) -> None:
        self._group = group
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)

    async def parallel(
        self, callables: tuple[Callable[[], Awaitable[Any]], ...], parallel_mode: Any = _UNSET
    ) -> tuple[Any, ...]:
        """Run ``callables`` at once; results keep their order."""
        options = {} if parallel_mode is _UNSET else {"parallel_mode": parallel_mode}
        if not self._session.live:
            return cast(tuple[Any, ...], await self._group.parallel(callables, **options))
        results = await asyncio.gather(*(_awaited(c) for c in callables), return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
        # the SDK's interrupts (an op to report: a step that fell back, a wait) are
        # BaseExceptions; they win over errors raised between steps, which a later
        # request meets again, so that no finished step's output is dropped
        interrupts = [r for r in results if _interrupt(r)]
        if interrupts:
            replay = [r for r in results if not isinstance(r, Exception)]
            await self._group.parallel(tuple(_replayer(r) for r in replay), **options)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return tuple(results)


class _RetriedGroup:
    """``ctx.group`` of a retried request (no checkpoints): parallel steps one after another.

    A step that failed in the checkpointed request, where its group ran in process,
    then runs again here under this attempt and reports its result or error on this
    queue item, the ordinary way; the SDK would plan it instead, and its retry would
    start again at attempt 0 in a queue item of its own.
    """

    async def parallel(
        self, callables: tuple[Callable[[], Awaitable[Any]], ...], parallel_mode: Any = _UNSET
    ) -> tuple[Any, ...]:
        """Run ``callables`` in order; the first new step ends the request."""
        del parallel_mode  # nothing is planned here
        return tuple([await call() for call in callables])


def _interrupt(value: object) -> bool:
    return isinstance(value, BaseException) and not isinstance(value, Exception)


async def _awaited(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()


def _replayer(value: Any) -> Callable[[], Awaitable[Any]]:
    async def replay() -> Any:
        if isinstance(value, BaseException):
            raise value
        return value

    return replay


def checkpointed_context(
    ctx: inngest.Context, config: Checkpointing | None, client: inngest.Inngest
) -> inngest.Context:
    """``ctx`` with checkpointed steps when it can checkpoint, else ``ctx``.

    ``ctx`` with checkpointed steps when ``config`` turns checkpointing on and the request can
    checkpoint (see the module docstring); ``ctx`` itself otherwise.
    """
    if config is None:
        return ctx
    context = current_request_context()
    if context is None or context.run_id != ctx.run_id or not context.can_checkpoint:
        return ctx
    if ctx.attempt > 0:
        return dataclasses.replace(ctx, group=cast(Any, _RetriedGroup()))
    session = CheckpointSession(context, config, checkpoint_client(client))
    step = CheckpointedStep(ctx.step, ctx.group, session, client)
    group = CheckpointedGroup(ctx.group, session)
    return dataclasses.replace(ctx, step=cast(Any, step), group=cast(Any, group))
