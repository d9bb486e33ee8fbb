"""Routers: code routers, routing agents, the default LLM routing agent, hybrids.

A **code router** is a plain (sync or async) function. It declares the arguments
it wants by name, any of ``input``, ``network``, ``stack``, ``call_count`` and
``last_result``, and returns what runs next: an agent, an agent's name, a routing
agent, a list of these (run in order), or ``None`` to stop::

    def router(*, network, call_count):
        if call_count == 0:
            return classifier
        return writer if network.state.kv.get("topic") else None

A **routing agent** (:func:`create_routing_agent`) is an agent whose ``on_route``
turns its result into agent names. The **default routing agent** lets the model
pick the next agent with a ``select_agent`` tool or finish with ``done``. A code
router that returns a routing agent is a **hybrid**: code decides first, the model
decides the rest.

Routers run again on every Inngest replay, so they must be deterministic functions
of their arguments (no clock, randomness or I/O; use a tool or a step for those).
An LLM routing decision is memoized through its inference step.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from .agent import Agent, Lifecycle, maybe_await
from .errors import ConfigurationError
from .messages import ToolResultMessage
from .state import AgentResult
from .tools import Tool, ToolContext, create_tool

if TYPE_CHECKING:
    from .models import Model, ToolChoice
    from .network import NetworkRun

__all__ = [
    "DEFAULT_ROUTER_NAME",
    "route_in_order",
    "Router",
    "RoutingAgent",
    "create_routing_agent",
    "default_routing_agent",
]

logger = logging.getLogger("agentkit_inngest")

Router: TypeAlias = "Callable[..., Any] | RoutingAgent"
"""A code router (function) or a routing agent."""

OnRoute: TypeAlias = Callable[
    ..., "Sequence[str] | str | Awaitable[Sequence[str] | str | None] | None"
]

ROUTER_ARGUMENTS = frozenset({"input", "network", "stack", "call_count", "last_result"})
DEFAULT_ROUTER_NAME = "Default routing agent"


class RoutingAgent(Agent):
    """An agent that decides which agents run next. Its result is not added to the
    network's state; ``on_route(agent=, network=, result=)`` turns it into agent names."""

    def __init__(self, *, on_route: OnRoute, **options: Any) -> None:
        super().__init__(**options)
        if not callable(on_route):
            raise ConfigurationError(f"routing agent {self.name!r} needs an on_route function")
        self.on_route = on_route

    async def route(self, network: NetworkRun) -> list[Agent]:
        """Run the routing agent once and return the agents it chose."""
        result = await self.run(network.input, network=network)
        network.routing_usage = network.routing_usage + result.usage
        chosen = await maybe_await(self.on_route(agent=self, network=network, result=result))
        if chosen is None:
            return []
        names = [chosen] if isinstance(chosen, str) else list(chosen)
        agents: list[Agent] = []
        for name in names:
            if not isinstance(name, str):
                raise ConfigurationError(
                    f"routing agent {self.name!r}: on_route must return agent names, "
                    f"got {type(name).__name__}"
                )
            agents.append(_lookup(network, name, where=f"routing agent {self.name!r}"))
        return agents


def create_routing_agent(
    *,
    name: str,
    on_route: OnRoute,
    description: str = "",
    system: Any = "",
    model: Model | None = None,
    tools: Sequence[Tool] = (),
    tool_choice: ToolChoice = "auto",
    lifecycle: Lifecycle | None = None,
    max_iter: int = 0,
) -> RoutingAgent:
    """Build a :class:`RoutingAgent`; the options are those of
    :func:`~agentkit_inngest.create_agent` plus the required ``on_route``."""
    return RoutingAgent(
        name=name,
        description=description,
        system=system,
        model=model,
        tools=tools,
        tool_choice=tool_choice,
        lifecycle=lifecycle,
        max_iter=max_iter,
        on_route=on_route,
    )


def route_in_order(*agents: Agent) -> Callable[..., Agent | None]:
    """A code router that calls ``agents`` once each, in order, then stops."""
    if not agents:
        raise ConfigurationError("route_in_order needs at least one agent")

    def router(*, call_count: int) -> Agent | None:
        return agents[call_count] if call_count < len(agents) else None

    return router


# -- the default routing agent ------------------------------------------------------------


class _DefaultRoutingAgent(RoutingAgent):
    """Asks again (up to ``max_iter`` inferences) when the model picked an unknown agent."""

    def _continue_loop(self, result: AgentResult, tool_results: list[ToolResultMessage]) -> bool:
        return _decision(tool_results) is None


