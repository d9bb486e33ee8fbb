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

import datetime
import inspect
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import inngest
import pydantic

from .agent import Agent
from .durable import InngestRunner, to_inngest_error
from .errors import AgentKitError, ConfigurationError, InputError, SizeLimitError
from .limits import Limits, json_size
from .network import Network
from .state import State
from .streaming.publishers import Publisher
from .tools import Tool, ToolContext, create_tool

__all__ = [
    "EventPayload",
    "FlowControl",
    "agent_function",
    "create_function",
    "function_tool",
    "network_function",
    "bounded_output",
    "slugify",
]

M = TypeVar("M", bound=pydantic.BaseModel)

MAX_RETRIES = 20
DEFAULT_RETRIES = 4
"""Inngest's retries per step when a function sets none (``consts.DefaultRetryCount``)."""

Duration: TypeAlias = "int | datetime.timedelta | str"
"""Milliseconds, a timedelta, or a string such as ``"30s"``, ``"5m"``, ``"4h"``, ``"7d"``."""

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: object, *, field: str) -> datetime.timedelta:
    """A duration from milliseconds, a timedelta or a ``"4h"``-style string."""
    if isinstance(value, datetime.timedelta):
        delta = value
    elif isinstance(value, bool):
        raise ConfigurationError(f"{field}: expected a duration, got {value!r}")
    elif isinstance(value, (int, float)):
        delta = datetime.timedelta(milliseconds=value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigurationError(
                f"{field}: {value!r} is not a duration; use e.g. '30s', '5m', '4h', '7d' "
                "or a number of milliseconds"
            )
        delta = datetime.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    else:
        raise ConfigurationError(f"{field}: expected a duration, got {type(value).__name__}")
    if delta <= datetime.timedelta(0):
        raise ConfigurationError(f"{field}: the duration must be positive, got {value!r}")
    return delta


def slugify(name: str) -> str:
    """``"DevOps team"`` -> ``"devops-team"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ConfigurationError(f"cannot make a function id from the name {name!r}")
    return slug


# -- flow control ------------------------------------------------------------------------


class FlowControl(pydantic.BaseModel):
    """Every flow-control option an Inngest function supports, checked when defined.

    Each field also accepts the SDK's own objects (``inngest.Concurrency`` ...).

    Attributes:
        concurrency: at most N runs at once, optionally per key (``event.data.user_id``)
            and scope (``fn``, ``env``, ``account``); an int, a dict, or a list of them.
        throttle: start at most ``limit`` runs per ``period`` (queued, not dropped).
        rate_limit: start at most ``limit`` runs per ``period`` (extra events dropped).
        retries: retries per step (0-20; Inngest's default is 4).
        debounce: run once after events stop arriving for ``period``.
        priority: an expression giving a run's priority (``"event.data.plan == 'pro' ? 120 : 0"``).
        cancel: events that cancel a running run (``{"event": ..., "if": ...}``).
        idempotency: an expression; one run per value per 24 hours.
        timeouts: ``{"start": ..., "finish": ...}`` limits.
        singleton: one run at a time per key; ``mode`` ``"skip"`` or ``"cancel"``.
    """

    model_config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    concurrency: list[inngest.Concurrency] | None = None
    throttle: inngest.Throttle | None = None
    rate_limit: inngest.RateLimit | None = None
    retries: int | None = None
    debounce: inngest.Debounce | None = None
    priority: inngest.Priority | None = None
    cancel: list[inngest.Cancel] | None = None
    idempotency: str | None = None
    timeouts: inngest.Timeouts | None = None
    singleton: inngest.Singleton | None = None

    @pydantic.field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else [value]
        built = []
        for item in items:
            if isinstance(item, bool):
                raise ValueError("expected a limit, a dict or inngest.Concurrency")
            if isinstance(item, int):
                item = {"limit": item}
            spec = _as_dict(item, inngest.Concurrency)
            if not isinstance(spec.get("limit"), int) or spec["limit"] < 1:
                raise ValueError("limit must be an integer >= 1")
            _expression(spec.get("key"), "key")
            if spec.get("scope") not in (None, "fn", "env", "account"):
                raise ValueError("scope must be 'fn', 'env' or 'account'")
            if spec.get("scope") in ("env", "account") and not spec.get("key"):
                raise ValueError(f"scope {spec['scope']!r} needs a key")
            built.append(inngest.Concurrency(**spec))
        if len(built) > 2:
            raise ValueError("Inngest allows at most 2 concurrency limits per function")
        return built

    @pydantic.field_validator("throttle", "rate_limit", mode="before")
    @classmethod
    def _limit_per_period(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if value is None:
            return None
        kind = inngest.Throttle if info.field_name == "throttle" else inngest.RateLimit
        spec = _as_dict(value, kind)
        if not isinstance(spec.get("limit"), int) or spec["limit"] < 1:
            raise ValueError("limit must be an integer >= 1")
        if "period" not in spec:
            raise ValueError("period is required")
        period = parse_duration(spec["period"], field="period")
        if not datetime.timedelta(seconds=1) <= period <= datetime.timedelta(days=7):
            raise ValueError("period must be between 1s and 7d")
        spec["period"] = period
        _expression(spec.get("key"), "key")
        if "burst" in spec and (not isinstance(spec["burst"], int) or spec["burst"] < 1):
            raise ValueError("burst must be an integer >= 1")
        return kind(**spec)

    @pydantic.field_validator("retries")
    @classmethod
    def _retries(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_RETRIES:
            raise ValueError(f"must be between 0 and {MAX_RETRIES}")
        return value

    @pydantic.field_validator("debounce", mode="before")
    @classmethod
    def _debounce(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Debounce)
        if "period" not in spec:
            raise ValueError("period is required")
        spec["period"] = parse_duration(spec["period"], field="period")
        if not datetime.timedelta(seconds=1) <= spec["period"] <= datetime.timedelta(days=7):
            raise ValueError("period must be between 1s and 7d")
        if spec.get("timeout") is not None:
            spec["timeout"] = parse_duration(spec["timeout"], field="timeout")
        _expression(spec.get("key"), "key")
        return inngest.Debounce(**spec)

    @pydantic.field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"run": value}
        spec = _as_dict(value, inngest.Priority)
        _expression(spec.get("run"), "run", required=True)
        return inngest.Priority(**spec)

    @pydantic.field_validator("cancel", mode="before")
    @classmethod
    def _cancel(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else [value]
        built = []
        for item in items:
            if isinstance(item, str):
                item = {"event": item}
            spec = _as_dict(item, inngest.Cancel)
            if "if" in spec:
                spec["if_exp"] = spec.pop("if")
            if not isinstance(spec.get("event"), str) or not spec["event"].strip():
                raise ValueError("each cancel entry needs an event name")
            _expression(spec.get("if_exp"), "if")
            if spec.get("timeout") is not None:
                spec["timeout"] = parse_duration(spec["timeout"], field="timeout")
            built.append(inngest.Cancel(**spec))
        return built

    @pydantic.field_validator("idempotency")
    @classmethod
    def _idempotency(cls, value: str | None) -> str | None:
        _expression(value, "idempotency")
        return value

    @pydantic.field_validator("timeouts", mode="before")
    @classmethod
    def _timeouts(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Timeouts)
        if spec.get("start") is None and spec.get("finish") is None:
            raise ValueError("set start and/or finish")
        for key in ("start", "finish"):
            if spec.get(key) is not None:
                spec[key] = parse_duration(spec[key], field=key)
        return inngest.Timeouts(**spec)

    @pydantic.field_validator("singleton", mode="before")
    @classmethod
    def _singleton(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Singleton)
        if spec.get("mode") not in ("skip", "cancel"):
            raise ValueError("mode must be 'skip' or 'cancel'")
        _expression(spec.get("key"), "key")
        return inngest.Singleton(**spec)

    @classmethod
    def build(cls, where: str, options: Mapping[str, Any]) -> FlowControl:
        """Validate ``options``, raising :class:`ConfigurationError` naming the option."""
        try:
            return cls.model_validate(dict(options))
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "options"
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            if first.get("type") == "extra_forbidden":
                known = ", ".join(cls.model_fields)
                message = f"unknown option (known: {known})"
            raise ConfigurationError(f"{where}: {field}: {message}") from err

    def sdk_options(self) -> dict[str, Any]:
        """Keyword arguments for ``inngest.Inngest.create_function``."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def _as_dict(value: Any, kind: type[pydantic.BaseModel]) -> dict[str, Any]:
    if isinstance(value, kind):
        return value.model_dump()
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"expected a dict or inngest.{kind.__name__}, got {type(value).__name__}")


_EXPRESSION_ROOTS = re.compile(r"\b(event|events|async)\.")


def _expression(value: object, field: str, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty expression string")
    if value.count("(") != value.count(")") or value.count("'") % 2 or value.count('"') % 2:
        raise ValueError(f"{field} {value!r} has unbalanced brackets or quotes")
    if not _EXPRESSION_ROOTS.search(value) and not re.fullmatch(r"[\s\d.+\-*/()]+", value):
        raise ValueError(f"{field} {value!r} should refer to the event, e.g. 'event.data.user_id'")


# -- event payloads ----------------------------------------------------------------------


class EventPayload(pydantic.BaseModel):
    """The ``data`` of an event that triggers an agent or network function.

    Other fields (``user_id`` for a concurrency key...) are allowed and ignored.
    """

    model_config = pydantic.ConfigDict(extra="allow")

    input: str = pydantic.Field(min_length=1, max_length=1_000_000)
    state: dict[str, Any] | None = None
    thread_id: str | None = pydantic.Field(default=None, min_length=1, max_length=256)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> EventPayload:
        """Validate event data, raising :class:`InputError` naming the field."""
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            field = "data." + ".".join(str(p) for p in first.get("loc", ()))
            got = first.get("input")
            shown = f" (got {type(got).__name__})" if first.get("type") != "missing" else ""
            raise InputError(f"invalid event data: {field}: {first.get('msg')}{shown}") from err


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


def _checked_state(state: State[Any], limits: Limits) -> State[Any]:
    size = json_size(state.snapshot())
    if size > limits.state_bytes:
        raise SizeLimitError(
            f"invalid event data: data.state: its data and kv are {size:,} bytes of JSON, over "
            f"the limit of {limits.state_bytes:,} bytes (Limits.state_bytes); send a reference "
            "to large data instead of the data itself",
            size=size,
            limit=limits.state_bytes,
        )
    return state


def bounded_output(output: dict[str, Any], limits: Limits, *, where: str) -> dict[str, Any]:
    """A function's output within ``limits.output_bytes``: when it is larger, the
    conversation (``results``, ``state.results``, ``state.messages``) is left out and an
    ``omitted`` note says so; if even that is too large, :class:`SizeLimitError`."""
    size = json_size(output)
    if size <= limits.output_bytes:
        return output
    state = dict(output.get("state") or {})
    dropped = [f"state.{key}" for key in ("results", "messages") if state.pop(key, None)]
    if output.get("results"):
        dropped.insert(0, "results")
    compact = {key: value for key, value in output.items() if key not in ("results", "result")}
    if "result" in output:
        dropped.insert(0, "result")
    compact["state"] = state
    compact["omitted"] = {
        "fields": dropped,
        "bytes": size,
        "limit": limits.output_bytes,
        "note": f"the output was {size:,} bytes of JSON, over the limit of "
        f"{limits.output_bytes:,} bytes (Limits.output_bytes), so the conversation was left "
        "out; keep it in a history store (history=) to read it back",
    }
    compact_size = json_size(compact)
    if compact_size > limits.output_bytes:
        raise SizeLimitError(
            f"{where}: the output is {compact_size:,} bytes of JSON even without the "
            f"conversation, over the limit of {limits.output_bytes:,} bytes (Limits.output_bytes)",
            size=compact_size,
            limit=limits.output_bytes,
        )
    return compact


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
        state = _checked_state(network.new_state(payload.state), runner.limits)
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
        state = State.from_json(payload.state) if payload.state is not None else State()
        _checked_state(state, runner.limits)
        if payload.thread_id is not None:
            state.thread_id = payload.thread_id
        result = await agent.run(payload.input, state=state, runner=runner)
        await runner.stream.flush()
        output = {
            "agent": agent.name,
            "output": result.text,
            "result": result.model_dump(mode="json", exclude={"raw"}),
            "state": state.to_json(),
            "usage": {**result.usage.model_dump(), "total_tokens": result.usage.total_tokens},
        }
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
        from .streaming.events import StreamEvent
        from .streaming.publishers import safe_publish
        from .streaming.stream import LAST_SEQ

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
    **flow: Any,
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
        **flow: flow-control options, see :class:`FlowControl`.
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
    **flow: Any,
) -> inngest.Function[Any]:
    """The Inngest function that runs ``agent`` for each triggering event
    (``agent-<slug>``, triggered by ``<app_id>/agent-<slug>``); options as for
    :func:`network_function`."""
    return _compile(
        "agent",
        agent.name,
        client=client,
        fn_id=fn_id,
        name=name,
        event=event,
        publisher=publisher,
        flow=flow,
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
    run: Callable[[inngest.Context, int], Awaitable[dict[str, Any]]],
) -> inngest.Function[Any]:
    """The Inngest function ``<kind>-<slug>`` triggered by ``<app_id>/<kind>-<slug>``."""
    function_id = fn_id or f"{kind}-{slugify(display)}"
    options = FlowControl.build(f"{kind} {display!r}", flow)
    attempts = (DEFAULT_RETRIES if options.retries is None else options.retries) + 1

    async def handler(ctx: inngest.Context) -> dict[str, Any]:
        return await run(ctx, attempts)

    return client.create_function(
        fn_id=function_id,
        name=name or display,
        trigger=inngest.TriggerEvent(event=event or f"{client.app_id}/{function_id}"),
        on_failure=_failure_publisher(publisher),
        **options.sdk_options(),
    )(handler)


# -- typed functions and functions as tools ----------------------------------------------

_INPUT_MODELS: weakref.WeakKeyDictionary[inngest.Function[Any], type[pydantic.BaseModel]] = (
    weakref.WeakKeyDictionary()
)
_DESCRIPTIONS: weakref.WeakKeyDictionary[inngest.Function[Any], str] = weakref.WeakKeyDictionary()


def create_function(
    *,
    client: inngest.Inngest,
    fn_id: str,
    input: type[M],
    trigger: inngest.TriggerEvent | inngest.TriggerCron | None = None,
    name: str | None = None,
    description: str | None = None,
    **flow: Any,
) -> Callable[[Callable[[inngest.Context, M], Awaitable[Any]]], inngest.Function[Any]]:
    """Decorate ``async def fn(ctx, input)`` into an Inngest function with a typed input.

    The event's ``data`` is validated against ``input`` (a pydantic model) before the
    handler runs; invalid data fails the run at once. Such a function can be given
    to an agent as a tool (see :func:`function_tool`): its parameters are ``input``.

    Args:
        client: the Inngest client.
        fn_id: the function's id.
        input: the pydantic model of ``event.data``.
        trigger: default: the event ``<app_id>/<fn_id>``.
        name: display name.
        description: what it does (used as the tool description); default the
            handler's docstring.
        **flow: flow-control options, see :class:`FlowControl`.
    """
    if not (isinstance(input, type) and issubclass(input, pydantic.BaseModel)):
        raise ConfigurationError(f"function {fn_id!r}: input must be a pydantic model class")
    options = FlowControl.build(f"function {fn_id!r}", flow)

    def decorate(fn: Callable[[inngest.Context, M], Awaitable[Any]]) -> inngest.Function[Any]:
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(f"function {fn_id!r}: the handler must be async")

        async def handler(ctx: inngest.Context) -> Any:
            data = {k: v for k, v in ctx.event.data.items() if k != "_inngest"}
            try:
                parsed = input.model_validate(data)
            except pydantic.ValidationError as err:
                first = err.errors()[0]
                field = "data." + ".".join(str(p) for p in first.get("loc", ()))
                raise inngest.NonRetriableError(
                    f"invalid event data for {fn_id!r}: {field}: {first.get('msg')}"
                ) from err
            return await fn(ctx, parsed)

        function = client.create_function(
            fn_id=fn_id,
            name=name or fn_id,
            trigger=trigger or inngest.TriggerEvent(event=f"{client.app_id}/{fn_id}"),
            **options.sdk_options(),
        )(handler)
        _INPUT_MODELS[function] = input
        _DESCRIPTIONS[function] = description or (inspect.getdoc(fn) or "").split("\n\n")[0]
        return function

    return decorate


def function_tool(
    function: inngest.Function[Any],
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: type[pydantic.BaseModel] | None = None,
    timeout: Duration | None = None,
) -> Tool:
    """A tool that runs an Inngest function with ``step.invoke`` and returns its output.

    The parameters are the function's declared input model (see
    :func:`create_function`) unless ``parameters`` is given.
    """
    model = parameters or _INPUT_MODELS.get(function)
    if model is None:
        raise ConfigurationError(
            f"function {function.local_id!r} has no declared input model: build it with "
            "agentkit_inngest.create_function(input=...) or pass parameters="
        )
    local_id = function.local_id
    wait = None if timeout is None else parse_duration(timeout, field="timeout")

    async def invoke(params: pydantic.BaseModel, ctx: ToolContext) -> Any:
        return await ctx.step.invoke(
            "invoke",
            function_id=local_id,
            data=params.model_dump(mode="json"),
            timeout=wait,
        )

    return create_tool(
        name=name or re.sub(r"[^a-zA-Z0-9_-]", "_", local_id)[:64],
        description=description or _DESCRIPTIONS.get(function) or f"Run {local_id}",
        parameters=model,
        handler=invoke,
        uses_steps=True,
    )


def served_functions(
    *,
    client: inngest.Inngest,
    agents: Sequence[Agent] = (),
    networks: Sequence[Network[Any]] = (),
    functions: Sequence[inngest.Function[Any]] = (),
    publisher: Publisher | None = None,
) -> list[inngest.Function[Any]]:
    """All functions for an app: one per agent and network, plus ``functions``;
    duplicate ids are a configuration error."""
    built = [agent_function(a, client=client, publisher=publisher) for a in agents]
    built += [network_function(n, client=client, publisher=publisher) for n in networks]
    built += list(functions)
    seen: dict[str, str] = {}
    for fn in built:
        if fn.id in seen:
            raise ConfigurationError(f"two functions have the id {fn.id!r}")
        seen[fn.id] = fn.name
    return built
