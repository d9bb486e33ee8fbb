"""What the run layer reads of the definitions it runs.

Agents, routing agents and networks are defined one layer up (their ``.run()``
calls into this layer), so the run layer sees them through these protocols. They
list only what it reads, as read-only properties: a frozen dataclass field
satisfies one. mypy checks every definition against them where it is handed to
the run layer, so a field renamed on one side and not the other fails the type
check instead of a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, TypeGuard

from .._context import AgentView, NetworkView, SystemPrompt, ToolSource
from .._ledger import Budget
from .._state import AgentResult, State
from ..history import ContextWindow, HistoryStore
from ..messages import Message
from ..models import Model, ToolChoice
from ._guardrails import Guardrail

__all__ = [
    "AGENT_MARKER",
    "ROUTING_MARKER",
    "AgentSpec",
    "CodeRouter",
    "Hook",
    "LifecycleView",
    "NetworkSpec",
    "RouterSpec",
    "RoutingSpec",
    "StartResult",
    "is_agent",
    "is_routing_agent",
]

Hook: TypeAlias = Callable[..., object]
"""A lifecycle hook as the run layer calls it: keyword arguments in, a value (or an
awaitable of one) out; the run layer checks what comes back."""

CodeRouter: TypeAlias = Callable[..., object]
"""A code router as the run layer calls it: the arguments it asks for by name."""


@dataclasses.dataclass
class StartResult:
    """What :attr:`~agentkit_inngest.Lifecycle.on_start` may return.

    A new prompt and history, or a stop.
    """

    prompt: list[Message]
    history: list[Message]
    stop: bool = False


class LifecycleView(Protocol):
    """The hooks of an agent, as the run layer calls them."""

    @property
    def on_start(self) -> Hook | None:
        """Before every inference."""
        ...

    @property
    def on_response(self) -> Hook | None:
        """After each inference, before its tools run."""
        ...

    @property
    def on_finish(self) -> Hook | None:
        """Once, at the end of the call."""
        ...


class AgentSpec(AgentView, Protocol):
    """An agent definition, as the run layer runs it."""

    @property
    def system(self) -> SystemPrompt:
        """The system prompt."""
        ...

    @property
    def model(self) -> Model | None:
        """Its own model."""
        ...

    @property
    def tool_choice(self) -> ToolChoice:
        """``"auto"``, ``"any"`` or one tool's name."""
        ...

    @property
    def assistant(self) -> str:
        """The start of the assistant's answer."""
        ...

    @property
    def lifecycle(self) -> LifecycleView:
        """Its hooks."""
        ...

    @property
    def max_iter(self) -> int:
        """Inferences per call while the model keeps calling tools (at least 1)."""
        ...

    @property
    def mcp_servers(self) -> Sequence[ToolSource]:
        """Tool sources listed at the start of each call."""
        ...

    @property
    def history(self) -> HistoryStore | None:
        """Its thread store, for runs of the agent on its own."""
        ...

    @property
    def context_window(self) -> ContextWindow | None:
        """Its context window (else the network's)."""
        ...

    @property
    def fast_turns(self) -> bool | None:
        """One step per turn (``None``: the network decides)."""
        ...

    @property
    def default_state(self) -> State[Any] | None:
        """The state a run of the agent on its own starts from (``None``: empty)."""

    def output_type(self) -> Any:
        """The type of its final answer (``None``: text)."""
        ...

    @property
    def output_retries(self) -> int:
        """How many wrong typed answers go back to the model before the call fails."""
        ...

    @property
    def budget(self) -> Budget | None:
        """Caps on each call."""
        ...

    @property
    def guardrails(self) -> Sequence[Guardrail]:
        """Checks of each call's input and output."""
        ...

    @property
    def prices(self) -> Any:
        """Its own prices (a ``PriceTable`` or a mapping), before the network's."""
        ...


class RoutingSpec(AgentSpec, Protocol):
    """A routing agent: its result is turned into the agents that run next."""

    @property
    def on_route(self) -> Hook:
        """``(agent=, network=, result=)`` -> agent names (or one, or ``None``)."""
        ...

    @property
    def decided(self) -> Callable[[AgentResult], bool] | None:
        """When set, the call infers again (within ``max_iter``) until it is true."""
        ...


AGENT_MARKER = "__agentkit_agent__"
ROUTING_MARKER = "__agentkit_routing_agent__"
"""Class attributes that mark agent and routing-agent definitions (set to ``True``).

The run layer tells definitions apart on every replay (is a router a routing agent,
did a router return an agent?): a class attribute is read in well under a
microsecond, a ``runtime_checkable`` protocol check costs about 90 µs."""


def is_agent(value: object) -> TypeGuard[AgentSpec]:
    """Whether ``value`` is an agent definition (routing agents included)."""
    return getattr(type(value), AGENT_MARKER, False) is True


def is_routing_agent(value: object) -> TypeGuard[RoutingSpec]:
    """Whether ``value`` is a routing agent definition."""
    return getattr(type(value), ROUTING_MARKER, False) is True


RouterSpec: TypeAlias = "CodeRouter | RoutingSpec"
"""A code router or a routing agent."""


class NetworkSpec(NetworkView, Protocol):
    """A network definition, as the run layer runs it."""

    @property
    def agents(self) -> Sequence[AgentSpec]:
        """Its agents."""
        ...

    @property
    def router(self) -> RouterSpec | None:
        """Its router (``None``: :attr:`default_router`)."""
        ...

    @property
    def default_router(self) -> RoutingSpec:
        """The routing agent used when there is no router."""
        ...

    @property
    def max_iter(self) -> int | None:
        """The most agent calls per run (``None``: no limit)."""
        ...

    @property
    def output_type(self) -> Any:
        """The type of the run's final answer (``None``: text)."""
        ...

    @property
    def output_retries(self) -> int:
        """How many wrong typed answers go back to the model before the run fails."""
        ...

    @property
    def budget(self) -> Budget | None:
        """Caps on each run (``None``: the default when ``max_iter`` is ``None``)."""
        ...

    @property
    def guardrails(self) -> Sequence[Guardrail]:
        """Checks of the run's input and final output."""
        ...

    @property
    def prices(self) -> Any:
        """The run's prices (a ``PriceTable`` or a mapping), before the defaults."""
        ...

    def new_state(self, state: State[Any] | dict[str, Any] | None = None) -> State[Any]:
        """The state a run starts from."""
        ...
