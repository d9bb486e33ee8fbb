"""Building tools.

:func:`create_tool` (AgentKit's ``createTool``) and :func:`tool` (a decorator reading the
parameters from the handler's signature).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, overload

import pydantic

from ..errors import ConfigurationError
from ._signature import _context_param_of, _doc, _signature_model
from ._tool import Handler, Tool

__all__ = ["create_tool", "tool"]


def create_tool(
    *,
    name: str,
    description: str = "",
    handler: Handler,
    parameters: type[pydantic.BaseModel] | None = None,
    json_schema: Mapping[str, Any] | None = None,
    uses_steps: bool = False,
    pure: bool = False,
    strict: bool | None = None,
) -> Tool:
    """Build a tool.

    Args:
        name: what the model calls it (letters, digits, ``_``, ``-``).
        description: what it does and when to use it.
        handler: ``handler(input, ctx)`` when ``parameters`` or ``json_schema`` is
            given; otherwise the parameters are read from the handler's signature
            (see :func:`tool`). ``handler(_params, ctx)`` (a leading underscore) is a
            tool without parameters that receives ``{}``, as AgentKit calls it.
        parameters: a pydantic model of the input.
        json_schema: a JSON Schema of the input instead (AgentKit's plain-object
            ``parameters``); the handler receives the validated arguments as a dict.
        uses_steps: the handler orchestrates steps itself (``ctx.step``); it is then
            not wrapped in a step and must be async and deterministic between steps.
        pure: the handler has no side effects and is deterministic (it only computes
            from its input and the state); it then runs inline, on every replay,
            instead of costing a step.
        strict: force (``True``) or disable (``False``) OpenAI strict schemas;
            by default strict is used whenever the schema allows it.
    """
    if parameters is not None and json_schema is not None:
        raise ConfigurationError(f"tool {name!r}: pass parameters= or json_schema=, not both")
    if json_schema is not None:
        return Tool(
            name=name,
            description=description,
            handler=handler,
            json_schema=json_schema,
            uses_steps=uses_steps,
            pure=pure,
            strict=strict,
            _style="json",
            _context_param=_context_param_of(handler, skip_first=True),
        )
    if parameters is not None:
        if not (isinstance(parameters, type) and issubclass(parameters, pydantic.BaseModel)):
            raise ConfigurationError(f"tool {name!r}: parameters must be a pydantic model class")
        context_param = _context_param_of(handler, skip_first=True)
        return Tool(
            name=name,
            description=description,
            handler=handler,
            parameters=parameters,
            uses_steps=uses_steps,
            pure=pure,
            strict=strict,
            _style="model",
            _context_param=context_param,
        )
    model, style, context_param = _signature_model(name, handler)
    return Tool(
        name=name,
        description=description or _doc(handler),
        handler=handler,
        parameters=model,
        json_schema={"type": "object", "properties": {}} if style == "json" else None,
        uses_steps=uses_steps,
        pure=pure,
        strict=strict,
        _style=style,
        _context_param=context_param,
    )


@overload
def tool(fn: Handler, /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    uses_steps: bool = False,
    pure: bool = False,
    strict: bool | None = None,
) -> Callable[[Handler], Tool]: ...


def tool(
    fn: Handler | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    uses_steps: bool = False,
    pure: bool = False,
    strict: bool | None = None,
) -> Tool | Callable[[Handler], Tool]:
    """Turn a function into a tool.

    The name and description default to the function's name and docstring.

    The handler's parameters are the tool's parameters, except one annotated with
    :class:`ToolContext` (or named ``ctx``/``context``), which receives the context.
    A handler whose only other parameter is a pydantic model receives it whole::

        @tool
        def save_answer(answer: str, ctx: ToolContext) -> str:
            \"\"\"Save the final answer.\"\"\"
            ctx.state.kv.set("answer", answer)
            return "saved"
    """

    def build(handler: Handler) -> Tool:
        return create_tool(
            name=name or handler.__name__,
            description=description if description is not None else _doc(handler),
            handler=handler,
            uses_steps=uses_steps,
            pure=pure,
            strict=strict,
        )

    if fn is not None:
        return build(fn)
    return build
