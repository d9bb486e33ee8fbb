"""Routing execution: asking a run's router what runs next.

A code router is called with the arguments it asks for by name (any of
:data:`ROUTER_ARGUMENTS`); a routing agent runs one agent call and its
``on_route`` turns the result into agent names. Routers run again on every Inngest
replay, so they must be deterministic; a routing agent's decision is memoized
through its inference step.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from .._context import NetworkRun
from .._state import AgentResult
from .._steps import SpanSpec
from ..errors import ConfigurationError
from ._agent_loop import AgentCall, maybe_await
from ._keywords import call_hook
from ._prepare import resolve_model
from ._specs import AgentSpec, RouterSpec, RoutingSpec, is_agent, is_routing_agent

__all__ = ["ROUTER_ARGUMENTS", "check_router", "route", "run_routing_agent"]

ROUTER_ARGUMENTS = frozenset({"input", "network", "stack", "call_count", "last_result"})
"""The arguments a code router may ask for by name."""


def check_router(router: object, *, where: str) -> None:
    """Fail early, with a clear message, on a router that cannot be called."""
    if router is None or is_routing_agent(router):
        return
    if is_agent(router):
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


def _lookup(run: NetworkRun, name: str, *, where: str) -> AgentSpec:
    agent = run.agents.get(name)
    if agent is None:
        raise ConfigurationError(
            f"{where} chose unknown agent {name!r}; the network has: "
            f"{', '.join(run.agents) or '(none)'}"
        )
    if not is_agent(agent):  # pragma: no cover - networks hold agents
        raise ConfigurationError(f"{where}: {name!r} is not an agent")
    return agent


async def route(
    run: NetworkRun, router: RouterSpec, last_result: AgentResult | None
) -> list[AgentSpec]:
    """Ask ``router`` what runs next in ``run`` (a routing decision, traced as ``plan``)."""
    tracing = run.runner.tracing
    if not tracing.enabled:
        return await _route(run, router, last_result)
    kind = "agent" if is_routing_agent(router) else "code"
    name = router.name if is_routing_agent(router) else getattr(router, "__name__", "router")
    with tracing.unit(
        tracing.logical_key("route"), lambda: SpanSpec.plan(str(name), kind)
    ) as traced:
        chosen = await _route(run, router, last_result)
        traced.attributes["agentkit.route.next"] = [agent.name for agent in chosen]
        return chosen


async def _route(
    run: NetworkRun, router: RouterSpec, last_result: AgentResult | None
) -> list[AgentSpec]:
    if is_routing_agent(router):
        return await run_routing_agent(router, run)
    if not callable(router):
        raise ConfigurationError("the router must be a function or a routing agent")
    values = {
        "input": run.input,
        "network": run,
        "stack": list(run.stack),
        "call_count": run.call_count,
        "last_result": last_result,
    }
    decided = await maybe_await(call_hook(router, **values))
    return await _normalize(decided, run)


async def run_routing_agent(agent: RoutingSpec, run: NetworkRun) -> list[AgentSpec]:
    """Run a routing agent once and return the agents its ``on_route`` chose."""
    call = AgentCall(
        agent,
        run,
        model=resolve_model(agent, None, run),
        input=run.input,
        limit=max(1, agent.max_iter),
    )
    result = await call()
    run.routing_usage = run.routing_usage + result.usage
    chosen = await maybe_await(call_hook(agent.on_route, agent=agent, network=run, result=result))
    if chosen is None:
        return []
    names = [chosen] if isinstance(chosen, str) else _names(chosen, agent.name)
    return [_lookup(run, name, where=f"routing agent {agent.name!r}") for name in names]


def _names(chosen: object, router: str) -> list[str]:
    items: list[object] = list(chosen) if isinstance(chosen, Iterable) else [chosen]
    for name in items:
        if not isinstance(name, str):
            raise ConfigurationError(
                f"routing agent {router!r}: on_route must return agent names, "
                f"got {type(name).__name__}"
            )
    return [str(name) for name in items]


async def _normalize(decided: object, run: NetworkRun) -> list[AgentSpec]:
    if decided is None:
        return []
    if is_routing_agent(decided):
        return await run_routing_agent(decided, run)
    if is_agent(decided):
        return [decided]
    if isinstance(decided, str):
        return [_lookup(run, decided, where="router")]
    if isinstance(decided, (list, tuple)):
        agents: list[AgentSpec] = []
        for item in decided:
            agents.extend(await _normalize(item, run))
        return agents
    raise ConfigurationError(
        f"router returned {type(decided).__name__}; return an agent, an agent name, "
        "a routing agent, a list of these, or None"
    )
