"""The agent loop: one agent call, turn after turn.

A turn is: the ``on_start`` hook, one inference, the ``on_response`` hook, the tool
calls the model asked for (as parallel steps), and the decision whether another
turn follows (while tools ran, within ``max_iter``). Every inference and tool call
goes through the run's step runner; the code between them is pure, so replaying
it under Inngest rebuilds the same result.

Fast turns are a policy of the turn, not a second loop: the inference and the
turn's tool calls share one step (:meth:`AgentCall._fast_turn`). Either way
``on_response`` runs once per inference. :meth:`AgentCall._turn` is the one place
per turn where run-layer policies (budgets, output validation, guardrails) hook.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from .._context import NetworkRun
from .._json import MAX_STEP_DEPTH, NotJSONError, not_json_step, plain_json
from .._state import AgentResult, interleave
from ..errors import ConfigurationError, FatalProviderError
from ..messages import Message, TextMessage, ToolCall, ToolCallMessage, ToolResultMessage, Usage
from ..models import Model, ModelRequest
from ..tools import Tool
from ._events import CallEvents
from ._keywords import call_hook
from ._plain import plain_calls
from ._prepare import fast_turns_for, prompt_and_history, resolve_tools
from ._specs import AgentSpec, StartResult, is_routing_agent
from ._tool_calls import CallScope, ToolCalls, runs_in_turn

__all__ = ["AgentCall", "maybe_await"]


async def maybe_await(value: object) -> object:
    """``value``, awaited if it is awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


@dataclasses.dataclass
class _Turn:
    """What one turn produced: the result so far, this turn's new output messages,
    and the memos of tool calls its step already ran (fast turns)."""

    result: AgentResult
    output: list[Message]
    done: Mapping[str, object]


