"""Agents and networks compiled into Inngest functions, with flow control.

:func:`network_function` and :func:`agent_function` follow AgentKit's naming: the
network "DevOps team" becomes the function ``network-devops-team`` triggered by
``<app_id>/network-devops-team``. The event carries::

    {"input": "the user's message", "state": {...optional State JSON...},
     "thread_id": "optional"}

and the function returns JSON with the final state data, the agents' outputs and
token usage. Invalid event data fails the run at once (non-retriable) with a
message that names the field.

Flow-control options are checked when the function is defined, so a typo fails at
import time rather than at the first event.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import inngest
from typing_extensions import Unpack

from .._agent import Agent
from .._limits import Limits
from .._network import Network
from .._request_context import RequestContextMiddleware
from .._state import State
from .._steps import (
    LAST_SEQ,
    CheckpointingOption,
    InngestRunner,
    check_checkpointing,
    checkpointed_context,
    function_scope,
    resolve_checkpointing,
    to_inngest_error,
)
from ..errors import AgentKitError, ConfigurationError
from ..streaming._events import StreamEvent
from ..streaming._publishers import Publisher, safe_publish
from ._flow import DEFAULT_RETRIES, FlowControl, FlowOptions
from ._outputs import agent_output
from ._payload import EventPayload, bounded_output, checked_state

__all__ = [
    "agent_function",
    "run_context_middleware",
    "network_function",
    "served_functions",
    "slugify",
]


def slugify(name: str) -> str:
    """``"DevOps team"`` -> ``"devops-team"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ConfigurationError(f"cannot make a function id from the name {name!r}")
    return slug


def _fail_fast(err: AgentKitError) -> Exception:
    mapped = to_inngest_error(err)
    return mapped if mapped is not err else err


def _runner(
    ctx: inngest.Context, publisher: Publisher | None, limits: Limits | None, attempts: int
) -> InngestRunner:
    runner = InngestRunner(ctx, limits=limits, max_attempts=attempts)
    if publisher is not None:
        found = ctx.event.data.get("thread_id")
        runner.stream.configure(publisher, thread_id=found if isinstance(found, str) else None)
    return runner


async def _run_network(
    network: Network[Any],
    ctx: inngest.Context,
    publisher: Publisher | None,
    limits: Limits | None = None,
    attempts: int = DEFAULT_RETRIES + 1,
) -> dict[str, Any]:
    runner = _runner(ctx, publisher, limits, attempts)
    try:
        payload = EventPayload.parse(ctx.event.data)
        state = checked_state(network.new_state(payload.state), runner.limits)
        if payload.thread_id is not None:
            state.thread_id = payload.thread_id
        run = await network.run(payload.input, state=state, runner=runner)
        await runner.stream.flush()
        return bounded_output(run.to_json(), runner.limits, where=f"network {network.name!r}")
    except AgentKitError as err:
        raise _fail_fast(err) from err


async def _run_agent(
    agent: Agent,
    ctx: inngest.Context,
    publisher: Publisher | None,
    limits: Limits | None = None,
    attempts: int = DEFAULT_RETRIES + 1,
) -> dict[str, Any]:
    runner = _runner(ctx, publisher, limits, attempts)
    try:
        payload = EventPayload.parse(ctx.event.data)
        default = agent.default_state if agent.default_state is not None else State()
        state = (
            State.from_json(payload.state, data_type=default.data_type)
            if payload.state is not None
            else default.clone()
        )
        checked_state(state, runner.limits)
        if payload.thread_id is not None:
            state.thread_id = payload.thread_id
        result = await agent.run(payload.input, state=state, runner=runner)
        await runner.stream.flush()
        output = agent_output(result, state)
        return bounded_output(output, runner.limits, where=f"agent {agent.name!r}")
    except AgentKitError as err:
        raise _fail_fast(err) from err


def _failure_publisher(
    publisher: Publisher | None,
) -> Callable[[inngest.Context], Awaitable[None]] | None:
    """An ``on_failure`` handler that publishes ``run.failed`` for the failed run."""
    if publisher is None:
        return None
    sink = publisher

    async def on_failure(ctx: inngest.Context) -> None:
        data = ctx.event.data
        original = data.get("event")
        original_data = original.get("data") if isinstance(original, dict) else None
        thread_id = None
        if isinstance(original_data, dict) and isinstance(original_data.get("thread_id"), str):
            thread_id = original_data["thread_id"]
        run_id = str(data.get("run_id") or "")
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        event = StreamEvent(
            type="run.failed",
            seq=LAST_SEQ,
            run_id=run_id,
            thread_id=thread_id,
            channel=thread_id or f"run:{run_id}",
            data={"error": str(message or "the run failed")},
        )
        await ctx.step.run("publish-run-failed", lambda: safe_publish(sink, event))

    return on_failure


