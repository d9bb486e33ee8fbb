"""Tools: typed parameters, validated input, and JSON Schema for each provider.

A tool's parameters come from a pydantic model (``parameters=``), from its
handler's signature, or from a raw JSON Schema (``Tool(json_schema=...)``, as MCP
servers provide). The handler receives the **validated** input (a model, keyword
arguments, or the arguments dict) and a :class:`~agentkit_inngest.ToolContext`; it may be sync or
async. Whatever it returns goes back to the model as JSON (a :class:`ToolOutcome`
is sent as it is, error flag included). Invalid arguments and exceptions become
tool errors that the model reads and can correct; they never crash the run.

Tools that orchestrate steps themselves (an event wait, an invoke) are declared
with ``uses_steps=True``: they are not wrapped in a step (steps cannot nest) and
get a :class:`~agentkit_inngest.StepTools` as ``ctx.step``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, TypeAlias, cast, overload

import jsonschema
import pydantic
import pydantic_core

from ..errors import ConfigurationError, ToolRetry
from ..messages import ToolCall, ToolResultMessage
from ._signature import (
    _context_param_of,
    _describe_errors,
    _doc,
    _drop_nulls,
    _InvalidArguments,
    _json_validator,
    _signature_model,
    _Style,
    _validate_json,
)

__all__ = [
    "CallContext",
    "Handler",
    "Provider",
    "Tool",
    "ToolOutcome",
    "create_tool",
    "tool",
    "tool_names",
]

Provider: TypeAlias = Literal["openai", "anthropic", "gemini"]
"""Schema dialects: OpenAI (strict where possible), Anthropic, Gemini (OpenAPI subset)."""

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class ToolOutcome:
    """A handler's result (JSON) or error, as sent back to the model.

    A handler may return one itself to report an error without raising.
    """

    content: Any
    is_error: bool = False

    def message(self, call: ToolCall) -> ToolResultMessage:
        """The result message of ``call`` with this outcome."""
        return ToolResultMessage(
            tool_call_id=call.id, name=call.name, content=self.content, is_error=self.is_error
        )


Handler: TypeAlias = Callable[..., Any]
"""A tool's handler: its parameters are read from its signature (see :func:`tool`)."""


class CallContext(Protocol):
    """What :meth:`Tool.call` reads of its context (a :class:`~agentkit_inngest.ToolContext`)."""

    @property
    def call(self) -> ToolCall:
        """The model's tool call."""
        ...


