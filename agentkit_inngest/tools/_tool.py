"""Tools: typed parameters, validated input, and JSON Schema for each provider.

A tool's parameters come from a pydantic model (``parameters=``), from its
handler's signature, or from a raw JSON Schema (``Tool(json_schema=...)``, as MCP
servers provide). The handler receives the **validated** input (a model, keyword
arguments, or the arguments dict) and a :class:`~agentkit_inngest.ToolContext`; it may be sync or
async. Whatever it returns goes back to the model as JSON (a :class:`ToolOutcome`
is sent as it is, error flag included). Invalid arguments and exceptions become
tool errors that the model reads and can correct; they never crash the run.

Models receive a tool as its :class:`ToolDefinition` (:attr:`Tool.definition`):
name, description and plain JSON Schema. Each model adapter converts that schema into
its provider's dialect; nothing here knows about providers.

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
from typing import Any, NamedTuple, Protocol, TypeAlias

import jsonschema
import pydantic
import pydantic_core

from ..errors import ConfigurationError, ToolRetry
from ..messages import ToolCall, ToolResultMessage
from ._definition import ToolDefinition, inline_schema
from ._signature import (
    _describe_errors,
    _drop_nulls,
    _InvalidArguments,
    _json_validator,
    _Style,
    _validate_json,
)

__all__ = [
    "CallContext",
    "Handler",
    "Tool",
    "ToolOutcome",
    "tool_names",
]

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


class _Defined(NamedTuple):
    source: tuple[str, str, bool | None]
    value: ToolDefinition


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
        self._definition: _Defined | None = None

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    # -- what models see ----------------------------------------------------------------

    @property
    def definition(self) -> ToolDefinition:
        """What models are told about this tool.

        Name, description, the parameters' JSON Schema (references inlined, titles dropped) and
        :attr:`strict`. Built once (and again only if the name, description or ``strict``
        change); each model converts it into its provider's dialect.
        """
        cached = self._definition
        if cached is None or cached.source != (self.name, self.description, self.strict):
            parameters = cached.value.parameters if cached else inline_schema(self._schema)
            value = ToolDefinition(
                name=self.name,
                description=self.description,
                parameters=parameters,
                strict=self.strict,
            )
            cached = self._definition = _Defined((self.name, self.description, self.strict), value)
        return cached.value

    @property
    def json_schema(self) -> dict[str, Any]:
        """The parameters' JSON Schema.

        The parameters' JSON Schema, references inlined and titles dropped
        (``definition.parameters``; do not modify it).
        """
        return self.definition.parameters

    # -- calling ------------------------------------------------------------------------

    def validate(self, arguments: Mapping[str, Any]) -> Any:
        """Validate raw model arguments.

        Raises :class:`pydantic.ValidationError` (or a :class:`ValueError` naming each problem,
        for raw JSON Schema tools).
        """
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
        """Validate, run the handler and shape its result.

        Never raises for a bad call or a failing handler (those become tool errors);
        :class:`ToolRetry` and control-flow exceptions propagate.
        """
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


def tool_names(tools: list[Tool]) -> str:
    return ", ".join(t.name for t in tools) or "(none)"
