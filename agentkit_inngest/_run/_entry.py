"""Run entry points: an agent on its own or inside a run, and the network loop.

A network run asks its router which agent(s) to call, calls them one after the
other, appends each result to the shared state and asks the router again, until
the router returns nothing or ``max_iter`` agent calls have been made. Both kinds
of run open their thread first and save the new results last when they have a
history store, report ``run.started``/``run.completed`` on the stream, and close
the run's resources (MCP connections) at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._context import NetworkRun
from .._state import AgentResult, State
from .._steps import SpanSpec, StepRunner, default_runner
from ..errors import ConfigurationError, InputError
from ..history import HistoryStore
from ..messages import TextMessage
from ..models import Model
from . import _run_controls as run_controls
from ._agent_loop import AgentCall
from ._controls import AGENT_OUTPUT
from ._prepare import resolve_model
from ._routing import check_router, route
from ._specs import AgentSpec, NetworkSpec, RouterSpec, is_agent, is_routing_agent
from ._threads import open_thread, save_results

__all__ = ["call_agent", "run_agent", "run_network"]

T = TypeVar("T")


async def call_agent(
    agent: AgentSpec,
    run: NetworkRun,
    *,
    input: str,
    model: Model | None = None,
    max_iter: int | None = None,
    output: Any = AGENT_OUTPUT,
    output_retries: int | None = None,
) -> AgentResult:
    """One agent call inside ``run`` (no thread hooks, no run events).

    ``output`` asks for another typed answer than the agent's own (a network's).
    """
    limit = max(1, agent.max_iter if max_iter is None else max_iter)
    call = AgentCall(
        agent,
        run,
        model=resolve_model(agent, model, run),
        input=input,
        limit=limit,
        output=output,
        output_retries=output_retries,
    )
    return await call()


async def run_agent(
    agent: AgentSpec,
    input: str,
    *,
    model: Model | None = None,
    network: NetworkRun | None = None,
    state: State[Any] | None = None,
    max_iter: int | None = None,
    runner: StepRunner | None = None,
) -> AgentResult:
    """Call ``agent``: inside ``network`` when given, else as a run of its own."""
    if network is not None:
        return await call_agent(agent, network, input=input, model=model, max_iter=max_iter)
    if state is not None:
        start = state
    else:
        start = agent.default_state.clone() if agent.default_state is not None else State()
    run = NetworkRun.for_agent(state=start, runner=runner, input=input)
    resolve_model(agent, model, run)  # fail before the run starts

    async def body() -> AgentResult:
        return await call_agent(agent, run, input=input, model=model, max_iter=max_iter)

    result = await _as_run(run, agent.history, body, agent=agent.name, network=None)
    await run.runner.stream.emit(
        "run.completed",
        agent=agent.name,
        output=result.text,
        usage={**result.usage.model_dump(), "total_tokens": result.usage.total_tokens},
        cost=run.ledger.to_json(),
        answer=result.model_dump(mode="json", include={"answer"})["answer"],
    )
    return result


async def run_network(
    network: NetworkSpec,
    input: str,
    *,
    state: State[Any] | dict[str, Any] | None = None,
    router: RouterSpec | None = None,
    runner: StepRunner | None = None,
) -> NetworkRun:
    """Run ``network`` on ``input`` (see :meth:`~agentkit_inngest.Network.run`)."""
    if not isinstance(input, str):
        raise InputError(f"input must be a string, got {type(input).__name__}")
    if router is not None:
        check_router(router, where="network.run(router=...)")
    initial = network.new_state(state)
    run = NetworkRun(
        network=network,
        state=initial,
        runner=(
            runner
            if runner is not None
            else default_runner("network.run()", thread_id=initial.thread_id)
        ),
        input=input,
    )
    chosen = router if router is not None else network.router
    _check_models(network, chosen)
    if not await run.available_agents():
        raise ConfigurationError(f"network {network.name!r}: no agent is enabled")
    loop = chosen if chosen is not None else network.default_router

    async def start() -> None:  # before the user's message is stored
        await run_controls.configure(network, run)
        await run_controls.check_input(network, run)

    async def body() -> None:
        await _loop(network, run, loop)
        await run_controls.finish(network, run, lambda *a: _call_again(run, *a))

    await _as_run(run, network.history, body, start=start, network=network.name)
    await run.runner.stream.emit(
        "run.completed",
        output=run.output,
        usage={**run.usage.model_dump(), "total_tokens": run.usage.total_tokens},
        cost=run.ledger.to_json(),
        answer=run.to_json()["answer"] if run.answer is not None else None,
    )
    return run


async def _call_again(
    run: NetworkRun, agent: AgentSpec, output_type: Any, retries: int
) -> AgentResult:
    """Call ``agent`` once more for the network's typed answer (its last call's answer was not one).

    The result joins the run's.
    """
    result = await call_agent(
        agent, run, input=run.input, output=output_type, output_retries=retries
    )
    run.state.append_result(result)
    run.call_count += 1
    return result


async def _as_run(
    run: NetworkRun,
    store: HistoryStore | None,
    body: Callable[[], Awaitable[T]],
    *,
    start: Callable[[], Awaitable[None]] | None = None,
    **started: str | None,
) -> T:
    """Run ``body`` as a whole run, inside the run's tracing unit.

    ``body`` as a whole run: ``start`` (before the thread opens), ``run.started``, the thread
    hooks, the failure event of a plain-Python run, and the run's cleanups; all of it inside the
    run's tracing unit.
    """
    stream, tracing = run.runner.stream, run.runner.tracing
    spec = functools.partial(
        SpanSpec.run,
        network=started.get("network"),
        agent=started.get("agent"),
        run_id=run.runner.run_id,
    )
    try:
        with tracing.unit("run", spec) as traced:
            if start is not None:  # input guardrails: run.started shows the input they let in
                await start()
            await stream.emit("run.started", input=run.input, **started)
            if store is not None:
                await open_thread(run, store, run.input)
            outcome = await body()
            if store is not None:
                await save_results(run, store, _new_results(run, outcome))
            traced.usage(outcome.usage if isinstance(outcome, AgentResult) else run.usage)
    except Exception as err:
        tracing.run_failed(err)
        await stream.fail(err)
        raise
    finally:
        await run.close()
    return outcome


def _new_results(run: NetworkRun, outcome: object) -> list[AgentResult]:
    """The results a run saves: an agent run's own result, else the network run's."""
    if isinstance(outcome, AgentResult):
        return [outcome]
    return run.results


async def _loop(network: NetworkSpec, run: NetworkRun, router: RouterSpec) -> None:
    if run.input:
        run.state.messages.append(TextMessage(role="user", content=run.input))
    limit = network.max_iter
    last = run.state.results[-1] if run.state.results else None
    run.stack.extend(await route(run, router, last))
    while run.stack and (limit is None or run.call_count < limit):
        agent = run.stack.pop(0)
        if not is_agent(agent):
            raise ConfigurationError(
                f"network {network.name!r}: the stack holds {type(agent).__name__}, not an agent"
            )
        result = await call_agent(agent, run, input=run.input)
        run.state.append_result(result)
        run.call_count += 1
        if limit is not None and run.call_count >= limit:
            break
        run.stack.extend(await route(run, router, result))


def _check_models(network: NetworkSpec, router: RouterSpec | None) -> None:
    missing = [a.name for a in network.agents if a.model is None and not network.default_model]
    if missing:
        raise ConfigurationError(
            f"network {network.name!r}: agent(s) {', '.join(repr(m) for m in missing)} have no "
            "model and the network has no default_model; pass model= to create_agent or "
            "default_model= to create_network"
        )
    if router is None and network.default_model is None:
        raise ConfigurationError(
            f"network {network.name!r} has no router, and the default routing agent needs a "
            "model: pass router= or default_model= to create_network"
        )
    if is_routing_agent(router) and router.model is None and not network.default_model:
        raise ConfigurationError(
            f"network {network.name!r}: routing agent {router.name!r} has no model and the "
            "network has no default_model"
        )
