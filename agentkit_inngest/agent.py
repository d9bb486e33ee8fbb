"""Agents and the agent loop.

One agent call is: build the prompt, infer, run the requested tools (as parallel
steps), and — when ``max_iter`` allows and the model asked for tools — infer again
with the tool results fed back. Every inference and every tool call goes through
the run's :class:`~agentkit_inngest.steps.StepRunner`; the code between them is
pure, so replaying it under Inngest rebuilds the same result.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import ConfigurationError, FatalProviderError, SizeLimitError
from .limits import json_size
from .messages import Message, TextMessage, ToolCall, ToolCallMessage, ToolResultMessage
from .models.base import Model, ModelRequest, ToolChoice
from .state import AgentResult, State, diff
from .steps import NoSteps, StepTools
from .tools import Tool, ToolContext, ToolSource, tool_names

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

        try:
            if self.history is not None:
                await open_thread(network, self.history, input)
            result = await self._loop(input, resolved, network, limit)
            if self.history is not None:
                await save_results(network, self.history, [result])
            return result
        finally:
            await network.close()

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
        result = AgentResult(
            agent_name=self.name, id=scope.key, prompt=list(prompt), history=list(history)
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
            tool_results = await self._run_tools(calls, scope, network, tools)
            result.tool_calls.extend(tool_results)
            history = [*history, *_interleave(turn_output, tool_results)]
            if not self._continue_loop(result, tool_results):
                break
        if self.lifecycle.on_finish is not None:
            finished = await maybe_await(
                self.lifecycle.on_finish(agent=self, network=network, result=result)
            )
            result = finished if finished is not None else result
        return result

    def _continue_loop(self, result: AgentResult, tool_results: list[ToolResultMessage]) -> bool:
        """Whether another inference follows (within ``max_iter``): when tools ran."""
        return bool(tool_results)

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
            messages=messages, tools=list(tools.values()), tool_choice=self.tool_choice
        )
        body = model.build_body(request)
        raw = await network.runner.infer(scope.id("infer"), model, body)
        try:
            response = model.parse_response(raw)
        except Exception as err:
            raise FatalProviderError(
                f"{model.label} answered with a response that cannot be read: {err}",
                provider=model.provider,
            ) from err
        result.output.extend(response.output)
        result.raw.append(raw)
        result.usage = result.usage + response.usage

    # -- tools --------------------------------------------------------------------------

    async def _run_tools(
        self, calls: list[ToolCall], scope: _Scope, network: NetworkRun, tools: dict[str, Tool]
    ) -> list[ToolResultMessage]:
        if not calls:
            return []
        thunks: list[Callable[[], Awaitable[Any]]] = []
        for call in calls:
            found = tools.get(call.name)
            if found is None:
                thunks.append(_constant(_unknown_tool(call, list(tools.values()))))
                continue
            if found.pure:
                thunks.append(_bind(self._call_tool, found, call, network, None))
                continue
            step_id = scope.id(f"tool/{call.name}")
            if found.uses_steps:
                steps = StepTools(network.runner, step_id)
                thunks.append(_bind(self._call_tool, found, call, network, steps))
            else:
                work = _bind(self._call_tool, found, call, network, None)
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

    async def _call_tool(
        self, found: Tool, call: ToolCall, network: NetworkRun, steps: StepTools | None
    ) -> dict[str, Any]:
        working = network.state.clone()
        before = working.snapshot()
        ctx = ToolContext(
            agent=self,
            network=network.with_state(working),
            state=working,
            step=steps if steps is not None else NoSteps(network.runner, found.name),
            call=call,
        )
        outcome = await found.call(call.arguments, ctx)
        limits = network.runner.limits
        patch: list[dict[str, Any]] = []
        if not outcome.is_error:
            after = working.snapshot()
            patch = diff(before, after)
            size = json_size(after) if patch else 0
            if size > limits.state_bytes:
                raise SizeLimitError(
                    f"tool {found.name!r} ({call.id}) grew the run's state (data and kv) to "
                    f"{size:,} bytes of JSON, over the limit of {limits.state_bytes:,} bytes "
                    "(Limits.state_bytes): keep large data outside the state (a database, "
                    "object storage) and store a reference to it",
                    size=size,
                    limit=limits.state_bytes,
                )
        content = _bounded_content(found.name, outcome.content, limits.tool_result_bytes)
        return {"content": content, "is_error": outcome.is_error, "patch": patch}


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
            (:func:`~agentkit_inngest.history.last_messages`, ``token_budget``).
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
    )


# -- helpers ------------------------------------------------------------------------------


def _interleave(
    output: Sequence[Message], tool_results: Sequence[ToolResultMessage]
) -> list[Message]:
    return AgentResult(
        agent_name="_", output=list(output), tool_calls=list(tool_results)
    ).messages()


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


def _constant(value: Any) -> Callable[[], Awaitable[Any]]:
    async def produce() -> Any:
        return value

    return produce


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
