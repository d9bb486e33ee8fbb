"""Agents and the agent loop.

One agent call is: build the prompt, infer, run the requested tools (as parallel
steps), and — when ``max_iter`` allows and the model asked for tools — infer again
with the tool results fed back. Every inference and every tool call goes through
the run's :class:`~agentkit_inngest.steps.StepRunner`; the code between them is
pure, so replaying it under Inngest rebuilds the same result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from ._plain import invalid_result, plain_calls, plain_outcome
from .errors import (
    AgentKitError,
    ConfigurationError,
    FatalProviderError,
    SizeLimitError,
    ToolRetry,
)
from .limits import json_size, not_json_reason
from .messages import Message, TextMessage, ToolCall, ToolCallMessage, ToolResultMessage, Usage
from .models import Model, ModelRequest, TextSink, ToolChoice
from .state import AgentResult, State, interleave
from .steps import NoSteps, StepTools
from .tools import Tool, ToolContext, ToolOutcome, ToolSource, tool_names

if TYPE_CHECKING:
    from .history import ContextWindow, HistoryStore
    from .network import NetworkRun
    from .steps import StepRunner

__all__ = [
    "Agent",
    "Lifecycle",
    "StartResult",
    "create_agent",
]

SystemPrompt: TypeAlias = "str | Callable[[NetworkRun], str | Awaitable[str]]"


@dataclasses.dataclass
class StartResult:
    """What :attr:`Lifecycle.on_start` may return: a new prompt and history, or a stop."""

    prompt: list[Message]
    history: list[Message]
    stop: bool = False


@dataclasses.dataclass
class Lifecycle:
    """Hooks around an agent call. Each may be sync or async and receives keyword
    arguments; returning ``None`` keeps things as they are.

    Attributes:
        enabled: ``(agent, network) -> bool``; a disabled agent is not offered to
            routing agents.
        on_start: ``(agent, network, input, prompt, history) -> StartResult | None``,
            before every inference; may rewrite the prompt and history or stop the call.
        on_response: ``(agent, network, result) -> AgentResult | None``, after each
            inference and before its tools run (it may change the tool calls).
        on_finish: ``(agent, network, result) -> AgentResult | None``, once at the end.
    """

    enabled: Callable[..., bool | Awaitable[bool]] | None = None
    on_start: Callable[..., StartResult | Awaitable[StartResult | None] | None] | None = None
    on_response: Callable[..., AgentResult | Awaitable[AgentResult | None] | None] | None = None
    on_finish: Callable[..., AgentResult | Awaitable[AgentResult | None] | None] | None = None


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class _Scope:
    """Step IDs within one agent call: ``Triage#1/infer``, ``Triage#1/infer#2``..."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._seen: dict[str, int] = {}

    def id(self, name: str) -> str:
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        suffix = "" if count == 1 else f"#{count}"
        return f"{self.key}/{name}{suffix}"


def _check_name(kind: str, name: str) -> None:
    if not name or not name.strip():
        raise ConfigurationError(f"{kind} name must not be empty")
    if "/" in name or "#" in name:
        raise ConfigurationError(
            f"{kind} name {name!r} must not contain '/' or '#' (they structure step IDs)"
        )


