"""Typed answers: the type an agent's (or a network's) final answer must have.

``output_type=T`` (a pydantic model, a dataclass, ``list[int]``... anything pydantic
validates) asks the model for a ``T`` and validates what it gives:

- :class:`ToolOutput` (the default for a plain type): the agent gets one more tool,
  ``final_answer``, whose parameters are ``T``'s JSON Schema, and must call some
  tool (``tool_choice="any"``); the call's arguments are the answer. Invalid
  arguments go back to the model as a tool error naming each problem. This works
  with every provider.
- :class:`NativeOutput`: the provider is asked for JSON of ``T``'s schema in its
  own way (OpenAI ``response_format``, strict where the schema allows; Gemini
  ``responseSchema``); the answer is the text of the turn that calls no tool. A
  model without a native way (Anthropic, a fallback chain) uses the tool.

A type whose schema is not an object (``int``, ``list[str]``) is wrapped in
``{"response": ...}``. An answer that does not validate goes back to the model
with the errors, at most ``output_retries`` times; then the call fails with
:class:`~agentkit_inngest.errors.OutputValidationError`. Validation is a pure
function of the memoized answers: a replay validates again and never asks again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import pydantic
import pydantic_core

from .._json import NotJSONError, plain_json
from ..errors import ConfigurationError
from ..models import OutputSchema
from ..tools import Tool
from ..tools._definition import inline_schema
from ..tools._signature import _drop_nulls, _InvalidArguments

__all__ = [
    "NativeOutput",
    "OutputContract",
    "ToolOutput",
    "answer_json",
    "contract_for",
]

FINAL_ANSWER = "final_answer"
_DESCRIPTION = (
    "Give your final answer. Call this once you have it, with the answer as the arguments; "
    "it ends your turn."
)
MAX_FEEDBACK = 4_000  # characters of validation errors sent back to the model


@dataclasses.dataclass(frozen=True)
class ToolOutput:
    """Ask for the answer through a final-answer tool (every provider).

    Attributes:
        type: the answer's type.
        name: the tool's name.
        description: what the model is told about it.
        strict: OpenAI strict schema wish (as a tool's ``strict``).
    """

    type: Any
    name: str = FINAL_ANSWER
    description: str = _DESCRIPTION
    strict: bool | None = None


@dataclasses.dataclass(frozen=True)
class NativeOutput:
    """Ask for the answer natively where the provider can, else through the tool.

    Natively means OpenAI's ``response_format`` or Gemini's ``responseSchema``.

    Attributes:
        type: the answer's type.
        name: the schema's name.
        description: what the answer is.
        strict: ``None`` uses strict mode when the schema allows.
    """

    type: Any
    name: str = FINAL_ANSWER
    description: str = ""
    strict: bool | None = None


class OutputContract:
    """A compiled ``output_type``: its schema, its validator, its final-answer tool."""

    def __init__(self, spec: ToolOutput | NativeOutput) -> None:
        self.spec = spec
        self.native = isinstance(spec, NativeOutput)
        try:
            self.inner: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(spec.type)
            self.adapter = self.inner
            schema = self.adapter.json_schema()
            self.wrapped = schema.get("type") != "object"
            if self.wrapped:  # {"response": T}: providers want an object
                wrapper = pydantic.create_model("Answer", response=(spec.type, ...))
                self.adapter = pydantic.TypeAdapter(wrapper)
                schema = self.adapter.json_schema()
        except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as err:
            raise ConfigurationError(
                f"output_type {spec.type!r} cannot be validated by pydantic: {err}"
            ) from None
        self.schema = inline_schema(schema)
        self.tool = _AnswerTool(self, spec)

    @property
    def name(self) -> str:
        """The final-answer tool's (or schema's) name."""
        return self.spec.name

    def output_schema(self) -> OutputSchema:
        """The schema to ask a model for natively."""
        return OutputSchema(
            name=self.spec.name,
            description=self.spec.description,
            schema=self.schema,
            strict=self.spec.strict,
        )

    def validate_arguments(self, arguments: Mapping[str, Any]) -> Any:
        """The answer in a final-answer call's arguments.

        Raises:
            pydantic.ValidationError: it does not validate.
            _InvalidArguments: it is not plain JSON (NaN, an infinity...).
        """
        given: Any = dict(arguments)
        try:
            return self._checked(given)
        except pydantic.ValidationError:
            stripped = _drop_nulls(given)  # strict schemas: a null means "not given"
            if stripped == given:
                raise
            try:
                return self._checked(stripped)
            except pydantic.ValidationError:
                pass
            raise

    def validate_text(self, text: str) -> Any:
        """The answer written as JSON text (a code fence around it is allowed)."""
        body = text.strip()
        if body.startswith("```") and body.endswith("```") and len(body) >= 6:
            body = body[3:-3].strip()
            first, _, rest = body.partition("\n")
            if first.strip().isalpha() and rest:
                body = rest
        try:
            parsed = pydantic_core.from_json(_no_lone_surrogates(body), allow_inf_nan=False)
        except ValueError as err:
            raise _InvalidArguments([f"the answer is not JSON: {str(err)[:200]}"]) from None
        return self._checked(parsed)

    def validate_value(self, value: Any) -> Any:
        """``value`` (the answer itself, or its JSON form) as the answer."""
        return self._checked({"response": value} if self.wrapped else value)

    def _checked(self, given: Any) -> Any:
        """``given`` validated (unwrapped), and checked to be plain JSON."""
        validated = self.adapter.validate_python(given)
        value = validated.response if self.wrapped else validated
        self.to_json(value)
        return value

    def to_json(self, value: Any) -> Any:
        """The answer's JSON form (plain JSON).

        Raises:
            _InvalidArguments: it is not plain JSON (NaN, an infinity...).
        """
        try:
            dumped = self.inner.dump_python(value, mode="json")
            return plain_json(dumped)[0]
        except (NotJSONError, pydantic_core.PydanticSerializationError, ValueError) as err:
            raise _InvalidArguments([f"the answer cannot be written as JSON: {err}"]) from None


def _no_lone_surrogates(text: str) -> str:
    """``text`` with lone UTF-16 surrogates as U+FFFD (as a memo brings them back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in joined)
    return text


