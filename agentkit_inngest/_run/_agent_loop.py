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
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .._context import NetworkRun
from .._json import MAX_STEP_DEPTH, NotJSONError, not_json_step, plain_json
from .._state import AgentResult, interleave
from .._steps import SpanSpec
from ..errors import ConfigurationError, FatalProviderError
from ..messages import Message, TextMessage, ToolCall, ToolCallMessage, ToolResultMessage, Usage
from ..models import Model, ModelRequest
from ..tools import Tool
from ._answers import read_answer
from ._controls import AGENT_OUTPUT, CallControls
from ._events import CallEvents
from ._keywords import call_hook
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
    """What one turn produced.

    The result so far, this turn's new output messages, and the memos of tool calls its step
    already ran (fast turns).
    """

    result: AgentResult
    output: list[Message]
    done: Mapping[str, object]


class AgentCall:
    """One call of ``agent`` in ``run`` with ``model``, at most ``limit`` inferences."""

    def __init__(
        self,
        agent: AgentSpec,
        run: NetworkRun,
        *,
        model: Model,
        input: str,
        limit: int,
        output: Any = AGENT_OUTPUT,
        output_retries: int | None = None,
    ) -> None:
        self.agent = agent
        self.run = run
        self.model = model
        self.input = input
        self.scope = CallScope(run.runner.next_call(agent.name))
        self.events = CallEvents(run.runner.stream, agent.name, self.scope.key)
        self.fast = fast_turns_for(agent, run, model)
        self.decided = agent.decided if is_routing_agent(agent) else None
        # budget, typed answer, guardrails (output: a network's type for its last call)
        self.controls = CallControls(
            agent, run, self.scope.key, model, output=output, retries=output_retries
        )
        self.limit = limit + self.controls.extra_turns

    async def __call__(self) -> AgentResult:
        """Run the call: turns until no tool ran (or ``max_iter``), then ``on_finish``."""
        agent = self.agent
        spec = functools.partial(
            SpanSpec.agent, agent.name, self.scope.key, self.model, description=agent.description
        )
        with self.run.runner.tracing.unit(f"agent:{self.scope.key}", spec) as traced:
            result = await self._call()
            traced.usage(result.usage)
            return result

    async def _call(self) -> AgentResult:
        await self.events.started()
        tools = self.controls.tools(await resolve_tools(self.agent, self.run))
        self.calls = ToolCalls(self.agent, self.run, self.scope, self.events, tools)
        self.calls.in_step = self.controls.in_step
        prompt, history = await prompt_and_history(self.agent, self.run, self.input)
        history = await self.controls.start(self.input, history)
        # the messages are validated records already: no need to validate them again
        result = AgentResult.model_construct(
            agent_name=self.agent.name,
            id=self.scope.key,
            output=[],
            tool_calls=[],
            prompt=prompt,  # both lists are fresh and are replaced, never changed, below
            history=history,
            input=self.input,
            raw=[],
            usage=Usage(),
        )
        inferences = 0
        for inferences in range(1, self.limit + 1):  # noqa: B007 - counted for finish()
            started = await self._on_start(prompt, history)
            if started is not None:
                if started.stop:
                    return result
                prompt, history = list(started.prompt), list(started.history)
            turn = await self._turn(prompt + history, result, tools)
            result = turn.result
            calls = _calls_in(turn.output)
            self.controls.before_tools(calls)
            tool_results = await self.calls.run_calls(calls, turn.done)
            result.tool_calls.extend(tool_results)
            told = self.controls.after_turn(turn.output, tool_results)
            history = [*history, *interleave(turn.output, tool_results), *told]
            if not self._continues(result, tool_results):
                break
        result = await self.controls.finish(result, inferences)
        result = await self._hook_result("on_finish", result)
        if self.events.enabled:  # the text is joined only for a publisher
            await self.events.finished(result.text, result.usage)
        return result

    # -- one turn ---------------------------------------------------------------------

    async def _turn(
        self, messages: list[Message], result: AgentResult, tools: Mapping[str, Tool]
    ) -> _Turn:
        """One inference and its ``on_response`` hook.

        They run in an inference step of its own, or (fast turns) in one step with the turn's
        tool calls.
        """
        start = len(result.output)
        self.controls.before_inference(self.model)
        request = self.controls.request(
            messages, [t.definition for t in tools.values()], self.agent.tool_choice
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
        tracing = self.run.runner.tracing
        spec = functools.partial(SpanSpec.chat, self.model, request, agent=self.agent.name)
        with tracing.step_as(spec):
            raw = await self.run.runner.infer(
                step_id, self.model, self._body(request), on_text=on_text
            )
        if self.run.runner.durable and self.model.inference == "offload":
            tracing.offloaded(step_id, spec, raw)
        used = await self._record(raw, result, step_id, streamed=on_text is not None, usage=True)
        self.controls.count(self.model, raw, used)

    def _body(self, request: ModelRequest) -> Callable[[], dict[str, Any]]:
        """Builds the request body inside the step (in process: the time caps too)."""
        if self.model.inference != "in_process":
            return lambda: self.model.build_body(request)

        def body() -> dict[str, Any]:
            self.controls.in_step()
            return self.model.build_body(request)

        return body

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
        used: list[Usage] = []  # the answer's usage, counted once the step returns

        async def turn() -> dict[str, Any]:
            self.controls.in_step()
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
            used.append(await self._record(raw, scratch, step_id, streamed=True, usage=True))
            scratch = await self._hook_result("on_response", scratch)
            calls = _calls_in(scratch.output[start:])
            inside = [
                (call, tools[call.name])
                for call in calls
                if call.name in tools and runs_in_turn(tools[call.name])
            ]
            if not self.controls.tools_fit(calls):  # over a cap: fails outside the step
                inside = []
            outcomes = await asyncio.gather(
                *(self.calls.execute_retrying(found, call) for call, found in inside)
            )
            hooked.append(scratch)
            done = {call.id: o.to_memo() for (call, _), o in zip(inside, outcomes, strict=True)}
            return {"raw": raw, "tools": done}

        spec = functools.partial(
            SpanSpec.chat, self.model, request, agent=self.agent.name, turn=True
        )
        with self.run.runner.tracing.step_as(spec):
            memo = await self.run.runner.run(step_id, turn)
        if not isinstance(memo, dict) or not isinstance(memo.get("raw"), dict):
            raise ConfigurationError(
                f"the memoized output of turn {self.scope.key} has an unexpected shape; "
                "was the app changed while this run was in flight?"
            )
        done: Mapping[str, object] = dict(memo.get("tools") or {})
        if hooked:
            self.controls.count(self.model, memo["raw"], used[-1])
            return hooked[-1], done
        usage = await self._record(
            memo["raw"], result, step_id, streamed=on_text is not None, usage=False
        )
        self.controls.count(self.model, memo["raw"], usage)
        return await self._hook_result("on_response", result), done

    async def _record(
        self, raw: dict[str, Any], result: AgentResult, step_id: str, *, streamed: bool, usage: bool
    ) -> Usage:
        """Add an inference's answer to ``result`` (and report its text and usage).

        Returns the answer's usage.
        """
        try:
            response = read_answer(self.run.runner, self.model, raw, step_id)
        except Exception as err:
            raise FatalProviderError(
                f"{self.model.label} answered with a response that cannot be read: {err}",
                provider=self.model.provider,
            ) from err
        if self.events.enabled:
            if not streamed:  # offloaded: the text arrives whole when the step completes
                for message in response.output:
                    if isinstance(message, TextMessage) and message.content:
                        await self.events.text(step_id, message.content)
            if usage:
                spent = self.controls.usage_fields(self.model, raw, response.usage)
                await self.events.usage(response.usage, **spent)
        result.output.extend(response.output)
        result.raw.append(raw)
        result.usage = result.usage + response.usage
        return response.usage

    def _continues(self, result: AgentResult, tool_results: list[ToolResultMessage]) -> bool:
        """Whether another inference follows (within ``max_iter``).

        One follows when tools ran, or, for a routing agent with ``decided``, until it has
        decided (for a typed answer: until it is given).
        """
        if self.decided is not None and self.controls.output is None:
            return not self.decided(result)
        return self.controls.continues(bool(tool_results))

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
        """Run the ``on_response``/``on_finish`` hook on ``result``.

        Returns its answer, or ``result`` when it returns ``None``.
        """
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
