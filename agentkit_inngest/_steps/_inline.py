"""The plain-Python side of the step seam: steps run inline, retried in process."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._json import json_roundtrip
from .._limits import Limits
from ..errors import AgentKitError, StepError, WaitUnavailableError
from ..models import Model
from ._retry import RetryPolicy
from ._runner import StepRunner
from ._stream import STEP_ATTEMPT
from ._types import Body, EventSender, EventWait, EventWaiter, Invocation, Invoker, gave_up

if TYPE_CHECKING:
    from ..streaming._publishers import Publisher

__all__ = ["InlineRunner"]

T = TypeVar("T")


class InlineRunner(StepRunner):
    """Runs steps inline, in plain Python.

    Retriable failures (provider rate limits and outages, :class:`ToolRetry`) are
    retried up to ``max_attempts`` times with exponential backoff starting at
    ``backoff`` seconds, honouring a provider's ``retry-after`` (capped at
    ``max_backoff``): the run's :class:`RetryPolicy`, also available as ``retry``.
    Event waits, invokes and event sends need the optional callables; without them
    those steps raise :class:`WaitUnavailableError`. With ``publisher`` the run's
    progress is streamed (on ``channel``, default ``run:<run id>``). ``limits``
    bounds step outputs, state and tool results exactly as under Inngest.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        on_wait_for_event: EventWaiter | None = None,
        on_invoke: Invoker | None = None,
        on_send_event: EventSender | None = None,
        publisher: Publisher | None = None,
        channel: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        retry = RetryPolicy(max_attempts=max_attempts, backoff=backoff, max_backoff=max_backoff)
        super().__init__(limits=limits, retry=retry)
        self._on_wait = on_wait_for_event
        self._on_invoke = on_invoke
        self._on_send = on_send_event
        self._run_id = f"inline-{uuid.uuid4()}"
        if publisher is not None:
            self.stream.configure(publisher, channel=channel)

    @property
    def run_id(self) -> str:
        """A fresh id per runner (``inline-<uuid>``)."""
        return self._run_id

    @property
    def max_attempts(self) -> int:
        """Attempts per step (the retry policy's)."""
        return self.retry.max_attempts

    @property
    def backoff(self) -> float:
        """Seconds before the first retry (the retry policy's)."""
        return self.retry.backoff

    @property
    def max_backoff(self) -> float:
        """The longest wait between attempts (the retry policy's)."""
        return self.retry.max_backoff

    async def _attempts(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        async def attempt(number: int) -> Any:
            token = STEP_ATTEMPT.set(number)
            try:
                return json_roundtrip(step_id, await fn())
            finally:
                STEP_ATTEMPT.reset(token)

        try:
            return await self.retry.call(attempt, retriable=_retriable, what=f"step {step_id}")
        except AgentKitError as err:
            if not err.retriable:
                raise
            spent = gave_up(self.retry.max_attempts, str(err))
            raise StepError(step_id, spent) from err

    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        return await self._attempts(step_id, fn)

    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        return list(await asyncio.gather(*(thunk() for thunk in thunks)))

    async def _infer(
        self,
        step_id: str,
        model: Model,  # noqa: ARG002 - StepRunner._infer's shape; offloading runners read it
        body: Body,  # noqa: ARG002 - as ``model``
        call_model: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._attempts(step_id, call_model)
        return result

    async def _wait_for_event(self, wait: EventWait) -> dict[str, Any] | None:
        if self._on_wait is None:
            raise WaitUnavailableError(
                f"step {wait.step_id!r} waits for event {wait.event!r}, which needs Inngest; "
                "in plain Python pass InlineRunner(on_wait_for_event=...)"
            )
        event = await self._on_wait(wait)
        return None if event is None else json_roundtrip(wait.step_id, dict(event))

    async def _invoke(self, invocation: Invocation) -> Any:
        if self._on_invoke is None:
            raise WaitUnavailableError(
                f"step {invocation.step_id!r} invokes function {invocation.function_id!r}, "
                "which needs Inngest; in plain Python pass InlineRunner(on_invoke=...)"
            )
        return json_roundtrip(invocation.step_id, await self._on_invoke(invocation))

    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None:  # noqa: ARG002
        # StepRunner._sleep's signature: the Inngest runner names its sleep step ``step_id``.
        await asyncio.sleep(duration.total_seconds())

    async def _send_event(self, step_id: str, events: list[dict[str, Any]]) -> list[str]:
        if self._on_send is None:
            raise WaitUnavailableError(
                f"step {step_id!r} sends events, which needs Inngest; "
                "in plain Python pass InlineRunner(on_send_event=...)"
            )
        sender = self._on_send
        ids: list[str] = await self._attempts(step_id, lambda: sender(events))
        return ids


def _retriable(err: Exception) -> bool:
    return isinstance(err, AgentKitError) and err.retriable
