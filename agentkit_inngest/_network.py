"""Networks of agents, as frozen definitions.

A :class:`Network` is data: agents sharing state, a router and a default model.
:meth:`Network.replace` derives a variant; :func:`create_network` is the same class
under AgentKit's name. :meth:`Network.run` hands the definition to the run layer,
which calls the router, then the agents it chose, until the router returns nothing
or ``max_iter`` agent calls have been made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic

from typing_extensions import TypeVar

from ._agent import Agent, check_controls
from ._context import NetworkRun
from ._ledger import Budget
from ._routing import Router, RoutingAgent, default_routing_agent
from ._run import Guardrail, check_router, run_network
from ._state import State
from ._steps import StepRunner
from .errors import ConfigurationError, InputError
from .history import ContextWindow, HistoryStore
from .models import Model, PriceTable

__all__ = ["Network", "create_network"]

T = TypeVar("T", default=Any)
"""The type of the state's data (``Any`` when not given)."""
N = TypeVar("N", bound="Network[Any]")


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Network(Generic[T]):
    """Agents sharing state, a router and a default model.

    Also spelled :func:`create_network`.

    Attributes:
        name: the network's name (its Inngest function is ``network-<slug>``).
        description: what it does.
        agents: the agents it may call (unique names).
        default_model: the model of agents without one, and of the default router.
        router: a code router (a function), a routing agent, or ``None`` for the
            default routing agent (which needs ``default_model``).
        max_iter: the most agent calls per run (default ``None``: no limit). ``0``
            is still accepted and means no limit (its old meaning).
        default_state: the state each run starts from (copied per run).
        history: a thread store: runs continue the thread named by the state's
            ``thread_id`` (see :mod:`agentkit_inngest.history`).
        context_window: trims the conversation sent to each model call.
        fast_turns: one step per agent turn for agents that do not say otherwise
            (see :class:`~agentkit_inngest.Agent`).
        output_type: the type of the run's final answer (``run.answer``): the last
            agent's typed answer, or its text read as JSON; when neither validates,
            that agent is called once more with a final-answer tool for the type.
        output_retries: wrong typed answers sent back in that last call (default 2).
        budget: caps on each run (:class:`~agentkit_inngest.Budget`). A network
            with neither ``budget`` nor ``max_iter`` gets ``Budget(requests=100)``;
            ``Budget()`` has no caps.
        guardrails: checks of the run's input (before the first agent) and its
            final output (:func:`~agentkit_inngest.input_guardrail`...).
        prices: token prices for the run's models, before the defaults
            (:class:`~agentkit_inngest.models.PriceTable` or a dict of ``Price``).
    """

    name: str
    description: str = ""
    agents: Sequence[Agent]
    default_model: Model | None = None
    router: Router | None = None
    max_iter: int | None = None
    default_state: State[T] = dataclasses.field(default_factory=State)
    history: HistoryStore | None = None
    context_window: ContextWindow | None = None
    fast_turns: bool = False
    output_type: Any = None
    output_retries: int = 2
    budget: Budget | None = None
    guardrails: Sequence[Guardrail] = ()
    prices: PriceTable | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigurationError("network name must not be empty")
        where = f"network {self.name!r}"
        if self.max_iter is not None and (
            isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int)
        ):
            raise ConfigurationError(f"{where}: max_iter must be a whole number or None")
        if self.max_iter is not None and self.max_iter < 0:
            raise ConfigurationError(f"{where}: max_iter must be >= 0")
        if self.max_iter == 0:  # the old spelling of "no limit"
            object.__setattr__(self, "max_iter", None)
        object.__setattr__(self, "agents", _agents(where, self.agents))
        object.__setattr__(self, "default_state", _state(where, self.default_state))
        check_router(self.router, where=where)
        check_controls(self, where)

    def __repr__(self) -> str:
        return f"Network(name={self.name!r}, agents={[a.name for a in self.agents]!r})"

    def replace(self: N, **changes: object) -> N:
        """A copy with ``changes`` applied to its options.

        Every other option is kept, and the new definition is checked as a new one would be.
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise ConfigurationError(
                f"Network.replace: unknown option(s) {', '.join(unknown)} (known: {known})"
            )
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @functools.cached_property
    def default_router(self) -> RoutingAgent:
        """The routing agent runs use when the network has no router (built once)."""
        return default_routing_agent()

    def agent(self, name: str) -> Agent:
        """The network's agent named ``name``.

        Raises:
            KeyError: it has none of that name.
        """
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(name)

    def new_state(self, state: State[Any] | dict[str, Any] | None = None) -> State[Any]:
        """The state a run starts from.

        ``state`` (a State or its JSON), else a copy of the default state.
        """
        if state is None:
            return self.default_state.clone()
        if isinstance(state, State):
            return state
        if isinstance(state, dict):
            return State.from_json(state, data_type=self.default_state.data_type)
        raise InputError(f"state must be a State or a JSON object, got {type(state).__name__}")

    async def run(
        self,
        input: str,
        *,
        state: State[Any] | dict[str, Any] | None = None,
        router: Router | None = None,
        runner: StepRunner | None = None,
    ) -> NetworkRun:
        """Run the network on ``input``.

        Args:
            input: the user's message.
            state: start from this state (it is changed in place) or its JSON;
                default: a copy of ``default_state``.
            router: use this router for this run instead of the network's.
            runner: how steps run; default :class:`~agentkit_inngest.InlineRunner`.
        """
        return await run_network(self, input, state=state, router=router, runner=runner)

    def run_sync(
        self,
        input: str,
        *,
        state: State[Any] | dict[str, Any] | None = None,
        router: Router | None = None,
        runner: StepRunner | None = None,
    ) -> NetworkRun:
        """:meth:`run` for code without an event loop."""
        return asyncio.run(self.run(input, state=state, router=router, runner=runner))


create_network = Network
"""Build a :class:`Network` (AgentKit's spelling; the same class)."""


def _state(where: str, state: object) -> State[Any]:
    if state is None:  # the old spelling of the default
        return State()
    if not isinstance(state, State):
        raise ConfigurationError(f"{where}: default_state must be a State")
    return state


def _agents(where: str, agents: object) -> tuple[Agent, ...]:
    if isinstance(agents, (str, bytes, Mapping)) or not isinstance(agents, Iterable):
        raise ConfigurationError(f"{where}: agents must be a list of agents")
    found: list[Agent] = []
    for agent in agents:
        if not isinstance(agent, Agent):
            raise ConfigurationError(
                f"{where}: agents must be Agent objects, got {type(agent).__name__}"
            )
        if any(other.name == agent.name for other in found):
            raise ConfigurationError(f"{where} has two agents named {agent.name!r}")
        found.append(agent)
    if not found:
        raise ConfigurationError(f"{where} needs at least one agent")
    return tuple(found)
