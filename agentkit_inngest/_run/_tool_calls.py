"""Tool execution: the tool calls of one model response, each exactly once.

A call runs where its tool says: in a step of its own (``<Agent>#<n>/tool/<name>``),
inline on every replay (``pure`` tools), with the step API in hand (``uses_steps``
tools), or inside a fast turn's step. Wherever it runs, it ends as one
:class:`~agentkit_inngest._run._outcome.ToolCallOutcome`, and the calls' state
patches are applied in call order.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._context import NetworkRun, ToolContext
from .._json import not_json_reason
from .._steps import NoSteps, SpanSpec, StepTools
from ..errors import AgentKitError, ToolRetry
from ..messages import ToolCall, ToolResultMessage
from ..tools import Tool, ToolOutcome
from ._events import CallEvents
from ._outcome import ToolCallOutcome, recorded, retries_spent, unknown_tool
from ._plain import invalid_result
from ._specs import AgentSpec

__all__ = ["CallScope", "ToolCalls", "runs_in_turn"]


class CallScope:
    """Step IDs within one agent call: ``Triage#1/infer``, ``Triage#1/infer#2``..."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._seen: dict[str, int] = {}

    def id(self, name: str) -> str:
        """The next step ID named ``name`` in this call."""
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        suffix = "" if count == 1 else f"#{count}"
        return f"{self.key}/{name}{suffix}"


def runs_in_turn(tool: Tool) -> bool:
    """Whether a fast turn runs ``tool`` inside its step.

    Those are the tools that are neither pure nor orchestrating steps themselves.
    """
    return not tool.uses_steps and not tool.pure


class ToolCalls:
    """Runs the tool calls of one agent call."""

    def __init__(
        self,
        agent: AgentSpec,
        run: NetworkRun,
        scope: CallScope,
        events: CallEvents,
        tools: Mapping[str, Tool],
    ) -> None:
        self.agent = agent
        self.run = run
        self.scope = scope
        self.events = events
        self.tools = tools
        self.in_step: Callable[[], None] = _nothing
        """Called first in each tool step's body (the budget's time caps)."""

    async def run_calls(
        self, calls: Sequence[ToolCall], done: Mapping[str, object]
    ) -> list[ToolResultMessage]:
        """Run ``calls`` as parallel steps and return their results.

        Run ``calls`` (as parallel steps), apply their state patches in order and
        return their results. ``done`` holds the memos of calls that already ran
        inside this turn's step (fast turns).
        """
        if not calls:
            return []
        thunks = [self._thunk(call, done) for call in calls]
        outputs = await self.run.runner.parallel(thunks)
        results: list[ToolResultMessage] = []
        for call, output in zip(calls, outputs, strict=True):
            outcome = ToolCallOutcome.from_memo(call, output)
            if outcome.patch:
                self.run.state.apply(outcome.patch)
            results.append(outcome.message(call))
        return results

    def _thunk(self, call: ToolCall, done: Mapping[str, object]) -> Callable[[], Awaitable[Any]]:
        if call.id in done:  # ran inside this turn's step (fast turns)
            memo = done[call.id]
            return lambda: _value(memo)
        found = self.tools.get(call.name)
        if found is None:
            unknown = unknown_tool(call, list(self.tools.values()))
            return lambda: self._report(call, unknown)
        if found.pure:
            key = f"tool:{self.scope.key}/{call.name}/{call.id}"
            return lambda: self._traced(key, found, call, None)
        step_id = self.scope.id(f"tool/{call.name}")
        if found.uses_steps:
            steps = StepTools(self.run.runner, step_id)
            return lambda: self._traced(f"tool:{step_id}", found, call, steps)
        return lambda: self._step(step_id, found, call)

    async def _step(self, step_id: str, tool: Tool, call: ToolCall) -> Any:
        """A call in a step of its own (its span opens in the step's body)."""
        spec = functools.partial(SpanSpec.tool, call, description=tool.description)
        with self.run.runner.tracing.step_as(spec):
            return await self.run.runner.run(step_id, lambda: self._stepped(tool, call))

    async def _stepped(self, tool: Tool, call: ToolCall) -> dict[str, Any]:
        """The body of a call's own step: the time caps, then the call."""
        self.in_step()
        return await self._memo(tool, call, None)

    async def _traced(
        self, key: str, tool: Tool, call: ToolCall, steps: StepTools | None
    ) -> dict[str, Any]:
        """A call outside a step (pure, or orchestrating steps): a logical span."""
        spec = functools.partial(SpanSpec.tool, call, description=tool.description)
        with self.run.runner.tracing.unit(key, spec) as traced:
            memo = await self._memo(tool, call, steps)
            traced.output = memo
            return memo

    async def _memo(self, tool: Tool, call: ToolCall, steps: StepTools | None) -> dict[str, Any]:
        return (await self.execute(tool, call, steps)).to_memo()

    async def _report(self, call: ToolCall, outcome: ToolCallOutcome) -> dict[str, Any]:
        await self.events.tool_call(call)
        await self.events.tool_result(call, outcome.content, outcome.is_error)
        return outcome.to_memo()

    async def execute(self, tool: Tool, call: ToolCall, steps: StepTools | None) -> ToolCallOutcome:
        """Run one call of ``tool`` on a working copy of the state and record it.

        :class:`~agentkit_inngest.ToolRetry` and configuration errors propagate (the
        step is retried, or the run fails); anything else becomes a tool error.
        """
        await self.events.tool_call(call)
        working = self.run.state.clone()
        before = working.snapshot()
        ctx = ToolContext(
            agent=self.agent,
            network=self.run.with_state(working),
            state=working,
            step=steps if steps is not None else NoSteps(self.run.runner, tool.name),
            call=call,
        )
        try:
            outcome = await tool.call(call.arguments, ctx)
        except AgentKitError:
            raise  # ToolRetry, bad configuration: the tool's own policy
        except Exception as err:  # noqa: BLE001 - its result could not be made JSON
            why = f"the result is not JSON: {not_json_reason(err)}"
            outcome = ToolOutcome(invalid_result(tool.name, why), is_error=True)
        done = recorded(
            tool, call, outcome, before=before, working=working, limits=self.run.runner.limits
        )
        await self.events.tool_result(call, done.content, done.is_error)
        return done

    async def execute_retrying(self, tool: Tool, call: ToolCall) -> ToolCallOutcome:
        """Run a call inside a fast turn's step.

        A call inside a fast turn's step: a :class:`~agentkit_inngest.ToolRetry` is
        retried in place with the run's retry policy (the step must not fail once
        other tools have run), then reported to the model.
        """

        async def attempt(_: int) -> ToolCallOutcome:
            spec = functools.partial(SpanSpec.tool, call, description=tool.description)
            with self.run.runner.tracing.child(spec) as traced:
                outcome = await self.execute(tool, call, None)
                traced.output = outcome.to_memo()
                return outcome

        try:
            return await self.run.runner.retry.call(
                attempt,
                retriable=lambda err: isinstance(err, ToolRetry),
                what=f"tool {tool.name!r} ({call.id}) in turn {self.scope.key}",
            )
        except ToolRetry as err:
            return retries_spent(err)


async def _value(value: object) -> object:
    return value


def _nothing() -> None:
    return None
