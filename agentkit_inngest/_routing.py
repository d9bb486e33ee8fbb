"""Routers: code routers, routing agents, the default LLM routing agent, hybrids.

A **code router** is a plain (sync or async) function. It declares the arguments
it wants by name, any of ``input``, ``network``, ``stack``, ``call_count`` and
``last_result``, and returns what runs next: an agent, an agent's name, a routing
agent, a list of these (run in order), or ``None`` to stop::

    def router(*, network, call_count):
        if call_count == 0:
            return classifier
        return writer if network.state.kv.get("topic") else None

A **routing agent** (:class:`RoutingAgent`, also spelled :func:`create_routing_agent`)
is an agent whose ``on_route`` turns its result into agent names. The **default
routing agent** lets the model pick the next agent with a ``select_agent`` tool or
finish with ``done``. A code router that returns a routing agent is a **hybrid**:
code decides first, the model decides the rest.

Routers run again on every Inngest replay, so they must be deterministic functions
of their arguments (no clock, randomness or I/O; use a tool or a step for those).
An LLM routing decision is memoized through its inference step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeAlias

from ._agent import Agent
from ._context import NetworkRun, ToolContext
from ._run import run_routing_agent
from ._state import AgentResult
from .errors import ConfigurationError
from .messages import ToolResultMessage
from .models import Model
from .tools import create_tool

__all__ = [
    "DEFAULT_ROUTER_NAME",
    "CodeRouter",
    "OnRoute",
    "RouteDecision",
    "Router",
    "RoutingAgent",
    "create_routing_agent",
    "default_routing_agent",
    "route_in_order",
]

logger = logging.getLogger("agentkit_inngest")

DEFAULT_ROUTER_NAME = "Default routing agent"

RouteDecision: TypeAlias = Agent | str | Sequence["RouteDecision"] | None
"""What a code router returns: an agent (a routing agent included), an agent's name,
a list of these (run in order), or ``None`` to stop."""

CodeRouter: TypeAlias = Callable[..., "RouteDecision | Awaitable[RouteDecision]"]
"""A code router: asks for any of ``input``, ``network``, ``stack``, ``call_count``
and ``last_result`` by name."""


class OnRoute(Protocol):
    """``on_route(agent=, network=, result=)``: a routing agent's result -> agent names."""

    def __call__(
        self, *, agent: RoutingAgent, network: NetworkRun, result: AgentResult
    ) -> Sequence[str] | str | Awaitable[Sequence[str] | str | None] | None:
        """The names of the agents that run next (``None`` or ``[]``: stop)."""
        ...


def _unset_on_route(**_: object) -> None:
    """The default of :attr:`RoutingAgent.on_route`: none was given."""


_UNSET_ON_ROUTE: Callable[..., None] = _unset_on_route


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class RoutingAgent(Agent):
    """An agent that decides which agents run next.

    Its result is not added to the network's state; ``on_route(agent=, network=, result=)``
    turns it into agent names.

    Attributes:
        on_route: turns the routing agent's result into agent names; it may also be
            given as ``lifecycle=Lifecycle(on_route=...)``, as AgentKit writes it.
        decided: when set, the call infers again (within ``max_iter``) until
            ``decided(result)`` is true, instead of only while tools ran.
    """

    __agentkit_routing_agent__: ClassVar[bool] = True  # the run layer's ROUTING_MARKER
    _routes: ClassVar[bool] = True

    on_route: OnRoute | Callable[..., Any] = _UNSET_ON_ROUTE
    decided: Callable[[AgentResult], bool] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        hook = self.lifecycle.on_route
        unset = self.on_route is _UNSET_ON_ROUTE
        if unset and hook is not None:
            object.__setattr__(self, "on_route", hook)
        elif hook is not None and hook is not self.on_route:
            raise ConfigurationError(
                f"routing agent {self.name!r}: give on_route= or Lifecycle(on_route=...), not both"
            )
        if self.on_route is _UNSET_ON_ROUTE or not callable(self.on_route):
            raise ConfigurationError(
                f"routing agent {self.name!r} needs an on_route function: "
                "create_routing_agent(on_route=...) or lifecycle=Lifecycle(on_route=...)"
            )
        if self.decided is not None and not callable(self.decided):
            raise ConfigurationError(f"routing agent {self.name!r}: decided must be a function")

    async def route(self, network: NetworkRun) -> list[Agent]:
        """Run the routing agent once and return the agents it chose."""
        chosen = await run_routing_agent(self, network)
        return [agent for agent in chosen if isinstance(agent, Agent)]