class AgentCall:
    """One call of ``agent`` in ``run`` with ``model``, at most ``limit`` inferences."""

    def __init__(
        self, agent: AgentSpec, run: NetworkRun, *, model: Model, input: str, limit: int
    ) -> None:
        self.agent = agent
        self.run = run
        self.model = model
        self.input = input
        self.limit = limit
        self.scope = CallScope(run.runner.next_call(agent.name))
        self.events = CallEvents(run.runner.stream, agent.name, self.scope.key)
        self.fast = fast_turns_for(agent, run, model)
        self.decided = agent.decided if is_routing_agent(agent) else None

    async def __call__(self) -> AgentResult:
        """Run the call: turns until no tool ran (or ``max_iter``), then ``on_finish``."""
        await self.events.started()
        tools = await resolve_tools(self.agent, self.run)
        self.calls = ToolCalls(self.agent, self.run, self.scope, self.events, tools)
        prompt, history = await prompt_and_history(self.agent, self.run, self.input)
        # the messages are validated records already: no need to validate them again
        result = AgentResult.model_construct(
            agent_name=self.agent.name,
            id=self.scope.key,
            output=[],
            tool_calls=[],
            prompt=prompt,  # both lists are fresh and are replaced, never changed, below
            history=history,
            raw=[],
            usage=Usage(),
        )
        for _ in range(self.limit):
            started = await self._on_start(prompt, history)
            if started is not None:
                if started.stop:
                    return result
                prompt, history = list(started.prompt), list(started.history)
            turn = await self._turn(prompt + history, result, tools)
            result = turn.result
            tool_results = await self.calls.run_calls(_calls_in(turn.output), turn.done)
            result.tool_calls.extend(tool_results)
            history = [*history, *interleave(turn.output, tool_results)]
            if not self._continues(result, tool_results):
                break
        result = await self._hook_result("on_finish", result)
        await self.events.finished(result.text, result.usage)
        return result

    # -- one turn ---------------------------------------------------------------------

    async def _turn(
        self, messages: list[Message], result: AgentResult, tools: Mapping[str, Tool]
    ) -> _Turn:
        """One inference and its ``on_response`` hook: in an inference step of its
        own, or (fast turns) in one step with the turn's tool calls."""
        start = len(result.output)
        request = ModelRequest(
            messages=messages,
            tools=[t.definition for t in tools.values()],
            tool_choice=self.agent.tool_choice,
        )
        if self.fast:
            result, done = await self._fast_turn(request, result, start, tools)
        else:
            await self._infer(request, result)
            result, done = await self._hook_result("on_response", result), {}
        return _Turn(result, result.output[start:], done)

    async def _infer(self, request: ModelRequest, result: AgentResult) -> None:
        step_id = self.scope.id("infer")
        on_text = self.events.text_sink(self.model, step_id)
        raw = await self.run.runner.infer(
            step_id, self.model, lambda: self.model.build_body(request), on_text=on_text
        )
        await self._record(raw, result, step_id, streamed=on_text is not None, usage=True)

    async def _fast_turn(
        self, request: ModelRequest, result: AgentResult, start: int, tools: Mapping[str, Tool]
    ) -> tuple[AgentResult, Mapping[str, object]]:
        """Inference and the turn's tool calls as one step: one round trip per turn.

        ``on_response`` runs inside the step when the step runs (it decides which
        calls run there), and outside it when a replay reads the step's memo: once
        per inference either way.
        """
        step_id = self.scope.id("turn")
        on_text = self.events.text_sink(self.model, step_id)
        hooked: list[AgentResult] = []  # the hook's result, when the step runs here

        async def turn() -> dict[str, Any]:
            # the body is built inside the step: a replay reading the memo skips it
            raw = await self.model.complete(self.model.build_body(request), on_text=on_text)
            try:
                raw, _ = plain_json(raw, max_depth=MAX_STEP_DEPTH)  # as a replay reads it
            except NotJSONError as err:
                raise not_json_step(step_id, err) from err
            scratch = result.model_copy(
                update={
                    "output": list(result.output),
                    "tool_calls": list(result.tool_calls),
                    "raw": list(result.raw),
                }
            )
            await self._record(raw, scratch, step_id, streamed=True, usage=True)
            scratch = await self._hook_result("on_response", scratch)
            inside = [
                (call, tools[call.name])
                for call in _calls_in(scratch.output[start:])
                if call.name in tools and runs_in_turn(tools[call.name])
            ]
            outcomes = await asyncio.gather(
                *(self.calls.execute_retrying(found, call) for call, found in inside)
            )
            hooked.append(scratch)
            done = {call.id: o.to_memo() for (call, _), o in zip(inside, outcomes, strict=True)}
            return {"raw": raw, "tools": done}

        memo = await self.run.runner.run(step_id, turn)
        if not isinstance(memo, dict) or not isinstance(memo.get("raw"), dict):
            raise ConfigurationError(
                f"the memoized output of turn {self.scope.key} has an unexpected shape; "
                "was the app changed while this run was in flight?"
            )
        done: Mapping[str, object] = dict(memo.get("tools") or {})
        if hooked:
            return hooked[-1], done
        await self._record(memo["raw"], result, step_id, streamed=on_text is not None, usage=False)
        return await self._hook_result("on_response", result), done

    async def _record(
        self, raw: dict[str, Any], result: AgentResult, step_id: str, *, streamed: bool, usage: bool
    ) -> None:
        """Add an inference's answer to ``result`` (and report its text and usage)."""
        try:
            response = self.model.parse_response(raw)
        except Exception as err:
            raise FatalProviderError(
                f"{self.model.label} answered with a response that cannot be read: {err}",
                provider=self.model.provider,
            ) from err
        response = dataclasses.replace(response, output=plain_calls(response.output))
        if self.events.enabled:
            if not streamed:  # offloaded: the text arrives whole when the step completes
                for message in response.output:
                    if isinstance(message, TextMessage) and message.content:
                        await self.events.text(step_id, message.content)
            if usage:
                await self.events.usage(response.usage)
        result.output.extend(response.output)
        result.raw.append(raw)
        result.usage = result.usage + response.usage

    def _continues(self, result: AgentResult, tool_results: list[ToolResultMessage]) -> bool:
        """Whether another inference follows (within ``max_iter``): when tools ran, or,
        for a routing agent with ``decided``, until it has decided."""
        if self.decided is not None:
            return not self.decided(result)
        return bool(tool_results)

    # -- hooks ------------------------------------------------------------------------

    async def _on_start(self, prompt: list[Message], history: list[Message]) -> StartResult | None:
        hook = self.agent.lifecycle.on_start
        if hook is None:
            return None
        started = await maybe_await(
            call_hook(
                hook,
                agent=self.agent,
                network=self.run,
                input=self.input,
                prompt=prompt,
                history=history,
            )
        )
        if started is None or isinstance(started, StartResult):
            return started
        raise ConfigurationError(
            f"agent {self.agent.name!r}: on_start must return a StartResult or None, "
            f"got {type(started).__name__}"
        )

    async def _hook_result(self, name: str, result: AgentResult) -> AgentResult:
        """Run the ``on_response``/``on_finish`` hook on ``result``: its answer, or
        ``result`` when it returns ``None``."""
        lifecycle = self.agent.lifecycle
        hook = lifecycle.on_response if name == "on_response" else lifecycle.on_finish
        if hook is None:
            return result
        changed = await maybe_await(
            call_hook(hook, agent=self.agent, network=self.run, result=result)
        )
        if changed is None:
            return result
        if isinstance(changed, AgentResult):
            return changed
        raise ConfigurationError(
            f"agent {self.agent.name!r}: {name} must return an AgentResult or None, "
            f"got {type(changed).__name__}"
        )


def _calls_in(output: list[Message]) -> list[ToolCall]:
    """The tool calls asked for in ``output``, in order."""
    return [call for m in output if isinstance(m, ToolCallMessage) for call in m.tools]