class Tool:
    """A tool an agent can call. Build one with :func:`create_tool` or :func:`tool`.

    Built directly with ``json_schema=`` and no ``parameters``, the schema is sent to
    the model as given, the arguments are validated against it (JSON Schema, draft
    2020-12 unless the schema's ``$schema`` says otherwise) and the handler is called
    as ``handler(arguments: dict, ctx=context)``.
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        handler: Handler,
        parameters: type[pydantic.BaseModel] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        uses_steps: bool = False,
        pure: bool = False,
        strict: bool | None = None,
        _style: _Style | None = None,
        _context_param: str | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigurationError(
                f"tool name {name!r} must be 1-64 characters of letters, digits, '_' or '-'"
            )
        if uses_steps and not inspect.iscoroutinefunction(handler):
            raise ConfigurationError(f"tool {name!r} uses steps, so its handler must be async")
        if uses_steps and pure:
            raise ConfigurationError(f"tool {name!r} cannot both use steps and be pure")
        self.name = name
        self.description = description
        self.handler = handler
        self.parameters = parameters
        self.uses_steps = uses_steps
        self.pure = pure
        self.strict = strict
        if _style is None:
            if parameters is not None:
                _style = "model"
            else:
                _style = "json" if json_schema is not None else "none"
            _context_param = "ctx"
        self._style: _Style = _style
        self._context_param = _context_param
        self._validator: jsonschema.protocols.Validator | None = None
        if json_schema is not None:
            self._schema: dict[str, Any] = copy.deepcopy(dict(json_schema))
            if _style == "json":
                self._validator = _json_validator(name, self._schema)
        elif parameters is not None:
            self._schema = parameters.model_json_schema()
        else:
            self._schema = {"type": "object", "properties": {}}
        self._cache: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    # -- schemas ------------------------------------------------------------------------

    @property
    def json_schema(self) -> dict[str, Any]:
        """The parameters' JSON Schema, references inlined and titles dropped."""
        return self.schema_for("anthropic")

    def openai_strict(self) -> bool:
        """Whether the OpenAI schema is sent with ``strict: true``."""
        if self.strict is False:
            return False
        compatible = _strict_compatible(_inline(self._schema))
        if self.strict and not compatible:
            raise ConfigurationError(
                f"tool {self.name!r} asks for strict=True but its parameters cannot be "
                "expressed in OpenAI's strict mode (free-form objects or dict fields)"
            )
        return compatible

    def schema_for(self, provider: Provider) -> dict[str, Any]:
        """The parameters' schema in a provider's dialect (cached, do not modify)."""
        key = provider
        if key not in self._cache:
            base = _inline(self._schema)
            if provider == "openai":
                self._cache[key] = _to_openai(base) if self.openai_strict() else base
            elif provider == "gemini":
                self._cache[key] = _to_gemini(base)
            else:
                self._cache[key] = base
        return self._cache[key]

    # -- calling ------------------------------------------------------------------------

    def validate(self, arguments: Mapping[str, Any]) -> Any:
        """Validate raw model arguments; raises :class:`pydantic.ValidationError`
        (or a :class:`ValueError` naming each problem, for raw JSON Schema tools)."""
        if self._validator is not None:
            return _validate_json(self._validator, dict(arguments))
        if self._style == "none" or self.parameters is None:
            return None
        try:
            return self.parameters.model_validate(dict(arguments))
        except pydantic.ValidationError:
            # Strict schemas make optional fields nullable; a null then means "not given".
            stripped = _drop_nulls(dict(arguments))
            if stripped == dict(arguments):
                raise
            try:
                return self.parameters.model_validate(stripped)
            except pydantic.ValidationError:
                pass
            raise

    async def call(self, arguments: Mapping[str, Any], ctx: CallContext) -> ToolOutcome:
        """Validate, run the handler and shape its result. Never raises for a bad call
        or a failing handler (those become tool errors); :class:`ToolRetry` and
        control-flow exceptions propagate."""
        if ctx.call.arguments_error is not None:
            return ToolOutcome(
                {
                    "error": "invalid_arguments",
                    "message": f"The arguments for {self.name!r} could not be read: "
                    f"{ctx.call.arguments_error}. Send a JSON object and call the tool again.",
                },
                is_error=True,
            )
        try:
            validated = self.validate(arguments)
        except (pydantic.ValidationError, _InvalidArguments) as err:
            details = err.details if isinstance(err, _InvalidArguments) else _describe_errors(err)
            return ToolOutcome(
                {
                    "error": "invalid_arguments",
                    "message": f"The arguments for {self.name!r} are invalid; "
                    "fix them and call the tool again.",
                    "details": details,
                },
                is_error=True,
            )
        try:
            result = await self._invoke(validated, ctx)
        except (ToolRetry, ConfigurationError):
            raise
        except Exception as err:  # noqa: BLE001 - a failing handler is reported to the model
            return ToolOutcome(
                {
                    "error": type(err).__name__,
                    "message": str(err) or type(err).__name__,
                },
                is_error=True,
            )
        try:
            if isinstance(result, ToolOutcome):
                return ToolOutcome(
                    pydantic_core.to_jsonable_python(result.content), is_error=result.is_error
                )
            return ToolOutcome(pydantic_core.to_jsonable_python(result))
        except pydantic_core.PydanticSerializationError as err:
            return ToolOutcome(
                {"error": "unserializable_result", "message": f"tool result is not JSON: {err}"},
                is_error=True,
            )

    async def _invoke(self, validated: Any, ctx: CallContext) -> Any:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if self._style in ("model", "json"):
            args.append(validated)
        elif self._style == "kwargs" and validated is not None:
            kwargs.update({name: getattr(validated, name) for name in type(validated).model_fields})
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        if inspect.iscoroutinefunction(self.handler):
            return await self.handler(*args, **kwargs)
        if self.pure:
            result = self.handler(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        handler = self.handler
        result = await asyncio.to_thread(lambda: handler(*args, **kwargs))
        if inspect.isawaitable(result):
            return await result
        return result


def create_tool(
    *,
    name: str,
    description: str = "",
    handler: Handler,
    parameters: type[pydantic.BaseModel] | None = None,
    uses_steps: bool = False,
    pure: bool = False,
    strict: bool | None = None,
) -> Tool:
    """Build a tool.

    Args:
        name: what the model calls it (letters, digits, ``_``, ``-``).
        description: what it does and when to use it.
        handler: ``handler(input, ctx)`` when ``parameters`` is given; otherwise the
            parameters are read from the handler's signature (see :func:`tool`).
        parameters: a pydantic model of the input.
        uses_steps: the handler orchestrates steps itself (``ctx.step``); it is then
            not wrapped in a step and must be async and deterministic between steps.
        pure: the handler has no side effects and is deterministic (it only computes
            from its input and the state); it then runs inline, on every replay,
            instead of costing a step.
        strict: force (``True``) or disable (``False``) OpenAI strict schemas;
            by default strict is used whenever the schema allows it.
    """
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
    """Turn a function into a tool; the name and description default to the
    function's name and docstring.

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


# -- schema dialects --------------------------------------------------------------------

_DROP_EVERYWHERE = {"title", "$schema"}


def _inline(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve local ``$ref``s into their definitions and drop titles.

    Recursive definitions stay as references with their ``$defs`` kept.
    """
    defs: dict[str, Any] = dict(schema.get("$defs") or schema.get("definitions") or {})
    kept: dict[str, Any] = {}

    def resolve(node: Any, active: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, active) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            name = ref.rsplit("/", 1)[-1]
            if name in active or name not in defs:
                if name in defs and name not in kept:
                    kept[name] = None  # placeholder to stop re-entry
                    kept[name] = resolve(defs[name], (*active, name))
                return {k: v for k, v in node.items() if k not in _DROP_EVERYWHERE}
            merged = {**resolve(defs[name], (*active, name))}
            for key, value in node.items():
                if key != "$ref" and key not in _DROP_EVERYWHERE:
                    merged[key] = resolve(value, active)
            return merged
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP_EVERYWHERE or key in {"$defs", "definitions"}:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {pname: resolve(pschema, active) for pname, pschema in value.items()}
            else:
                out[key] = resolve(value, active)
        return out

    result = cast(dict[str, Any], resolve(dict(schema), ()))
    if kept:
        result["$defs"] = kept
    if result.get("type") is None and "properties" not in result:
        result = {"type": "object", "properties": {}, **result}
    result.setdefault("type", "object")
    if result["type"] == "object":
        result.setdefault("properties", {})
    return result


def _walk_objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_walk_objects(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk_objects(item))
    return found


def _strict_compatible(schema: dict[str, Any]) -> bool:
    if "$defs" in schema:
        return False
    for obj in _walk_objects(schema):
        extra = obj.get("additionalProperties")
        if isinstance(extra, dict) or extra is True:
            return False
        if obj.get("type") == "object" and not obj.get("properties") and obj is not schema:
            return False
    return True


_OPENAI_UNSUPPORTED = {"default"}


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if isinstance(kind, str):
        if kind == "null":
            return node
        return {**node, "type": [kind, "null"]}
    if isinstance(kind, list):
        return node if "null" in kind else {**node, "type": [*kind, "null"]}
    if "anyOf" in node:
        options = node["anyOf"]
        if any(isinstance(o, dict) and o.get("type") == "null" for o in options):
            return node
        return {**node, "anyOf": [*options, {"type": "null"}]}
    if "enum" in node:
        return {"anyOf": [node, {"type": "null"}]}
    return {"anyOf": [node, {"type": "null"}]}


def _to_openai(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: closed objects, every property required, optional ones nullable."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: convert(v) for k, v in node.items() if k not in _OPENAI_UNSUPPORTED}
        if out.get("type") == "object" or "properties" in out:
            props: dict[str, Any] = dict(out.get("properties") or {})
            required = set(out.get("required") or [])
            out["properties"] = {
                name: (prop if name in required else _nullable(prop))
                for name, prop in props.items()
            }
            out["required"] = list(props)
            out["additionalProperties"] = False
        return out

    return cast(dict[str, Any], convert(copy.deepcopy(schema)))


_GEMINI_DROP = {"additionalProperties", "default", "examples", "$defs", "const", "$ref"}


def _to_gemini(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's OpenAPI subset: no ``additionalProperties``, nullable instead of null types."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        if "const" in node and "enum" not in node:
            node["enum"] = [node["const"]]
        options = node.get("anyOf")
        if isinstance(options, list):
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(non_null) < len(options):
                node.pop("anyOf")
                if len(non_null) == 1:
                    node = {**non_null[0], **node, "nullable": True}
                else:
                    node = {**node, "anyOf": non_null, "nullable": True}
        kind = node.get("type")
        if isinstance(kind, list):
            rest = [k for k in kind if k != "null"]
            node["type"] = rest[0] if len(rest) == 1 else rest
            if "null" in kind:
                node["nullable"] = True
        out = {k: convert(v) for k, v in node.items() if k not in _GEMINI_DROP}
        if out.get("enum") is not None:
            out["enum"] = [str(v) for v in out["enum"]]
            out.setdefault("type", "string")
            if out["type"] != "string":
                out["type"] = "string"
        return out

    return cast(dict[str, Any], convert(copy.deepcopy(schema)))


def tool_names(tools: list[Tool]) -> str:
    return ", ".join(t.name for t in tools) or "(none)"