class Agent:
    """An LLM with a prompt, tools and hooks. Build one with :func:`create_agent`."""

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        system: SystemPrompt = "",
        model: Model | None = None,
        tools: Sequence[Tool] = (),
        tool_choice: ToolChoice = "auto",
        assistant: str = "",
        lifecycle: Lifecycle | None = None,
        max_iter: int = 0,
        mcp_servers: Sequence[ToolSource] = (),
        history: HistoryStore | None = None,
        context_window: ContextWindow | None = None,
        fast_turns: bool | None = None,
    ) -> None:
        _check_name("agent", name)
        if max_iter < 0:
            raise ConfigurationError(f"agent {name!r}: max_iter must be >= 0")
        self.name = name
        self.description = description
        self.system = system
        self.model = model
        self.assistant = assistant
        self.lifecycle = lifecycle or Lifecycle()
        self.max_iter = max_iter
        self.history = history
        self.context_window = context_window
        self.fast_turns = fast_turns
        self.mcp_servers: list[ToolSource] = []
        for source in mcp_servers:
            if not isinstance(source, ToolSource):
                raise ConfigurationError(
                    f"agent {name!r}: mcp_servers entries must be tool sources "
                    f"(agentkit_inngest.mcp servers), got {type(source).__name__}"
                )
            self.mcp_servers.append(source)
        self._tools: dict[str, Tool] = {}
        for item in tools:
            if not isinstance(item, Tool):
                raise ConfigurationError(
                    f"agent {name!r}: tools must be Tool objects (use create_tool or @tool), "
                    f"got {type(item).__name__}"
                )
            if item.name in self._tools:
                raise ConfigurationError(f"agent {name!r} has two tools named {item.name!r}")
            self._tools[item.name] = item
        if (
            tool_choice not in ("auto", "any")
            and tool_choice not in self._tools
            and not self.mcp_servers
        ):
            raise ConfigurationError(
                f"agent {name!r}: tool_choice {tool_choice!r} is neither 'auto', 'any' nor "
                f"one of its tools ({tool_names(list(self._tools.values()))})"
            )
        self.tool_choice = tool_choice

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def tools(self) -> dict[str, Tool]:
        """The agent's tools by name."""
        return dict(self._tools)

    def with_model(self, model: Model) -> Agent:
        """A copy of this agent using ``model``."""
        return Agent(
            name=self.name,
            description=self.description,
            system=self.system,
            model=model,
            tools=list(self._tools.values()),
            tool_choice=self.tool_choice,
            assistant=self.assistant,
            lifecycle=self.lifecycle,
            max_iter=self.max_iter,
            mcp_servers=self.mcp_servers,
            history=self.history,
            context_window=self.context_window,
            fast_turns=self.fast_turns,
        )

    # -- entry points -------------------------------------------------------------------

    def resolve_model(self, model: Model | None, network: NetworkRun | None) -> Model | None:
        """The model used for a call: the call's own, the agent's, the network's default."""
        if model is not None:
            return model
        if self.model is not None:
            return self.model
        if network is not None:
            return network.default_model
        return None

    async def is_enabled(self, network: NetworkRun) -> bool:
        if self.lifecycle.enabled is None:
            return True
        return bool(await maybe_await(self.lifecycle.enabled(agent=self, network=network)))

    async def run(
        self,
        input: str = "",
        *,
        model: Model | None = None,
        network: NetworkRun | None = None,
        state: State[Any] | None = None,
        max_iter: int | None = None,
        runner: StepRunner | None = None,
    ) -> AgentResult:
        """Call the agent.

        Outside a network, ``state`` supplies earlier history and receives tool
        changes, and ``runner`` chooses how steps run (inline by default). Inside a
        network, pass ``network`` and both come from the run.

        Args:
            input: the user's message.
            model: use this model for this call.
            max_iter: how many inferences the call may make while the model keeps
                asking for tools (``0`` and ``1`` both mean one); defaults to the
                agent's own ``max_iter``.
        """
        from .network import NetworkRun

        standalone = network is None
        if network is None:
            network = NetworkRun.for_agent(state=state, runner=runner, input=input)
        resolved = self.resolve_model(model, network)
        if resolved is None:
            raise ConfigurationError(
                f"agent {self.name!r} has no model: pass model= to create_agent, "
                "to agent.run, or default_model= to the network"
            )
        limit = max(1, self.max_iter if max_iter is None else max_iter)
        if not standalone:
            return await self._loop(input, resolved, network, limit)
        from .history import open_thread, save_results

        stream = network.runner.stream
        await stream.emit("run.started", agent=self.name, input=input, network=None)
        try:
            if self.history is not None:
                await open_thread(network, self.history, input)
            result = await self._loop(input, resolved, network, limit)
            if self.history is not None:
                await save_results(network, self.history, [result])
        except Exception as err:
            await stream.fail(err)
            raise
        finally:
            await network.close()
        await stream.emit(
            "run.completed",
            agent=self.name,
            output=result.text,
            usage={**result.usage.model_dump(), "total_tokens": result.usage.total_tokens},
        )
        return result

    def run_sync(self, input: str = "", **options: Any) -> AgentResult:
        """:meth:`run` for code without an event loop."""
        import asyncio

        return asyncio.run(self.run(input, **options))

    # -- the loop -----------------------------------------------------------------------

    async def system_prompt(self, network: NetworkRun) -> str:
        if callable(self.system):
            return str(await maybe_await(self.system(network)))
        return self.system

    async def resolve_tools(self, network: NetworkRun) -> dict[str, Tool]:
        """The agent's tools for a call: its own and its tool sources' (MCP servers)."""
        if not self.mcp_servers:
            return self._tools
        tools = dict(self._tools)
        for source in self.mcp_servers:
            for found in await source.list_tools(network):
                if found.name in tools:
                    raise ConfigurationError(
                        f"agent {self.name!r}: tool {found.name!r} from {source.name!r} "
                        "clashes with another tool of the same name"
                    )
                tools[found.name] = found
        if self.tool_choice not in ("auto", "any") and self.tool_choice not in tools:
            raise ConfigurationError(
                f"agent {self.name!r}: tool_choice {self.tool_choice!r} is not among its "
                f"tools ({tool_names(list(tools.values()))})"
            )
        return tools

    def window(self, network: NetworkRun) -> ContextWindow | None:
        """The context window in force: the agent's own, else the network's."""
        if self.context_window is not None:
            return self.context_window
        return getattr(network.network, "context_window", None)

    async def _loop(self, input: str, model: Model, network: NetworkRun, limit: int) -> AgentResult:
        scope = _Scope(network.runner.next_call(self.name))
        stream = network.runner.stream
        await stream.emit("agent.started", agent=self.name, call=scope.key)
        tools = await self.resolve_tools(network)
        system = await self.system_prompt(network)
        prompt: list[Message] = [TextMessage(role="system", content=system)] if system else []
        history = network.state.format_history()
        if network.is_standalone and input:
            history.append(TextMessage(role="user", content=input))
        window = self.window(network)
        if window is not None:
            history = window(history)
        if self.assistant:
            history.append(TextMessage(role="assistant", content=self.assistant))
        # the messages are validated records already: no need to validate them again
        result = AgentResult.model_construct(
            agent_name=self.name,
            id=scope.key,
            output=[],
            tool_calls=[],
            prompt=prompt,  # both lists are fresh and are replaced, never changed, below
            history=history,
            raw=[],
            usage=Usage(),
        )
        for _ in range(limit):
            if self.lifecycle.on_start is not None:
                started = await maybe_await(
                    self.lifecycle.on_start(
                        agent=self, network=network, input=input, prompt=prompt, history=history
                    )
                )
                if started is not None:
                    if started.stop:
                        return result
                    prompt, history = list(started.prompt), list(started.history)
            turn_start = len(result.output)
            done: dict[str, Any] = {}
            if self.fast_turns_for(network, model):
                done = await self._fast_turn(model, scope, network, prompt + history, result, tools)
            else:
                await self._infer(model, scope, network, prompt + history, result, tools)
            if self.lifecycle.on_response is not None:
                changed = await maybe_await(
                    self.lifecycle.on_response(agent=self, network=network, result=result)
                )
                result = changed if changed is not None else result
            turn_output = result.output[turn_start:]
            calls = [
                call for m in turn_output if isinstance(m, ToolCallMessage) for call in m.tools
            ]
            tool_results = await self._run_tools(calls, scope, network, tools, done)
            result.tool_calls.extend(tool_results)
            history = [*history, *interleave(turn_output, tool_results)]
            if not self._continue_loop(result, tool_results):
                break
        if self.lifecycle.on_finish is not None:
            finished = await maybe_await(
                self.lifecycle.on_finish(agent=self, network=network, result=result)
            )
            result = finished if finished is not None else result
        await stream.emit(
            "agent.finished",
            agent=self.name,
            call=scope.key,
            output=result.text,
            usage=result.usage.model_dump(),
        )
        return result

    def _continue_loop(self, result: AgentResult, tool_results: list[ToolResultMessage]) -> bool:
        """Whether another inference follows (within ``max_iter``): when tools ran."""
        return bool(tool_results)

    def fast_turns_for(self, network: NetworkRun, model: Model) -> bool:
        """Whether a turn is one step here: asked for (by the agent, else the network)
        and the inference runs in process."""
        wanted = self.fast_turns
        if wanted is None:
            wanted = bool(getattr(network.network, "fast_turns", False))
        return wanted and model.inference == "in_process"

    def _text_sink(
        self, network: NetworkRun, scope: _Scope, model: Model, step_id: str
    ) -> TextSink | None:
        stream = network.runner.stream
        if not (stream.enabled and model.inference == "in_process"):
            return None

        async def on_text(delta: str) -> None:
            await stream.emit(
                "text.delta", agent=self.name, call=scope.key, step=step_id, delta=delta
            )

        return on_text

    async def _infer(
        self,
        model: Model,
        scope: _Scope,
        network: NetworkRun,
        messages: list[Message],
        result: AgentResult,
        tools: dict[str, Tool],
    ) -> None:
        request = ModelRequest(
            messages=messages,
            tools=[t.definition for t in tools.values()],
            tool_choice=self.tool_choice,
        )
        step_id = scope.id("infer")
        on_text = self._text_sink(network, scope, model, step_id)
        raw = await network.runner.infer(
            step_id, model, lambda: model.build_body(request), on_text=on_text
        )
        await self._record_inference(
            model, scope, network, raw, result, step_id=step_id, streamed=on_text is not None
        )

    async def _fast_turn(
        self,
        model: Model,
        scope: _Scope,
        network: NetworkRun,
        messages: list[Message],
        result: AgentResult,
        tools: dict[str, Tool],
    ) -> dict[str, Any]:
        """Inference and the turn's tool calls as one step (``fast_turns``): one round
        trip per turn. Returns the outputs of the tool calls made inside the step."""
        request = ModelRequest(
            messages=messages,
            tools=[t.definition for t in tools.values()],
            tool_choice=self.tool_choice,
        )
        step_id = scope.id("turn")
        on_text = self._text_sink(network, scope, model, step_id)

        async def turn() -> dict[str, Any]:
            # the body is built inside the step: a replay reading the memo skips it
            raw = await model.complete(model.build_body(request), on_text=on_text)
            response = model.parse_response(raw)
            response = dataclasses.replace(response, output=plain_calls(response.output))
            await self._emit_usage(network, scope, response.usage)
            # a copy with lists of its own for the hook (the memo, not the hook, is
            # what a replay relies on)
            scratch = result.model_copy(
                update={
                    "output": list(result.output),
                    "tool_calls": list(result.tool_calls),
                    "raw": list(result.raw),
                }
            )
            start = len(scratch.output)
            scratch.output.extend(response.output)
            if self.lifecycle.on_response is not None:
                changed = await maybe_await(
                    self.lifecycle.on_response(agent=self, network=network, result=scratch)
                )
                scratch = changed if changed is not None else scratch
            calls = [
                call
                for m in scratch.output[start:]
                if isinstance(m, ToolCallMessage)
                for call in m.tools
            ]
            inside = [
                (call, tools[call.name])
                for call in calls
                if call.name in tools
                and not tools[call.name].uses_steps
                and not tools[call.name].pure
            ]
            outputs = await asyncio.gather(
                *(
                    self._call_tool_retrying(found, call, network, scope.key)
                    for call, found in inside
                )
            )
            return {
                "raw": raw,
                "tools": {
                    call.id: output for (call, _), output in zip(inside, outputs, strict=True)
                },
            }

        memo = await network.runner.run(step_id, turn)
        if not isinstance(memo, dict) or not isinstance(memo.get("raw"), dict):
            raise ConfigurationError(
                f"the memoized output of turn {scope.key} has an unexpected shape; "
                "was the app changed while this run was in flight?"
            )
        await self._record_inference(
            model,
            scope,
            network,
            memo["raw"],
            result,
            step_id=step_id,
            streamed=on_text is not None,
            usage=False,
        )
        done: dict[str, Any] = dict(memo.get("tools") or {})
        return done

    async def _call_tool_retrying(
        self, found: Tool, call: ToolCall, network: NetworkRun, key: str, attempts: int = 3
    ) -> dict[str, Any]:
        """A tool call inside a turn step: a :class:`ToolRetry` is retried in place
        (the step must not fail once tools have run), then reported to the model."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._call_tool(found, call, network, None, key)
            except ToolRetry as err:
                if attempt == attempts:
                    return {
                        "content": {"error": "ToolRetry", "message": str(err)},
                        "is_error": True,
                        "patch": [],
                    }
                delay = min(err.retry_after or 0.5 * 2 ** (attempt - 1), 30.0)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _record_inference(
        self,
        model: Model,
        scope: _Scope,
        network: NetworkRun,
        raw: dict[str, Any],
        result: AgentResult,
        *,
        step_id: str,
        streamed: bool,
        usage: bool = True,
    ) -> None:
        stream = network.runner.stream
        try:
            response = model.parse_response(raw)
        except Exception as err:
            raise FatalProviderError(
                f"{model.label} answered with a response that cannot be read: {err}",
                provider=model.provider,
            ) from err
        response = dataclasses.replace(response, output=plain_calls(response.output))
        if stream.enabled:
            if not streamed:  # offloaded: the text arrives whole when the step completes
                for message in response.output:
                    if isinstance(message, TextMessage) and message.content:
                        await stream.emit(
                            "text.delta",
                            agent=self.name,
                            call=scope.key,
                            step=step_id,
                            delta=message.content,
                        )
            if usage:
                await self._emit_usage(network, scope, response.usage)
        result.output.extend(response.output)
        result.raw.append(raw)
        result.usage = result.usage + response.usage

    async def _emit_usage(self, network: NetworkRun, scope: _Scope, usage: Usage) -> None:
        await network.runner.stream.emit(
            "usage",
            agent=self.name,
            call=scope.key,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    # -- tools --------------------------------------------------------------------------

    async def _run_tools(
        self,
        calls: list[ToolCall],
        scope: _Scope,
        network: NetworkRun,
        tools: dict[str, Tool],
        done: dict[str, Any],
    ) -> list[ToolResultMessage]:
        if not calls:
            return []
        thunks: list[Callable[[], Awaitable[Any]]] = []
        for call in calls:
            if call.id in done:  # ran inside this turn's step (fast turns)
                thunks.append(_bind(_identity, done[call.id]))
                continue
            found = tools.get(call.name)
            if found is None:
                unknown = _unknown_tool(call, list(tools.values()))
                thunks.append(_bind(self._report_tool, scope.key, call, network, unknown))
                continue
            if found.pure:
                thunks.append(_bind(self._call_tool, found, call, network, None, scope.key))
                continue
            step_id = scope.id(f"tool/{call.name}")
            if found.uses_steps:
                steps = StepTools(network.runner, step_id)
                thunks.append(_bind(self._call_tool, found, call, network, steps, scope.key))
            else:
                work = _bind(self._call_tool, found, call, network, None, scope.key)
                thunks.append(_bind(network.runner.run, step_id, work))
        outputs = await network.runner.parallel(thunks)
        results: list[ToolResultMessage] = []
        for call, output in zip(calls, outputs, strict=True):
            content, is_error, patch = _read_tool_output(call, output)
            if patch:
                network.state.apply(patch)
            results.append(
                ToolResultMessage(
                    tool_call_id=call.id, name=call.name, content=content, is_error=is_error
                )
            )
        return results

    async def _report_tool(
        self, key: str, call: ToolCall, network: NetworkRun, output: dict[str, Any]
    ) -> dict[str, Any]:
        stream = network.runner.stream
        if stream.enabled:
            await stream.emit(
                "tool.call",
                agent=self.name,
                call=key,
                id=call.id,
                name=call.name,
                arguments=call.arguments,
            )
            await stream.emit(
                "tool.result",
                agent=self.name,
                call=key,
                id=call.id,
                name=call.name,
                content=output["content"],
                is_error=output["is_error"],
            )
        return output

    async def _call_tool(
        self,
        found: Tool,
        call: ToolCall,
        network: NetworkRun,
        steps: StepTools | None,
        key: str,
    ) -> dict[str, Any]:
        stream = network.runner.stream
        if stream.enabled:
            await stream.emit(
                "tool.call",
                agent=self.name,
                call=key,
                id=call.id,
                name=call.name,
                arguments=call.arguments,
            )
        working = network.state.clone()
        before = working.snapshot()
        ctx = ToolContext(
            agent=self,
            network=network.with_state(working),
            state=working,
            step=steps if steps is not None else NoSteps(network.runner, found.name),
            call=call,
        )
        try:
            outcome = await found.call(call.arguments, ctx)
        except AgentKitError:
            raise  # ToolRetry, bad configuration: the tool's own policy
        except Exception as err:  # noqa: BLE001 - its result could not be made JSON
            why = f"the result is not JSON: {not_json_reason(err)}"
            outcome = ToolOutcome(invalid_result(found.name, why), is_error=True)
        limits = network.runner.limits
        content, is_error, patch, size = plain_outcome(found.name, outcome, before, working)
        if size > limits.state_bytes:
            raise SizeLimitError(
                f"tool {found.name!r} ({call.id}) grew the run's state (data and kv) to "
                f"{size:,} bytes of JSON, over the limit of {limits.state_bytes:,} bytes "
                "(Limits.state_bytes): keep large data outside the state (a database, "
                "object storage) and store a reference to it",
                size=size,
                limit=limits.state_bytes,
            )
        content = _bounded_content(found.name, content, limits.tool_result_bytes)
        if stream.enabled:
            await stream.emit(
                "tool.result",
                agent=self.name,
                call=key,
                id=call.id,
                name=call.name,
                content=content,
                is_error=is_error,
            )
        return {"content": content, "is_error": is_error, "patch": patch}


def create_agent(
    *,
    name: str,
    description: str = "",
    system: SystemPrompt = "",
    model: Model | None = None,
    tools: Sequence[Tool] = (),
    tool_choice: ToolChoice = "auto",
    assistant: str = "",
    lifecycle: Lifecycle | None = None,
    max_iter: int = 0,
    mcp_servers: Sequence[ToolSource] = (),
    history: HistoryStore | None = None,
    context_window: ContextWindow | None = None,
    fast_turns: bool | None = None,
) -> Agent:
    """Build an :class:`Agent`.

    Args:
        name: unique within a network; no ``/`` or ``#``.
        description: what the agent does (routing agents read it).
        system: the system prompt, or a (sync/async) callable of the network run.
        model: its model; else the call's or the network's default.
        tools: tools it may call.
        tool_choice: ``"auto"``, ``"any"`` or one tool's name.
        assistant: text placed as the start of the assistant's answer.
        lifecycle: hooks (:class:`Lifecycle`).
        max_iter: inferences per call while the model keeps calling tools.
        mcp_servers: MCP servers whose tools the agent may call (``<server>-<tool>``).
        history: a thread store for runs of this agent on its own (networks use
            their own ``history``).
        context_window: trims the conversation sent to the model
            (:func:`~agentkit_inngest.history.last_turns`, ``last_messages``, ``token_budget``).
        fast_turns: make each turn (an in-process inference and the tool calls it
            asks for) one step: one round trip per turn instead of two or more.
            ``None`` follows the network's setting. See the README for the trade-offs.
    """
    return Agent(
        name=name,
        description=description,
        system=system,
        model=model,
        tools=tools,
        tool_choice=tool_choice,
        assistant=assistant,
        lifecycle=lifecycle,
        max_iter=max_iter,
        mcp_servers=mcp_servers,
        history=history,
        context_window=context_window,
        fast_turns=fast_turns,
    )


# -- helpers ------------------------------------------------------------------------------


def _unknown_tool(call: ToolCall, tools: list[Tool]) -> dict[str, Any]:
    return {
        "content": {
            "error": "unknown_tool",
            "message": f"There is no tool named {call.name!r}. "
            f"Available tools: {tool_names(tools)}.",
        },
        "is_error": True,
        "patch": [],
    }


async def _identity(value: Any) -> Any:
    return value


def _bounded_content(name: str, content: Any, limit: int) -> Any:
    """``content``, or, when its JSON is over ``limit`` bytes, its beginning and a note
    the model can read (the full result never reaches a step output)."""
    size = json_size(content)
    if size <= limit:
        return content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    keep = limit // 2
    preview = text.encode("utf-8")[:keep].decode("utf-8", "ignore")
    return {
        "truncated": True,
        "message": f"The result of tool {name!r} was {size:,} bytes, more than the "
        f"{limit:,} bytes a tool result may have, so only its beginning is shown below. "
        "If you need more, call the tool again asking for less (a narrower query, a "
        "smaller page, a summary).",
        "preview": preview,
    }


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await fn(*args)

    return call


def _read_tool_output(call: ToolCall, output: Any) -> tuple[Any, bool, list[dict[str, Any]]]:
    if (
        not isinstance(output, dict)
        or "content" not in output
        or not isinstance(output.get("patch", []), list)
    ):
        raise ConfigurationError(
            f"the memoized output of tool call {call.name!r} ({call.id}) has an unexpected "
            "shape; was the app changed while this run was in flight?"
        )
    return output["content"], bool(output.get("is_error")), list(output.get("patch") or [])
