"""The step seam: the only place where the agent and network loops meet a runtime.

Everything with a side effect (an inference, a tool handler, an event wait, an
event send) goes through a :class:`StepRunner`. Two runners implement it:

- :class:`InlineRunner` runs steps inline in plain Python (no Inngest needed);
- ``InngestRunner`` (in :mod:`agentkit_inngest.durable`) maps each call onto the
  Inngest SDK's step API, so outputs are memoized and replays skip the work.

Both runners return every step output after a JSON round trip, so a plain-Python
run sees exactly what a replayed Inngest run sees.

Step IDs are made by the loops (``Triage#1/infer``, ``Triage#1/tool/save_answer``)
and claimed here: a runner refuses an ID it has already seen in the run, so IDs are
unique by construction rather than silently suffixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import (
    AgentKitError,
    ConfigurationError,
    SizeLimitError,
    StepError,
    WaitUnavailableError,
)
from .limits import (
    MAX_STEP_DEPTH,
    Limits,
    NotJSONError,
    json_size,
    plain_json,
    plain_json_text,
)
from .streaming.stream import EXECUTING_STEP, STEP_ATTEMPT, RunStream

if TYPE_CHECKING:
    from .models import Model, TextSink
    from .streaming.publishers import Publisher

__all__ = [
    "Body",
    "EventWait",
    "NoSteps",
    "InlineRunner",
    "Invocation",
    "StepRunner",
    "StepTools",
    "json_roundtrip",
]

T = TypeVar("T")
logger = logging.getLogger("agentkit_inngest")

Duration = int | float | datetime.timedelta
"""Milliseconds (``int``/``float``) or a :class:`datetime.timedelta`."""


Body = dict[str, Any] | Callable[[], dict[str, Any]]
"""A provider request body, or a function that builds it when the inference runs."""


@dataclasses.dataclass
class CarriedMemos:
    """How the run's memos reached the app for the request being served, in bytes.

    Inngest inlines them in the request while they total under 4 MB - 1 KB; above
    that the request carries none (``use_api``) and the SDK fetches them from the
    Inngest API. Both sizes together hold every memo, in either mode.
    """

    request: int
    """The request's body (the event, and the memos when inlined)."""
    fetched: int = 0
    """The memos fetched from ``GET /v0/runs/{id}/actions`` for this request."""

    @property
    def total(self) -> int:
        return self.request + self.fetched


REQUEST_BYTES: contextvars.ContextVar[CarriedMemos | None] = contextvars.ContextVar(
    "agentkit_request_bytes", default=None
)
"""The memos the Inngest request being served carried, or fetched; set by the app
built with :func:`~agentkit_inngest.server.create_server`."""


def build_body(body: Body) -> dict[str, Any]:
    """The request body of :data:`Body` (calling the function if it is one)."""
    return body() if callable(body) else body


def to_timedelta(value: Duration) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(milliseconds=value)


def gave_up(attempts: int, message: str) -> str:
    """The error of a step whose retries are spent: how many attempts were made, and
    the last attempt's error without its "(will retry)" (no retry follows)."""
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    return f"{message.replace(' (will retry)', '')} (gave up after {tries})"


def _not_json(step_id: str, err: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"step {step_id!r} returned a value that is not JSON: {err}; "
        "return plain dicts/lists/str/numbers, or call .model_dump(mode='json')"
    )


def json_roundtrip(step_id: str, value: object) -> Any:
    """``value`` as it comes back from a memo: encoded to JSON and decoded again (a
    lone surrogate comes back as U+FFFD, as from the Inngest server)."""
    try:
        return json.loads(plain_json_text(value, max_depth=MAX_STEP_DEPTH))
    except NotJSONError as err:
        raise _not_json(step_id, err) from err


@dataclasses.dataclass(frozen=True)
class EventWait:
    """What a step is waiting for: an event name, an optional match expression, a timeout."""

    step_id: str
    event: str
    if_exp: str | None
    timeout: datetime.timedelta


@dataclasses.dataclass(frozen=True)
class Invocation:
    """A request to run another Inngest function and wait for its result."""

    step_id: str
    function_id: str
    data: Mapping[str, Any]
    timeout: datetime.timedelta | None


EventWaiter = Callable[[EventWait], Awaitable[Mapping[str, Any] | None]]
"""Answers an event wait in a plain-Python run: the event, or ``None`` for a timeout."""

Invoker = Callable[[Invocation], Awaitable[Any]]
"""Runs an invoked function in a plain-Python run."""

EventSender = Callable[[list[dict[str, Any]]], Awaitable[list[str]]]
"""Sends events in a plain-Python run; returns their ids."""