def feedback(err: Exception) -> str:
    """Validation errors as short text for the model."""
    if isinstance(err, pydantic.ValidationError):
        items = err.errors(include_url=False, include_input=False, include_context=False)
        lines = [
            f"{'.'.join(str(p) for p in item.get('loc', ())) or '(answer)'}: {item.get('msg')}"
            for item in items[:20]
        ]
    elif isinstance(err, _InvalidArguments):
        lines = list(err.details)
    else:
        lines = [str(err)]
    text = "; ".join(lines)
    return text if len(text) <= MAX_FEEDBACK else text[: MAX_FEEDBACK - 3] + "..."


class _AnswerTool(Tool):
    """The final-answer tool: validates with the output type; pure (no step)."""

    def __init__(self, contract: OutputContract, spec: ToolOutput | NativeOutput) -> None:
        super().__init__(
            name=spec.name,
            description=spec.description or _DESCRIPTION,
            handler=_received,
            json_schema=contract.schema,
            pure=True,
            strict=spec.strict,
            _style="model",
            _context_param=None,
        )
        self._contract = contract

    def validate(self, arguments: Mapping[str, Any]) -> Any:
        """The answer in ``arguments`` (errors name each problem)."""
        return self._contract.validate_arguments(arguments)


def _received(_answer: object) -> str:
    return "Final answer received."


def _spec(output_type: Any) -> ToolOutput | NativeOutput:
    if isinstance(output_type, (ToolOutput, NativeOutput)):
        return output_type
    return ToolOutput(output_type)


@functools.lru_cache(maxsize=256)
def _compiled(spec: ToolOutput | NativeOutput) -> OutputContract:
    return OutputContract(spec)


def contract_for(output_type: Any, *, where: str) -> OutputContract | None:
    """The compiled contract of ``output_type`` (``None`` or ``str``: no typed answer).

    Compiled once per type (types and markers are hashable; an unhashable one is
    compiled per call).

    Raises:
        ConfigurationError: naming ``where``, when pydantic cannot validate the type
            or the tool name is not a tool name.
    """
    if output_type is None or output_type is str:
        return None
    spec = _spec(output_type)
    try:
        try:
            return _compiled(spec)
        except TypeError:  # unhashable: compile it here
            return OutputContract(spec)
    except ConfigurationError as err:
        raise ConfigurationError(f"{where}: {err}") from None


def answer_json(contract: OutputContract | None, value: Any) -> Any:
    """The JSON form of an answer (its own JSON when there is no contract)."""
    if contract is None:
        return pydantic_core.to_jsonable_python(value)
    return contract.to_json(value)
