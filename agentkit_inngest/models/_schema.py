"""Each provider's JSON Schema dialect for tool parameters.

Tools reach a model as neutral :class:`ToolDefinition` s (plain JSON Schema, local
references inlined). A model's :class:`SchemaDialect` turns one into what its
provider accepts: Anthropic takes the schema as it is, OpenAI's strict mode wants
closed objects whose properties are all required, Gemini accepts an OpenAPI subset.
A dialect is a small frozen value; :meth:`SchemaDialect.schema` caches its result
per (dialect, definition), so a tool's schema is converted once, not on every turn.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, ClassVar, Literal, TypeAlias, cast

from ..errors import ConfigurationError
from ..tools._definition import ToolDefinition

__all__ = [
    "GeminiDialect",
    "OpenAIDialect",
    "SchemaDialect",
    "StrictTools",
    "ToolSchema",
]

StrictTools: TypeAlias = Literal["auto", "off", "omit"]
"""How an OpenAI-style model sends tool schemas.

``"auto"``: strict mode (``"strict": true``) whenever the schema allows it, and a
tool's own ``strict=`` wins. ``"off"``: the plain schema with ``"strict": false``.
``"omit"``: the plain schema and no ``strict`` field at all, for OpenAI-compatible
servers that reject it. With ``"off"`` and ``"omit"`` a tool's ``strict=True`` is
not honoured (the server would not enforce it).
"""


@dataclasses.dataclass(frozen=True)
class ToolSchema:
    """A tool's parameters in one provider's dialect.

    Attributes:
        parameters: the schema to send (shared and cached: do not modify it).
        strict: the value of the provider's ``strict`` flag; ``None`` sends none.
    """

    parameters: dict[str, Any]
    strict: bool | None = None


@dataclasses.dataclass(frozen=True)
class SchemaDialect:
    """The neutral dialect.

    The schema as the tool gives it (Anthropic's ``input_schema``, and the base of the others).
    Subclasses override :meth:`convert`.
    """

    label: ClassVar[str] = "JSON Schema"

    def convert(self, tool: ToolDefinition) -> ToolSchema:
        """``tool``'s parameters in this dialect (pure; called once per definition)."""
        return ToolSchema(tool.parameters)

    def schema(self, tool: ToolDefinition) -> ToolSchema:
        """:meth:`convert`, cached per (dialect, definition).

        Raises:
            ConfigurationError: naming the tool, when its schema cannot be sent in
                this dialect (a strict tool that cannot be strict, a malformed schema).
        """
        try:
            return _converted(self, tool)
        except ConfigurationError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as err:
            reason = f"{type(err).__name__}: {err}"[:200]
            raise ConfigurationError(
                f"tool {tool.name!r}: its parameters' schema is malformed and cannot be "
                f"converted for {self.label} ({reason})"
            ) from None


@functools.lru_cache(maxsize=1024)
def _converted(dialect: SchemaDialect, tool: ToolDefinition) -> ToolSchema:
    return dialect.convert(tool)


# -- OpenAI -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpenAIDialect(SchemaDialect):
    """OpenAI Chat Completions (and compatible servers); see :data:`StrictTools`."""

    label: ClassVar[str] = "OpenAI"
    strict_tools: StrictTools = "auto"

    def __post_init__(self) -> None:
        if self.strict_tools not in ("auto", "off", "omit"):
            raise ConfigurationError(
                f"strict_tools must be 'auto', 'off' or 'omit', got {self.strict_tools!r}"
            )

    def convert(self, tool: ToolDefinition) -> ToolSchema:
        if self.strict_tools == "omit":
            return ToolSchema(tool.parameters, None)
        if self.strict_tools == "off" or tool.strict is False:
            return ToolSchema(tool.parameters, False)
        if not strict_compatible(tool.parameters):
            if tool.strict:
                raise ConfigurationError(
                    f"tool {tool.name!r} asks for strict=True but its parameters cannot be "
                    "expressed in OpenAI's strict mode (free-form objects, dict fields or "
                    "recursive definitions); use strict=None to send it non-strict"
                )
            return ToolSchema(tool.parameters, False)
        return ToolSchema(_closed(tool.parameters), True)


def strict_compatible(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` can be sent in OpenAI's strict mode.

    No recursive definitions, no open (free-form) objects below the root.
    """
    if "$defs" in schema:
        return False
    for obj in _objects(schema):
        extra = obj.get("additionalProperties")
        if isinstance(extra, dict) or extra is True:
            return False
        if obj.get("type") == "object" and not obj.get("properties") and obj is not schema:
            return False
    return True


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_objects(item))
    return found


_OPENAI_UNSUPPORTED = frozenset({"default"})


def _or_null(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` that also accepts ``null`` (an optional property in strict mode)."""
    kind = node.get("type")
    if isinstance(kind, str):
        return node if kind == "null" else {**node, "type": [kind, "null"]}
    if isinstance(kind, list):
        return node if "null" in kind else {**node, "type": [*kind, "null"]}
    options = node.get("anyOf")
    if isinstance(options, list):
        if any(isinstance(o, dict) and o.get("type") == "null" for o in options):
            return node
        return {**node, "anyOf": [*options, {"type": "null"}]}
    return {"anyOf": [node, {"type": "null"}]}


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Strict mode.

    Closed objects, every property required, optional ones nullable (a ``null`` then means "not
    given"), no ``default``.
    """

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
                name: (prop if name in required else _or_null(prop)) for name, prop in props.items()
            }
            out["required"] = list(props)
            out["additionalProperties"] = False
        return out

    return cast(dict[str, Any], convert(copy.deepcopy(schema)))


# -- Gemini -------------------------------------------------------------------------------

_GEMINI_DROP = frozenset({"additionalProperties", "default", "examples", "$defs", "const", "$ref"})


@dataclasses.dataclass(frozen=True)
class GeminiDialect(SchemaDialect):
    """Gemini's OpenAPI subset.

    No ``additionalProperties`` or references, ``nullable`` instead of ``null`` types, string enums.
    """

    label: ClassVar[str] = "Gemini"

    def convert(self, tool: ToolDefinition) -> ToolSchema:
        return ToolSchema(cast(dict[str, Any], _openapi(copy.deepcopy(tool.parameters))))


def _openapi(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi(item) for item in node]
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
    out = {k: _openapi(v) for k, v in node.items() if k not in _GEMINI_DROP}
    if out.get("enum") is not None:
        out["enum"] = [str(v) for v in out["enum"]]
        out["type"] = "string"
    return out
