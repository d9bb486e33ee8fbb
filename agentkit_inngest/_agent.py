"""Agents: an LLM with a prompt, tools and hooks, as a frozen definition.

An :class:`Agent` is data: its options are the dataclass fields, written once.
:meth:`Agent.replace` derives a variant (every field carried over, the new values
checked again); :func:`create_agent` is the same class under AgentKit's name.
Running it is the run layer's work: :meth:`Agent.run` hands the definition to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from ._context import NetworkRun, SystemPrompt, ToolSource
from ._ledger import Budget
from ._run import (
    Guardrail,
    StartResult,
    call_hook,
    check_guardrails,
    check_tool_choice,
    contract_for,
    run_agent,
)
from ._state import AgentResult, State
from ._steps import StepRunner
from .errors import ConfigurationError
from .history import ContextWindow, HistoryStore
from .messages import Message
from .models import Model, PriceTable, ToolChoice
from .models._prices import price_table
from .tools import Tool

__all__ = [
    "Agent",
    "EnabledHook",
    "Lifecycle",
    "ResultHook",
    "StartHook",
    "create_agent",
]

A = TypeVar("A", bound="Agent")


class EnabledHook(Protocol):
    """``enabled(agent=, network=)``: whether the agent may be called now."""

    def __call__(self, *, agent: Agent, network: NetworkRun) -> bool | Awaitable[bool]:
        """Decide (sync or async)."""
        ...


class StartHook(Protocol):
    """``on_start(agent=, network=, input=, prompt=, history=)``, before every inference."""

    def __call__(
        self,
        *,
        agent: Agent,
        network: NetworkRun,
        input: str,
        prompt: list[Message],
        history: list[Message],
    ) -> StartResult | Awaitable[StartResult | None] | None:
        """A new prompt and history, a stop, or ``None`` to keep them."""
        ...


class ResultHook(Protocol):
    """``on_response``/``on_finish(agent=, network=, result=)``."""

    def __call__(
        self, *, agent: Agent, network: NetworkRun, result: AgentResult
    ) -> AgentResult | Awaitable[AgentResult | None] | None:
        """A changed result, or ``None`` to keep it."""
        ...


@dataclasses.dataclass(frozen=True)
class Lifecycle:
    """Hooks around an agent call.

    Each may be sync or async and receives keyword arguments; returning ``None`` keeps things as
    they are.

    Attributes:
        enabled: ``(agent, network) -> bool``; a disabled agent is not offered to
            routing agents.
        on_start: ``(agent, network, input, prompt, history) -> StartResult | None``,
            before every inference; may rewrite the prompt and history or stop the call.
        on_response: ``(agent, network, result) -> AgentResult | None``, once after each
            inference and before its tools run (it may change the tool calls).
        on_finish: ``(agent, network, result) -> AgentResult | None``, once at the end.
        on_route: routing agents only: ``(agent, network, result) -> agent names``
            (AgentKit's ``lifecycle.onRoute``; the same as
            ``create_routing_agent(on_route=...)``).

    A hook may declare only the keyword arguments it uses
    (``def on_start(*, prompt, history)``), as a router does.
    """

    enabled: EnabledHook | Callable[..., Any] | None = None
    on_start: StartHook | Callable[..., Any] | None = None
    on_response: ResultHook | Callable[..., Any] | None = None
    on_finish: ResultHook | Callable[..., Any] | None = None
    on_route: Callable[..., Any] | None = None


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{kind} name must not be empty")
    if "/" in name or "#" in name:
        raise ConfigurationError(
            f"{kind} name {name!r} must not contain '/' or '#' (they structure step IDs)"
        )


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Agent:
    """An LLM with a prompt, tools and hooks (also spelled :func:`create_agent`).

    Attributes:
        name: unique within a network; no ``/`` or ``#``.
        description: what the agent does (routing agents read it).
        system: the system prompt, or a (sync/async) callable of the run.
        model: its model; else the call's or the network's default.
        tools: tools it may call.
        tool_choice: ``"auto"``, ``"any"`` or one tool's name.
        assistant: text placed as the start of the assistant's answer.
        lifecycle: hooks (:class:`Lifecycle`).
        max_iter: the most inferences per call while the model keeps calling tools
            (default 1). ``0`` is still accepted and means 1 (its old meaning).
        mcp_servers: MCP servers whose tools the agent may call (``<server>-<tool>``).
        history: a thread store for runs of this agent on its own (networks use
            their own ``history``).
        context_window: trims the conversation sent to the model
            (:func:`~agentkit_inngest.history.last_turns`, ``last_messages``,
            ``token_budget``).
        fast_turns: make each turn (an in-process inference and the tool calls it
            asks for) one step: one round trip per turn instead of two or more.
            ``None`` follows the network's setting. See the README for the trade-offs.
        default_state: the state a run of the agent on its own starts from (copied
            per run), e.g. ``State(Answers())`` for typed data; ``None``: an empty
            ``State()``. Inside a network the network's state is used.
        output_type: the type of the final answer (a pydantic model, a dataclass,
            ``list[str]``...; or ``ToolOutput(T)`` / ``NativeOutput(T)`` to choose how
            it is asked for). The result's ``answer`` holds it, validated. See
            docs/controls.md.
        output_retries: how many wrong typed answers go back to the model (with the
            validation errors) before the call fails (default 2).
        budget: caps on each call of the agent (:class:`~agentkit_inngest.Budget`).
        guardrails: checks of each call's input and final output
            (:func:`~agentkit_inngest.input_guardrail`, ``output_guardrail``).
        prices: token prices for its models, before the network's and the defaults
            (:class:`~agentkit_inngest.models.PriceTable` or a dict of ``Price``).
    """

    __agentkit_agent__: ClassVar[bool] = True  # the run layer's AGENT_MARKER

    name: str
    description: str = ""
    system: SystemPrompt = ""
    model: Model | None = None
    tools: Sequence[Tool] = ()
    tool_choice: ToolChoice = "auto"
    assistant: str = ""
    lifecycle: Lifecycle = dataclasses.field(default_factory=Lifecycle)
    max_iter: int = 1
    mcp_servers: Sequence[ToolSource] = ()
    history: HistoryStore | None = None
    context_window: ContextWindow | None = None
    fast_turns: bool | None = None
    default_state: State[Any] | None = None
    output_type: Any = None
    output_retries: int = 2
    budget: Budget | None = None
    guardrails: Sequence[Guardrail] = ()
    prices: PriceTable | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_name("agent", self.name)
        where = f"agent {self.name!r}"
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int):
            raise ConfigurationError(f"{where}: max_iter must be a whole number")
        if self.max_iter < 0:
            raise ConfigurationError(f"{where}: max_iter must be >= 0")
        _set(self, "max_iter", max(1, self.max_iter))  # 0: the old spelling of 1
        _set(self, "lifecycle", _lifecycle(where, self.lifecycle))
        _set(self, "default_state", _default_state(where, self.default_state))
        if self.lifecycle.on_route is not None and not self._routes:
            raise ConfigurationError(
                f"{where}: Lifecycle(on_route=...) is for routing agents; "
                "build it with create_routing_agent"
            )
        _set(self, "tools", _tools(where, self.tools))
        _set(self, "mcp_servers", _sources(where, self.mcp_servers))
        check_controls(self, where)
        if not self.mcp_servers:  # with tool sources, it is checked when they are listed
            check_tool_choice(self, {t.name: t for t in self.tools})

    _routes: ClassVar[bool] = False  # routing agents accept Lifecycle(on_route=...)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def replace(self: A, **changes: object) -> A:
        """A copy with ``changes`` (any options).

        Every other option is kept, and the new definition is checked as a new one would be.
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise ConfigurationError(
                f"{type(self).__name__}.replace: unknown option(s) {', '.join(unknown)} "
                f"(known: {known})"
            )
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_model(self: A, model: Model) -> A:
        """A copy using ``model``: ``replace(model=model)``."""
        return self.replace(model=model)

    async def is_enabled(self, network: NetworkRun) -> bool:
        """Whether the ``enabled`` hook allows the agent now (no hook: always)."""
        hook = self.lifecycle.enabled
        if hook is None:
            return True
        allowed = call_hook(hook, agent=self, network=network)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        return bool(allowed)

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

        Outside a network, ``state`` (default: a copy of ``default_state``) supplies
        earlier history and receives tool changes, and ``runner`` chooses how steps
        run: inline by default, or the steps of the Inngest function this is called
        in. Inside a network, pass ``network`` and both come from the run.

        Args:
            input: the user's message.
            model: use this model for this call.
            network: the run this call belongs to (a tool or router's ``network``).
            state: the state of a run of the agent on its own.
            max_iter: how many inferences the call may make while the model keeps
                asking for tools (``0`` and ``1`` both mean one); defaults to the
                agent's own ``max_iter``.
            runner: how steps run (default: the Inngest function's steps when called
                in one, else :class:`~agentkit_inngest.InlineRunner`).
        """
        return await run_agent(
            self,
            input,
            model=model,
            network=network,
            state=state,
            max_iter=max_iter,
            runner=runner,
        )

    def run_sync(
        self,
        input: str = "",
        *,
        model: Model | None = None,
        state: State[Any] | None = None,
        max_iter: int | None = None,
        runner: StepRunner | None = None,
    ) -> AgentResult:
        """:meth:`run` for code without an event loop."""
        return asyncio.run(
            self.run(input, model=model, state=state, max_iter=max_iter, runner=runner)
        )


create_agent = Agent
"""Build an :class:`Agent` (AgentKit's spelling; the same class)."""


def _set(definition: object, name: str, value: object) -> None:
    """Set a field of a frozen definition while it is being built."""
    object.__setattr__(definition, name, value)


def check_controls(definition: Agent | Any, where: str) -> None:
    """Check and normalize the run-control options of agents and networks.

    Check (and normalize) the run-control options shared by agents and networks:
    ``output_type``, ``output_retries``, ``budget``, ``guardrails``, ``prices``.
    """
    contract_for(definition.output_type, where=where)
    retries = definition.output_retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"{where}: output_retries must be a whole number >= 0")
    if definition.budget is not None and not isinstance(definition.budget, Budget):
        raise ConfigurationError(
            f"{where}: budget must be a Budget, got {type(definition.budget).__name__}"
        )
    _set(definition, "guardrails", check_guardrails(where, definition.guardrails))
    _set(definition, "prices", price_table(definition.prices, where=where))


def _lifecycle(where: str, lifecycle: object) -> Lifecycle:
    if lifecycle is None:
        return Lifecycle()
    if not isinstance(lifecycle, Lifecycle):
        raise ConfigurationError(
            f"{where}: lifecycle must be a Lifecycle, got {type(lifecycle).__name__}"
        )
    return lifecycle


def _default_state(where: str, state: object) -> State[Any] | None:
    if state is not None and not isinstance(state, State):
        raise ConfigurationError(
            f"{where}: default_state must be a State (e.g. State(MyData())), "
            f"got {type(state).__name__}"
        )
    return state


def _items(where: str, option: str, items: object) -> tuple[object, ...]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConfigurationError(f"{where}: {option} must be a list, got {type(items).__name__}")
    return tuple(items)


def _tools(where: str, tools: object) -> tuple[Tool, ...]:
    tools = _items(where, "tools", tools)
    names: set[str] = set()
    for item in tools:
        if not isinstance(item, Tool):
            raise ConfigurationError(
                f"{where}: tools must be Tool objects (use create_tool or @tool), "
                f"got {type(item).__name__}"
            )
        if item.name in names:
            raise ConfigurationError(f"{where} has two tools named {item.name!r}")
        names.add(item.name)
    return tuple(item for item in tools if isinstance(item, Tool))


def _sources(where: str, sources: object) -> tuple[ToolSource, ...]:
    sources = _items(where, "mcp_servers", sources)
    for source in sources:
        if not isinstance(source, ToolSource):
            raise ConfigurationError(
                f"{where}: mcp_servers entries must be tool sources "
                f"(agentkit_inngest.mcp servers), got {type(source).__name__}"
            )
    return tuple(source for source in sources if isinstance(source, ToolSource))
