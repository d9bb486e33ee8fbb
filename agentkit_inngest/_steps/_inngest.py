"""The Inngest side of the step seam.

:class:`InngestRunner` maps every :class:`~agentkit_inngest.StepRunner` call
onto the Inngest SDK's step API, so each inference and tool call is a memoized
step: on replay the SDK hands back the recorded output instead of running the
work again. Errors are classified on the way out:

- a non-retriable :class:`~agentkit_inngest.errors.AgentKitError` (bad
  configuration, a 4xx from a provider, a size limit) ends the step: its failure is
  memoized and raised outside the step as :class:`StepError` on every replay, so
  the step never runs again (the run then fails with ``inngest.NonRetriableError``,
  unless a tool that orchestrates steps reports it to the model);
- a retriable one with a ``retry_after`` becomes ``inngest.RetryAfterError``;
- any other exception fails the step, which Inngest retries.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import inngest

from .._checkpoint import hashed_step_id
from .._limits import Limits
from .._request_context import current_request_context
from ..errors import AgentKitError, ConfigurationError, FatalProviderError, StepError, ToolRetry
from ..models import Model, ModelResponse
from ._ai_view import described_inference
from ._answers import kept_answer
from ._memos import MISSING, MemoReader
from ._retry import RetryPolicy
from ._runner import StepRunner
from ._stream import STEP_ATTEMPT
from ._types import REQUEST_BYTES, Body, EventWait, Invocation, build_body, gave_up

__all__ = ["InngestRunner", "count_fetched_memos", "to_inngest_error"]

T = TypeVar("T")


def to_inngest_error(err: AgentKitError) -> Exception:
    """The Inngest control exception that carries ``err``'s retry policy."""
    if not err.retriable:
        return inngest.NonRetriableError(str(err))
    retry_after = getattr(err, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        return inngest.RetryAfterError(str(err), datetime.timedelta(seconds=retry_after))
    return err


def count_fetched_memos(client: inngest.Inngest) -> bool:
    """Count the memos the SDK fetches towards the request being served.

    Count the memos the SDK fetches from the Inngest API towards the request being served
    (``REQUEST_BYTES``).

    Inngest sends the memos inside the request only while they total under
    4 MB - 1 KB; a larger run's requests say ``use_api`` and the SDK fetches the memos
    from ``GET /v0/runs/{id}/actions`` (``inngest/_internal/comm_lib/handler.py``).
    The size of that answer is read here, so the run-size bound holds in both modes
    without encoding the memos again. Returns ``False`` when the SDK's HTTP client
    (internal to ``inngest``) is not where version 0.5 keeps it; the caller then
    falls back to encoding each memo.
    """
    http = getattr(getattr(client, "_http_client", None), "_http_client", None)
    if not isinstance(http, httpx.AsyncClient):
        return False
    hooks = http.event_hooks
    if _count_actions not in hooks["response"]:
        http.event_hooks = {**hooks, "response": [*hooks["response"], _count_actions]}
    return True


async def _count_actions(response: httpx.Response) -> None:
    carried = REQUEST_BYTES.get()
    path = response.request.url.path
    if carried is None or not (path.startswith("/v0/runs/") and path.endswith("/actions")):
        return
    if response.status_code < 400:
        carried.fetched += len(await response.aread())


class _RetryLater(ToolRetry):
    """A step failed with a retriable error that asks for a delay (a 429's ``retry-after``).

    The SDK lets its ``RetryAfterError`` escape ``step.run`` without a memo; carried as a
    :class:`ToolRetry` it also passes through tools that orchestrate steps (which report other
    errors to the model), so the request is retried after the delay and the step runs again
    then.
    """


_FAILED = "__agentkit_step_failed__"
"""The one key of a memo that records a step's final failure."""


def _classified(fn: Callable[[], Awaitable[Any]], attempt: int) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        token = STEP_ATTEMPT.set(attempt)
        try:
            return await fn()
        except AgentKitError as err:
            if not err.retriable:
                # Retrying cannot help, so the step is over: memoize its failure and raise
                # it outside the step on every replay. (An inngest.NonRetriableError would
                # skip the memo; a tool that catches it would then run the step again on
                # every replay.)
                return {_FAILED: {"name": type(err).__name__, "message": str(err)}}
            mapped = to_inngest_error(err)
            if mapped is err:
                raise
            raise mapped from err
        finally:
            STEP_ATTEMPT.reset(token)

    return run


def _expected_memo(step_id: str) -> Callable[[], Awaitable[Any]]:
    """The body of a replayed offloaded inference, which the SDK never runs.

    The server listed the step as held (``ctx.stack``), so the SDK finds its memo. Should
    the two ever disagree, the request fails and is retried rather than inventing an
    answer.
    """

    async def missing() -> Any:
        raise RuntimeError(
            f"inference step {step_id!r}: the server listed it as done but sent no memo of it"
        )

    return missing


class InngestRunner(StepRunner):
    """Runs steps through an Inngest function's context (``ctx.step``, ``ctx.group``).

    Args:
        ctx: the Inngest function context.
        prefix: prepended to every step ID (``"<prefix>/Agent#1/infer"``); use it when
            one function runs several networks or agents that could share names.
        limits: size limits of the run (default :class:`~agentkit_inngest.limits.Limits`).
        max_attempts: attempts Inngest makes of a step (the function's ``retries`` + 1;
            Inngest's default is 5); the error of a step that used them all says so.
        retry: how work retried inside one step is retried (a fast turn's tools);
            default :class:`RetryPolicy`.
    """

    durable = True

    def __init__(
        self,
        ctx: inngest.Context,
        *,
        prefix: str = "",
        limits: Limits | None = None,
        max_attempts: int = 5,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(limits=limits, retry=retry)
        self.ctx = ctx
        self.prefix = prefix.rstrip("/")
        self.max_attempts = max_attempts
        self._adapters: dict[int, Any] = {}
        self._parsed: tuple[dict[str, Any], Model, ModelResponse] | None = None
        self._verified: tuple[dict[str, Any], Model, ModelResponse] | None = None
        self._reader = MemoReader.of(ctx.step)

    @property
    def run_id(self) -> str:
        """The Inngest run id."""
        return self.ctx.run_id

    @property
    def discovering(self) -> bool:
        """Whether this request discovers steps (it targets none)."""
        # The SDK keeps the targeted step of the request here (None when the
        # request discovers steps); inngest 0.5 has no public accessor. Without it
        # we fall back to True: held events may then be re-sent, with the same seq.
        return getattr(self.ctx.step, "_target_hashed_id", None) is None

    def step_key(self, step_id: str) -> str:
        """``step_id`` under the runner's prefix."""
        return f"{self.prefix}/{step_id}" if self.prefix else step_id

    def claim(self, step_id: str) -> str:
        """Register ``step_id``, under the runner's prefix."""
        return super().claim(self.step_key(step_id))

    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        try:
            output = await self._memo(step_id)
            if output is MISSING:
                output = await self.ctx.step.run(step_id, _classified(fn, self.ctx.attempt))
        except inngest.StepError as err:  # its retries are spent: name the step, as inline
            if err.name == "NonRetriableError":  # raised in the step by the user's code
                raise StepError(step_id, f"{err.name}: {err.message}") from err
            spent = gave_up(self.max_attempts, f"{err.name}: {err.message}")
            raise StepError(step_id, spent) from err
        except inngest.RetryAfterError as err:
            cause = err.__cause__
            delay = getattr(cause, "retry_after", None)
            raise _RetryLater(str(cause or err), retry_after=delay) from err
        if isinstance(output, dict) and set(output) == {_FAILED}:
            failure = output[_FAILED]
            if failure.get("name") == "ConfigurationError":
                # code to fix, as in plain Python: not an error a tool reports to the model
                raise ConfigurationError(f"step {step_id!r} failed: {failure.get('message')}")
            raise StepError(step_id, f"{failure.get('name')}: {failure.get('message')}")
        return output

    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        outputs = await self.ctx.group.parallel(tuple(thunks))
        return list(outputs)

    async def _infer(
        self,
        step_id: str,
        model: Model,
        body: Body,
        call_model: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        if model.inference == "in_process":
            raw: dict[str, Any] = await self._run(
                step_id, described_inference(model, body, call_model)
            )
            return raw
        try:
            answer = await self._offloaded(step_id, model, body)
        except inngest.StepError as err:
            raise inngest.NonRetriableError(
                f"inference step {step_id!r} ({model.label}, offloaded to Inngest) failed: "
                f"{gave_up(self.max_attempts, err.message)}"
            ) from err
        if not isinstance(answer, dict):
            raise inngest.NonRetriableError(
                f"inference step {step_id!r} ({model.label}) returned "
                f"{type(answer).__name__} instead of the provider's JSON"
            )
        try:  # read once: the agent loop reads the same answer (parse_answer, verified)
            kept = kept_answer(self.run_id, step_id, model, answer)
            if kept is None:
                self._parsed = (answer, model, model.parse_response(answer))
            else:  # read in an earlier request: the agent loop need not compare it again
                self._verified = (answer, model, kept)
        except FatalProviderError as err:
            raise inngest.NonRetriableError(f"inference step {step_id!r} failed: {err}") from err
        except Exception as err:  # the answer is memoized: retrying cannot help
            raise inngest.NonRetriableError(
                f"inference step {step_id!r} ({model.label}, offloaded to Inngest) returned an "
                f"answer that cannot be read: {type(err).__name__}: {err}"
            ) from err
        return answer

    async def _offloaded(self, step_id: str, model: Model, body: Body) -> Any:
        """The answer of the offloaded inference ``step_id``.

        Its memo when the server holds it, else the ``AIGateway`` op that asks the server
        to make the call.
        """
        answer = await self._memo(step_id)
        if answer is not MISSING:
            # Read as a plain step's, the memo skips what step.ai.infer does before its
            # lookup on every replay (the adapter's options, validated and dumped by
            # pydantic, with the whole request body).
            return answer
        if self._memoized(step_id):
            # The server lists the step as held, the SDK finds its memo by the step's
            # hashed id, whatever the op, and runs no body.
            return await self.ctx.step.run(step_id, _expected_memo(step_id))
        try:
            adapter = self._adapters.get(id(model)) or model.ai_adapter()
        except AgentKitError as err:
            raise to_inngest_error(err) from err
        self._adapters[id(model)] = adapter
        return await self.ctx.step.ai.infer(step_id, adapter=adapter, body=build_body(body))

    def verified_answer(self, model: Model, raw: dict[str, Any]) -> ModelResponse | None:
        """The kept messages of ``raw``, when :meth:`_infer` has just verified them.

        That is: found the offloaded answer ``raw`` equal to the one read in an earlier
        request; else ``None``.
        """
        verified = self._verified
        if verified is not None and verified[0] is raw and verified[1] is model:
            self._verified = None
            return verified[2]
        return None

    def parse_answer(self, model: Model, raw: dict[str, Any]) -> ModelResponse:
        """The offloaded answer :meth:`_infer` has just read, without reading it again."""
        parsed = self._parsed
        if parsed is not None and parsed[0] is raw and parsed[1] is model:
            return parsed[2]
        return model.parse_response(raw)

    async def _memo(self, step_id: str) -> Any:
        """The memo of ``step_id`` read without the SDK's per-step work, or ``MISSING``."""
        if self._reader is None:
            return MISSING
        return await self._reader.take(step_id)

    def _memoized(self, step_id: str) -> bool:
        """Whether the server said it holds step ``step_id``.

        Whether the server said it holds step ``step_id`` (``ctx.stack``): the SDK then answers
        ``step.ai.infer`` with the memo and sends nothing, so a replay need not convert the
        whole conversation into a request body again.
        """
        context = current_request_context()
        return (
            context is not None
            and context.run_id == self.run_id
            and hashed_step_id(step_id) in context.memoized
        )

    async def _wait_for_event(self, wait: EventWait) -> dict[str, Any] | None:
        event = await self.ctx.step.wait_for_event(
            wait.step_id, event=wait.event, if_exp=wait.if_exp, timeout=wait.timeout
        )
        return None if event is None else event.model_dump(mode="json")

    async def _invoke(self, invocation: Invocation) -> Any:
        try:
            return await self.ctx.step.invoke_by_id(
                invocation.step_id,
                function_id=invocation.function_id,
                data=dict(invocation.data),
                timeout=invocation.timeout,
            )
        except inngest.StepError as err:
            raise StepError(
                invocation.step_id,
                f"function {invocation.function_id!r} failed: {err.name}: {err.message}",
            ) from err

    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None:
        await self.ctx.step.sleep(step_id, duration)

    async def _send_event(self, step_id: str, events: list[dict[str, Any]]) -> list[str]:
        built = [inngest.Event.model_validate(event) for event in events]
        return await self.ctx.step.send_event(step_id, built)