create_routing_agent = RoutingAgent
"""Build a :class:`RoutingAgent` (AgentKit's spelling; the same class): the options
of :class:`~agentkit_inngest.Agent` plus the required ``on_route``."""

Router: TypeAlias = "CodeRouter | RoutingAgent"
"""A code router (function) or a routing agent."""


def route_in_order(*agents: Agent) -> Callable[..., Agent | None]:
    """A code router that calls ``agents`` once each, in order, then stops."""
    if not agents:
        raise ConfigurationError("route_in_order needs at least one agent")

    def router(*, call_count: int) -> Agent | None:
        return agents[call_count] if call_count < len(agents) else None

    return router


# -- the default routing agent ------------------------------------------------------------


async def _select_agent(
    name: str,
    ctx: ToolContext,
    reason: str | None = None,  # noqa: ARG001 - in the tool's schema: the model explains its choice
) -> str:
    available = await ctx.network.available_agents()
    names = [agent.name for agent in available]
    if name not in names:
        raise ValueError(
            f"There is no available agent named {name!r}. Choose one of: "
            f"{', '.join(names) or '(none)'}, or call done."
        )
    return name


def _done(ctx: ToolContext, summary: str | None = None) -> str:  # noqa: ARG001 - a tool handler's shape
    return summary or "The request is complete."


async def _default_system(network: NetworkRun) -> str:
    lines = [
        "You are the orchestrator of a group of agents. Each agent has a role and tools.",
        "",
        "<agents>",
    ]
    for agent in await network.available_agents():
        tools = [{"name": t.name, "description": t.description} for t in agent.tools]
        lines += [
            "  <agent>",
            f"    <name>{agent.name}</name>",
            f"    <description>{agent.description}</description>",
            f"    <tools>{json.dumps(tools)}</tools>",
            "  </agent>",
        ]
    lines += [
        "</agents>",
        "",
        "Read the conversation so far, including what agents already did and the results of "
        "their tools, and decide what happens next:",
        "- if the user's request has been fully addressed, call `done`;",
        "- otherwise call `select_agent` with the name of the one agent best placed to do the "
        "next piece of work.",
        "Do not route to an agent whose work is already done, and never answer the request "
        "yourself.",
    ]
    return "\n".join(lines)


def _decision(tool_results: Sequence[ToolResultMessage]) -> tuple[str, str | None] | None:
    """The last successful ``select_agent``/``done`` call.

    ``("select", name)`` or ``("done", None)``.
    """
    for message in reversed(tool_results):
        if message.is_error:
            continue
        if message.name == "done":
            return ("done", None)
        if message.name == "select_agent" and isinstance(message.content, str):
            return ("select", message.content)
    return None


def _has_decided(result: AgentResult) -> bool:
    return _decision(result.tool_calls) is not None


def _default_on_route(
    *,
    agent: RoutingAgent,
    network: NetworkRun,  # noqa: ARG001 - on_route is called with agent=, network=, result=
    result: AgentResult,
) -> list[str]:
    decision = _decision(result.tool_calls)
    if decision is None:
        logger.warning(
            "%s made no valid routing decision in %d attempt(s); the network run ends",
            agent.name,
            len(result.raw),
        )
        return []
    kind, name = decision
    return [name] if kind == "select" and name is not None else []


def default_routing_agent(*, model: Model | None = None, max_attempts: int = 3) -> RoutingAgent:
    """The LLM router used when a network has no router.

    It lists the enabled agents (name, description, tools) in its system prompt and
    must call ``select_agent(name, reason)`` or ``done(summary)``. An unknown name
    goes back to the model as a tool error and it chooses again, up to
    ``max_attempts`` inferences. It uses the network's ``default_model`` unless
    ``model`` is given.
    """
    select = create_tool(
        name="select_agent",
        description="Choose the agent that should handle the next part of the request.",
        handler=_select_agent,
        pure=True,
    )
    done = create_tool(
        name="done",
        description="Finish: the request has been fully addressed.",
        handler=_done,
        pure=True,
    )
    return RoutingAgent(
        name=DEFAULT_ROUTER_NAME,
        description="Chooses which agent works next, or finishes the run.",
        system=_default_system,
        model=model,
        tools=[select, done],
        tool_choice="any",
        max_iter=max_attempts,
        on_route=_default_on_route,
        decided=_has_decided,
    )