async def _select_agent(name: str, ctx: ToolContext, reason: str | None = None) -> str:
    network = ctx.network
    assert network is not None  # routing agents always run inside a network
    available = await network.available_agents()
    names = [agent.name for agent in available]
    if name not in names:
        raise ValueError(
            f"There is no available agent named {name!r}. Choose one of: "
            f"{', '.join(names) or '(none)'}, or call done."
        )
    return name


def _done(ctx: ToolContext, summary: str | None = None) -> str:
    return summary or "The request is complete."


async def _default_system(network: NetworkRun) -> str:
    lines = [
        "You are the orchestrator of a group of agents. Each agent has a role and tools.",
        "",
        "<agents>",
    ]
    for agent in await network.available_agents():
        tools = [{"name": t.name, "description": t.description} for t in agent.tools.values()]
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
    """The last successful ``select_agent``/``done`` call:
    ``("select", name)`` or ``("done", None)``."""
    for message in reversed(tool_results):
        if message.is_error:
            continue
        if message.name == "done":
            return ("done", None)
        if message.name == "select_agent" and isinstance(message.content, str):
            return ("select", message.content)
    return None


def _default_on_route(*, agent: Agent, network: NetworkRun, result: AgentResult) -> list[str]:
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
    return _DefaultRoutingAgent(
        name=DEFAULT_ROUTER_NAME,
        description="Chooses which agent works next, or finishes the run.",
        system=_default_system,
        model=model,
        tools=[select, done],
        tool_choice="any",
        max_iter=max_attempts,
        on_route=_default_on_route,
    )


# -- running routers ---------------------------------------------------------------------


def check_router(router: object, *, where: str) -> None:
    """Fail early, with a clear message, on a router that cannot be called."""
    if router is None or isinstance(router, RoutingAgent):
        return
    if isinstance(router, Agent):
        raise ConfigurationError(
            f"{where}: router is a plain agent {router.name!r}; use create_routing_agent "
            "(with on_route) or a function that returns the agent"
        )
    if not callable(router):
        raise ConfigurationError(f"{where}: router must be a function or a routing agent")
    params = inspect.signature(router).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.name not in ROUTER_ARGUMENTS and param.default is inspect.Parameter.empty:
            raise ConfigurationError(
                f"{where}: router parameter {param.name!r} is not one of "
                f"{', '.join(sorted(ROUTER_ARGUMENTS))}"
            )


_WANTS: weakref.WeakKeyDictionary[Callable[..., Any], frozenset[str] | None] = (
    weakref.WeakKeyDictionary()
)


def _wanted(router: Callable[..., Any]) -> frozenset[str] | None:
    """The argument names a router asks for (``None``: all, it takes ``**kwargs``).
    Routers run on every replay, so their signature is read once."""
    try:
        return _WANTS[router]
    except (KeyError, TypeError):
        pass
    params = inspect.signature(router).parameters.values()
    wanted = (
        None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        else frozenset(p.name for p in params)
    )
    with contextlib.suppress(TypeError):  # not every callable can be weakly referenced
        _WANTS[router] = wanted
    return wanted


def _arguments(router: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    wanted = _wanted(router)
    if wanted is None:
        return values
    return {name: value for name, value in values.items() if name in wanted}


def _lookup(network: NetworkRun, name: str, *, where: str) -> Agent:
    agent = network.agents.get(name)
    if agent is None:
        raise ConfigurationError(
            f"{where} chose unknown agent {name!r}; the network has: "
            f"{', '.join(network.agents) or '(none)'}"
        )
    return agent


async def route(network: NetworkRun, last_result: AgentResult | None) -> list[Agent]:
    """Ask the run's router what runs next."""
    router = network.router
    if router is None:
        router = _default_for(network)
    if isinstance(router, RoutingAgent):
        return await router.route(network)
    values = {
        "input": network.input,
        "network": network,
        "stack": list(network.stack),
        "call_count": network.call_count,
        "last_result": last_result,
    }
    decided = await maybe_await(router(**_arguments(router, values)))
    return await _normalize(decided, network)


def _default_for(network: NetworkRun) -> RoutingAgent:
    cached = getattr(network, "_default_router", None)
    if cached is None:
        cached = default_routing_agent()
        network._default_router = cached  # type: ignore[attr-defined]
    return cached


async def _normalize(decided: object, network: NetworkRun) -> list[Agent]:
    if decided is None:
        return []
    if isinstance(decided, RoutingAgent):
        return await decided.route(network)
    if isinstance(decided, Agent):
        return [decided]
    if isinstance(decided, str):
        return [_lookup(network, decided, where="router")]
    if isinstance(decided, (list, tuple)):
        agents: list[Agent] = []
        for item in decided:
            agents.extend(await _normalize(item, network))
        return agents
    raise ConfigurationError(
        f"router returned {type(decided).__name__}; return an agent, an agent name, "
        "a routing agent, a list of these, or None"
    )