class StepRunner(ABC):
    """Runs steps. One instance serves exactly one run (it tracks the IDs it has seen).

    Args:
        limits: size limits of the run's step outputs, state and tool results
            (default :class:`~agentkit_inngest.limits.Limits`).
    """

    durable: bool = False
    """``True`` when outputs are memoized by Inngest and code outside steps is replayed."""

    def __init__(self, *, limits: Limits | None = None) -> None:
        self._claimed: set[str] = set()
        self._calls: dict[str, int] = {}
        self.stream = RunStream(self)
        self.limits = limits if limits is not None else Limits()
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
        """``False`` in a request that targets one planned step: the request that
        planned it has published the stream events held before it."""
        return True

    async def _step(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one step call; when the step is new in a discovering request (not
        memoized), publish the stream events produced since the previous step."""
        index = self.claims
        if self.stream.publisher is None:
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

    def _executing(self, index: int, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """``fn`` marked as the body of step ``index`` (its events publish at once)."""
        if self.stream.publisher is None:
            return fn

        async def body() -> T:
            token = EXECUTING_STEP.set(index)
            try:
                if self.discovering:
                    await self.stream.flush_before(index)
                return await fn()
            finally:
                EXECUTING_STEP.reset(token)

        return body

    # -- size bounds -------------------------------------------------------------------

    def bounded(
        self, step_id: str, fn: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """``fn`` with its output checked inside the step, before it can be memoized:
        a non-JSON value, an output over ``limits.step_bytes`` or one that would take
        the run past ``limits.run_bytes`` raises a non-retriable error. Lone surrogates
        in strings become U+FFFD here, as the Inngest server would make them."""

        async def checked() -> Any:
            try:
                output, size = plain_json(await fn(), max_depth=MAX_STEP_DEPTH)
            except NotJSONError as err:
                raise _not_json(step_id, err) from err
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
            return output

        return checked

    def memo_total(self) -> int:
        """Bytes of the run's memoized step outputs so far. Under Inngest, when the app
        knows how many bytes brought them (the request, plus what the SDK fetched from
        the API when the memos were too large to inline), that size is used instead of
        encoding each memo again on every replay."""
        carried = REQUEST_BYTES.get() if self.durable else None
        return carried.total if carried is not None else self.memo_bytes

    def _account(self, output: Any) -> Any:
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
        body = self._executing(self.claims, self.bounded(claimed, fn))
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
        """One model call; returns the provider's raw JSON response. With ``on_text``,
        an in-process call streams and reports text as it arrives.

        ``body`` may be a function that builds the request body: an in-process call
        builds it inside the step, so a replay that reads the memo does not convert
        the whole conversation to the provider's format again. An in-process answer's
        size is checked (:meth:`bounded`) inside the step.
        """
        claimed = self.claim(step_id)
        index = self.claims

        async def call_model() -> dict[str, Any]:
            return await model.complete(build_body(body), on_text=on_text)

        checked = self._executing(index, self.bounded(claimed, call_model))
        answer: dict[str, Any] = await self._step(
            lambda: self._infer(claimed, model, body, checked)
        )
        self._account(answer)
        return answer

    async def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: Duration
    ) -> dict[str, Any] | None:
        """Wait for an event; ``None`` when the timeout passes first."""
        wait = EventWait(self.claim(step_id), event, if_exp, to_timedelta(timeout))
        event_data = await self._step(lambda: self._wait_for_event(wait))
        self._account(event_data)
        return event_data

    async def invoke(
        self,
        step_id: str,
        *,
        function_id: str,
        data: Mapping[str, Any],
        timeout: Duration | None = None,
    ) -> Any:
        """Run another Inngest function and return its output."""
        invocation = Invocation(
            self.claim(step_id),
            function_id,
            data,
            None if timeout is None else to_timedelta(timeout),
        )
        return self._account(await self._step(lambda: self._invoke(invocation)))

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run (durably under Inngest: no compute is held)."""
        claimed = self.claim(step_id)
        await self._step(lambda: self._sleep(claimed, to_timedelta(duration)))

    async def send_event(self, step_id: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Send events (``{"name": ..., "data": {...}}``) once; returns their ids."""
        payload = [dict(e) for e in events]
        claimed = self.claim(step_id)
        ids = await self._step(lambda: self._send_event(claimed, payload))
        self._account(ids)
        return ids

    # -- what runners implement ---------------------------------------------------------

    @abstractmethod
    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any: ...

    @abstractmethod
    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]: ...

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
    async def _wait_for_event(self, wait: EventWait) -> dict[str, Any] | None: ...

    @abstractmethod
    async def _invoke(self, invocation: Invocation) -> Any: ...

    @abstractmethod
    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None: ...

    @abstractmethod
    async def _send_event(self, step_id: str, events: list[dict[str, Any]]) -> list[str]: ...


class InlineRunner(StepRunner):
    """Runs steps inline, in plain Python.

    Retriable failures (provider rate limits and outages, :class:`ToolRetry`) are
    retried up to ``max_attempts`` times with exponential backoff starting at
    ``backoff`` seconds, honouring a provider's ``retry-after`` (capped at
    ``max_backoff``). Event waits, invokes and event sends need the optional
    callables; without them those steps raise :class:`WaitUnavailableError`.
    With ``publisher`` the run's progress is streamed (on ``channel``, default
    ``run:<run id>``).
    ``limits`` bounds step outputs, state and tool results exactly as under Inngest.
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
        super().__init__(limits=limits)
        if max_attempts < 1:
            raise ConfigurationError("InlineRunner(max_attempts=...) must be at least 1")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._on_wait = on_wait_for_event
        self._on_invoke = on_invoke
        self._on_send = on_send_event
        self._run_id = f"inline-{uuid.uuid4()}"
        if publisher is not None:
            self.stream.configure(publisher, channel=channel)

    @property
    def run_id(self) -> str:
        return self._run_id

    async def _attempts(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            token = STEP_ATTEMPT.set(attempt)
            try:
                return json_roundtrip(step_id, await fn())
            except AgentKitError as err:
                attempt += 1
                if not err.retriable:
                    raise
                if attempt >= self.max_attempts:
                    raise StepError(step_id, gave_up(attempt, str(err))) from err
                delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                hinted = getattr(err, "retry_after", None)
                if isinstance(hinted, (int, float)):
                    delay = min(max(delay, float(hinted)), self.max_backoff)
                logger.warning(
                    "step %s failed (attempt %d/%d), retrying in %.2fs: %s",
                    step_id,
                    attempt,
                    self.max_attempts,
                    delay,
                    err,
                )
                await asyncio.sleep(delay)
            finally:
                STEP_ATTEMPT.reset(token)

    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        return await self._attempts(step_id, fn)

    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        return list(await asyncio.gather(*(thunk() for thunk in thunks)))

    async def _infer(
        self,
        step_id: str,
        model: Model,
        body: Body,
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

    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None:
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


class StepTools:
    """The step API handed to tools that orchestrate steps themselves.

    Every ID is prefixed with the tool call's own path, e.g.
    ``Support#1/tool/ask_developer/wait``, so IDs stay deterministic and unique.
    """

    def __init__(self, runner: StepRunner, prefix: str) -> None:
        self._runner = runner
        self.prefix = prefix

    def _id(self, name: str) -> str:
        if not name or "/" in name:
            raise ConfigurationError(f"step name {name!r} must be non-empty and contain no '/'")
        return f"{self.prefix}/{name}"

    @property
    def durable(self) -> bool:
        return self._runner.durable

    async def run(self, name: str, fn: Callable[[], Awaitable[Any] | Any]) -> Any:
        """Run ``fn`` (sync or async) once as a step."""

        async def call() -> Any:
            out = fn()
            if asyncio.iscoroutine(out) or isinstance(out, asyncio.Future):
                return await out
            return out

        return await self._runner.run(self._id(name), call)

    async def wait_for_event(
        self, name: str, *, event: str, if_exp: str | None = None, timeout: Duration
    ) -> dict[str, Any] | None:
        return await self._runner.wait_for_event(
            self._id(name), event=event, if_exp=if_exp, timeout=timeout
        )

    async def invoke(
        self,
        name: str,
        *,
        function_id: str,
        data: Mapping[str, Any],
        timeout: Duration | None = None,
    ) -> Any:
        return await self._runner.invoke(
            self._id(name), function_id=function_id, data=data, timeout=timeout
        )

    async def sleep(self, name: str, duration: Duration) -> None:
        await self._runner.sleep(self._id(name), duration)

    async def send_event(self, name: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        return await self._runner.send_event(self._id(name), events)


class NoSteps(StepTools):
    """``ctx.step`` of a tool that runs inside a step: using it is a clear error,
    because Inngest steps cannot nest."""

    def __init__(self, runner: StepRunner, tool_name: str) -> None:
        super().__init__(runner, "")
        self._tool_name = tool_name

    def _id(self, name: str) -> str:
        raise ConfigurationError(
            f"tool {self._tool_name!r} runs inside a step and cannot start step {name!r}; "
            "declare it with uses_steps=True to orchestrate steps itself"
        )
