"""Reading a handler's signature, and checking a model's arguments against a tool's schema."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeAlias, cast, get_type_hints

import jsonschema
import pydantic
import referencing
import referencing.exceptions

from ..errors import ConfigurationError

__all__ = [
    "CONTEXT_MARKER",
    "_InvalidArguments",
    "_Style",
    "_context_param_of",
    "_describe_errors",
    "_doc",
    "_drop_nulls",
    "_json_validator",
    "_signature_model",
    "_validate_json",
]

Handler: TypeAlias = Callable[..., Any]
_Style: TypeAlias = Literal["model", "kwargs", "json", "none"]

CONTEXT_MARKER = "__agentkit_tool_context__"
"""A class with this attribute set is a tool context: a handler parameter annotated
with it receives the context (:class:`~agentkit_inngest.ToolContext` sets it)."""


class _InvalidArguments(ValueError):
    """Arguments that break a raw JSON Schema; ``details`` name each problem."""

    def __init__(self, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.details = details


def _doc(handler: Handler) -> str:
    doc = inspect.getdoc(handler) or ""
    return doc.split("\n\n", 1)[0].strip()


def _is_context(name: str, annotation: Any) -> bool:
    if isinstance(annotation, type) and getattr(annotation, CONTEXT_MARKER, False):
        return True
    if isinstance(annotation, str):
        return annotation.split(".")[-1] == "ToolContext"
    return annotation is inspect.Parameter.empty and name in {"ctx", "context"}


def _hints(handler: Handler) -> dict[str, Any]:
    try:
        return get_type_hints(handler, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable forward references: use raw annotations
        return dict(getattr(handler, "__annotations__", {}))


def _context_param_of(handler: Handler, *, skip_first: bool) -> str | None:
    params = list(inspect.signature(handler).parameters.values())
    hints = _hints(handler)
    if skip_first and params:
        params = params[1:]
    for param in params:
        if _is_context(param.name, hints.get(param.name, param.annotation)):
            return param.name
    if params:
        # (input, ctx) handlers may leave ctx unannotated under any name
        return params[0].name
    return None


def _signature_model(
    name: str, handler: Handler
) -> tuple[type[pydantic.BaseModel] | None, _Style, str | None]:
    hints = _hints(handler)
    context_param: str | None = None
    fields: dict[str, Any] = {}
    params = list(inspect.signature(handler).parameters.values())
    unused = _unused_first(params, hints)
    for param in params:
        annotation = hints.get(param.name, param.annotation)
        if param is unused:
            continue
        if _is_context(param.name, annotation):
            context_param = param.name
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ConfigurationError(f"tool {name!r}: *args and **kwargs cannot be tool parameters")
        if annotation is inspect.Parameter.empty:
            raise ConfigurationError(_unannotated(name, param.name))
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    if unused is not None:  # only two parameters: no fields
        return None, "json", context_param  # handler({}, ctx): AgentKit's no-parameter shape
    if not fields:
        return None, "none", context_param
    if len(fields) == 1:
        ((annotation, default),) = fields.values()
        if (
            default is ...
            and isinstance(annotation, type)
            and issubclass(annotation, pydantic.BaseModel)
        ):
            return annotation, "model", context_param
    model = pydantic.create_model(
        f"{name}_parameters",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )
    return cast(type[pydantic.BaseModel], model), "kwargs", context_param


def _unused_first(
    params: list[inspect.Parameter], hints: dict[str, Any]
) -> inspect.Parameter | None:
    """The unused first parameter of a ``handler(_params, ctx)``, else ``None``.

    The first parameter of ``handler(_params, ctx)``: unannotated, named with a leading
    underscore (unused by convention; pydantic fields cannot start with one) and followed by the
    context. Such a handler is a tool without parameters called as AgentKit calls it, with an
    empty arguments object.
    """
    if len(params) != 2:
        return None
    first, second = params
    if (
        first.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        or not first.name.startswith("_")
        or hints.get(first.name, first.annotation) is not inspect.Parameter.empty
    ):
        return None
    return first if _is_context(second.name, hints.get(second.name, second.annotation)) else None


def _unannotated(tool: str, param: str) -> str:
    return (
        f"tool {tool!r}: parameter {param!r} needs a type annotation. A tool without "
        "parameters takes only the context (handler=lambda ctx: ... or "
        "def handler(ctx: ToolContext)); AgentKit's handler(params, ctx) shape is written "
        "handler(_params, ctx) (a leading underscore: unused, it receives {}). A tool with "
        "parameters annotates each (def handler(city: str, ctx: ToolContext)) or passes "
        "parameters=Model and receives handler(params, ctx)"
    )


# -- validation helpers -----------------------------------------------------------------


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _json_validator(name: str, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for a raw JSON Schema; ``$ref`` resolves within the schema only."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise ConfigurationError(
            f"tool {name!r}: its JSON Schema is invalid: {err.message} "
            f"(at {'/'.join(str(p) for p in err.absolute_path) or 'the root'})"
        ) from err
    validator: jsonschema.protocols.Validator = cls(schema, registry=referencing.Registry())
    return validator


def _json_errors(validator: jsonschema.protocols.Validator, arguments: Any) -> list[str]:
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    except referencing.exceptions.Unresolvable:
        # A reference the schema cannot resolve: leave the arguments to the tool itself.
        return []
    described: list[str] = []
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path) or "(arguments)"
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        described.append(f"{where}: {message}")
    return described


def _validate_json(validator: jsonschema.protocols.Validator, arguments: dict[str, Any]) -> Any:
    errors = _json_errors(validator, arguments)
    if not errors:
        return arguments
    # Strict schemas make optional fields nullable; a null then means "not given".
    stripped = _drop_nulls(arguments)
    if stripped != arguments and not _json_errors(validator, stripped):
        return stripped
    raise _InvalidArguments(errors)


def _describe_errors(err: pydantic.ValidationError) -> list[str]:
    described: list[str] = []
    for item in err.errors(include_url=False):
        where = ".".join(str(p) for p in item.get("loc", ())) or "(arguments)"
        text = f"{where}: {item.get('msg', 'invalid')}"
        if item.get("type") not in {"missing"} and "input" in item:
            shown = repr(item["input"])
            if len(shown) > 80:
                shown = shown[:77] + "..."
            text += f" (got {shown})"
        described.append(text)
    return described
