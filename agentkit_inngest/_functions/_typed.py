"""Typed Inngest functions, and Inngest functions as agent tools.

:func:`create_function` makes an Inngest function whose event data is validated
against a pydantic model; :func:`function_tool` gives such a function to an agent
as a tool that runs it with ``step.invoke``.
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import inngest
import pydantic
from typing_extensions import Unpack

from .._context import ToolContext
from .._durations import Duration, parse_duration
from .._steps import (
    CheckpointingOption,
    check_checkpointing,
    checkpointed_context,
    function_scope,
    resolve_checkpointing,
)
from ..errors import ConfigurationError
from ..tools import Tool, create_tool
from ._compile import run_context_middleware
from ._flow import DEFAULT_RETRIES, FlowControl, FlowOptions
from ._middleware import publisher_of
from ._outputs import function_output, unserializable_output

__all__ = ["create_function", "function_tool"]

M = TypeVar("M", bound=pydantic.BaseModel)

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
    checkpointing: CheckpointingOption = None,
    **flow: Unpack[FlowOptions],
) -> Callable[[Callable[[inngest.Context, M], Awaitable[Any]]], inngest.Function[Any]]:
    """Decorate ``async def fn(ctx, input)`` into an Inngest function with a typed input.

    The event's ``data`` is validated against ``input`` (a pydantic model) before the
    handler runs; invalid data fails the run at once. Such a function can be given
    to an agent as a tool (see :func:`function_tool`): its parameters are ``input``.

    Inside the handler, ``await network.run(...)`` and ``await agent.run(...)`` run as
    the function's steps without a ``runner=``, and a returned run (or agent result)
    becomes the JSON :func:`~agentkit_inngest.network_function` returns.

    Args:
        client: the Inngest client.
        fn_id: the function's id.
        input: the pydantic model of ``event.data``.
        trigger: default: the event ``<app_id>/<fn_id>``.
        name: display name.
        description: what it does (used as the tool description); default the
            handler's docstring.
        checkpointing: run ``ctx.step.run`` steps (and the steps of an
            ``InngestRunner(ctx)``) one after another in one request, each acknowledged
            by the server, instead of one request per step; ``True``, ``False`` or a
            :class:`~agentkit_inngest.Checkpointing`; default the app's choice, else
            on. See docs/checkpointing.md.
        **flow: flow-control options (:class:`FlowOptions`), checked as :class:`FlowControl`.
    """
    if not (isinstance(input, type) and issubclass(input, pydantic.BaseModel)):
        raise ConfigurationError(f"function {fn_id!r}: input must be a pydantic model class")
    options = FlowControl.build(f"function {fn_id!r}", flow)
    check_checkpointing(checkpointing, where=f"function {fn_id!r}")
    attempts = (DEFAULT_RETRIES if options.retries is None else options.retries) + 1

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
            chosen = resolve_checkpointing(checkpointing, client)
            checkpointed = checkpointed_context(ctx, chosen, client)
            with function_scope(
                checkpointed, max_attempts=attempts, publisher=publisher_of(client)
            ) as scope:
                try:
                    output = await fn(checkpointed, parsed)
                except Exception as err:
                    if scope.ends_run(err):
                        await scope.fail(err)
                    raise
                await scope.finish()
            return _returned(output, fn_id)

        function = client.create_function(
            fn_id=fn_id,
            name=name or fn_id,
            trigger=trigger or inngest.TriggerEvent(event=f"{client.app_id}/{fn_id}"),
            middleware=run_context_middleware(),
            **options.sdk_options(),
        )(handler)
        _INPUT_MODELS[function] = input
        _DESCRIPTIONS[function] = description or (inspect.getdoc(fn) or "").split("\n\n")[0]
        return function

    return decorate


def _returned(output: Any, fn_id: str) -> Any:
    """The handler's output as JSON.

    Runs are converted, anything else not JSON refused once (retrying cannot fix it).
    """
    converted = function_output(output)
    error = unserializable_output(converted, f"function {fn_id!r}")
    if error is not None:
        raise error
    return converted


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