def network_function(
    network: Network[Any],
    *,
    client: inngest.Inngest,
    fn_id: str | None = None,
    name: str | None = None,
    event: str | None = None,
    publisher: Publisher | None = None,
    limits: Limits | None = None,
    checkpointing: CheckpointingOption = None,
    **flow: Unpack[FlowOptions],
) -> inngest.Function[Any]:
    """The Inngest function that runs ``network`` for each triggering event.

    Args:
        network: the network.
        client: the Inngest client (its ``app_id`` names the event).
        fn_id: default ``network-<slug of the network name>``.
        name: display name; default the network's name.
        event: trigger event; default ``<app_id>/<fn_id>``.
        publisher: stream the run's progress (see :mod:`agentkit_inngest.streaming`);
            the channel is the event's ``data.thread_id``, else ``run:<run id>``.
        limits: size limits of each run (default :class:`~agentkit_inngest.limits.Limits`).
        checkpointing: run the steps one after another in one request, each
            acknowledged by the server before the next, instead of one request per step
            (``True``, ``False`` or a :class:`~agentkit_inngest.Checkpointing`); default:
            the app's choice (``create_server(checkpointing=...)``), else on. See
            docs/checkpointing.md.
        **flow: flow-control options (:class:`FlowOptions`), checked as :class:`FlowControl`.
    """
    return _compile(
        "network",
        network.name,
        client=client,
        fn_id=fn_id,
        name=name,
        event=event,
        publisher=publisher,
        flow=flow,
        checkpointing=checkpointing,
        run=lambda ctx, attempts: _run_network(network, ctx, publisher, limits, attempts),
    )


def agent_function(
    agent: Agent,
    *,
    client: inngest.Inngest,
    fn_id: str | None = None,
    name: str | None = None,
    event: str | None = None,
    publisher: Publisher | None = None,
    limits: Limits | None = None,
    checkpointing: CheckpointingOption = None,
    default_state: State[Any] | None = None,
    **flow: Unpack[FlowOptions],
) -> inngest.Function[Any]:
    """The Inngest function that runs ``agent`` for each triggering event.

    The Inngest function that runs ``agent`` for each triggering event (``agent-<slug>``,
    triggered by ``<app_id>/agent-<slug>``); options as for :func:`network_function`. Each run
    starts from the event's ``data.state``, else a copy of ``default_state`` (default: the
    agent's own ``default_state``).
    """
    if default_state is not None:
        agent = agent.replace(default_state=default_state)
    return _compile(
        "agent",
        agent.name,
        client=client,
        fn_id=fn_id,
        name=name,
        event=event,
        publisher=publisher,
        flow=flow,
        checkpointing=checkpointing,
        run=lambda ctx, attempts: _run_agent(agent, ctx, publisher, limits, attempts),
    )


def _compile(
    kind: str,
    display: str,
    *,
    client: inngest.Inngest,
    fn_id: str | None,
    name: str | None,
    event: str | None,
    publisher: Publisher | None,
    flow: Mapping[str, Any],
    checkpointing: CheckpointingOption,
    run: Callable[[inngest.Context, int], Awaitable[dict[str, Any]]],
) -> inngest.Function[Any]:
    """The Inngest function ``<kind>-<slug>`` triggered by ``<app_id>/<kind>-<slug>``."""
    function_id = fn_id or f"{kind}-{slugify(display)}"
    options = FlowControl.build(f"{kind} {display!r}", flow)
    check_checkpointing(checkpointing, where=f"{kind} {display!r}")
    attempts = (DEFAULT_RETRIES if options.retries is None else options.retries) + 1

    async def handler(ctx: inngest.Context) -> dict[str, Any]:
        chosen = resolve_checkpointing(checkpointing, client)
        checkpointed = checkpointed_context(ctx, chosen, client)
        with function_scope(checkpointed, max_attempts=attempts, publisher=publisher):
            return await run(checkpointed, attempts)

    return client.create_function(
        fn_id=function_id,
        name=name or display,
        trigger=inngest.TriggerEvent(event=event or f"{client.app_id}/{function_id}"),
        on_failure=_failure_publisher(publisher),
        middleware=run_context_middleware(),
        **options.sdk_options(),
    )(handler)


def run_context_middleware() -> list[Any]:
    """The function middleware of every function agentkit-inngest builds.

    The reader of each call's run context (``fn_id``, ``qi_id``, request id for checkpoints; the
    server's ``stack``, which spares an offloaded inference's replay its request body,
    checkpointing on or off). Every handler built here is async, as the middleware requires.
    """
    return [RequestContextMiddleware]


def served_functions(
    *,
    client: inngest.Inngest,
    agents: Sequence[Agent] = (),
    networks: Sequence[Network[Any]] = (),
    functions: Sequence[inngest.Function[Any]] = (),
    publisher: Publisher | None = None,
) -> list[inngest.Function[Any]]:
    """All functions for an app: one per agent and network, plus ``functions``.

    Duplicate ids are a configuration error.
    """
    built = [agent_function(a, client=client, publisher=publisher) for a in agents]
    built += [network_function(n, client=client, publisher=publisher) for n in networks]
    built += list(functions)
    seen: dict[str, str] = {}
    for fn in built:
        if fn.id in seen:
            raise ConfigurationError(f"two functions have the id {fn.id!r}")
        seen[fn.id] = fn.name
    return built
