"""The neutral description of a tool that models receive.

A :class:`ToolDefinition` says what a model needs to know about a tool, in no
provider's dialect: its name, its description, the JSON Schema of its parameters
(local ``$ref`` s inlined, titles dropped) and the tool author's wish about strict
schemas. Each model adapter turns it into its own provider's dialect (OpenAI's
strict mode, Gemini's OpenAPI subset...); nothing here knows about providers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, cast

from ..errors import ConfigurationError

__all__ = ["ToolDefinition", "inline_schema"]


@dataclasses.dataclass(frozen=True, eq=False)
class ToolDefinition:
    """What a model is told about a tool, in no provider's dialect.

    Build one with :attr:`Tool.definition <agentkit_inngest.Tool.definition>`, or
    directly for a custom model's requests. Two definitions are equal when their
    name, description, strictness and parameters (compared as JSON) are, so
    provider schemas are converted once per definition and cached.

    Attributes:
        name: what the model calls the tool.
        description: what the tool does and when to use it.
        parameters: the JSON Schema of the arguments (an object schema, local
            ``$ref`` s inlined, titles dropped). The definition keeps a copy of its
            own; treat it as read-only.
        strict: the tool author's wish for providers with a strict schema mode
            (OpenAI): ``True`` demands it (a model that cannot honour it raises a
            :class:`ConfigurationError` naming the tool), ``False`` refuses it,
            ``None`` lets the model use it whenever the schema allows.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool | None = None
    _key: tuple[str, str, bool | None, str] = dataclasses.field(
        init=False, repr=False, compare=False
    )
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"a tool definition needs a name, got {self.name!r}")
        if not isinstance(self.description, str):
            raise ConfigurationError(
                f"tool {self.name!r}: the description must be a string, "
                f"got {type(self.description).__name__}"
            )
        if not (self.strict is None or isinstance(self.strict, bool)):
            raise ConfigurationError(
                f"tool {self.name!r}: strict must be True, False or None, got {self.strict!r}"
            )
        if not isinstance(self.parameters, Mapping):
            raise ConfigurationError(
                f"tool {self.name!r}: parameters must be a JSON Schema object, "
                f"got {type(self.parameters).__name__}"
            )
        try:
            parameters = copy.deepcopy(dict(self.parameters))
            text = json.dumps(
                [self.name, self.description, parameters],
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
                ensure_ascii=False,
            )
            text.encode("utf-8")  # lone surrogates could not be sent
        except (TypeError, ValueError, RecursionError) as err:
            reason = f"{type(err).__name__}: {err}"[:200]
            raise ConfigurationError(
                f"tool {self.name!r}: its definition is not plain JSON ({reason})"
            ) from None
        object.__setattr__(self, "parameters", parameters)
        key = (self.name, self.description, self.strict, text)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolDefinition):
            return NotImplemented
        return self is other or (self._hash == other._hash and self._key == other._key)

    def __hash__(self) -> int:
        return self._hash


# -- the neutral schema of a tool's parameters ---------------------------------------

_DROP_EVERYWHERE = {"title", "$schema"}


def inline_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve local ``$ref``s into their definitions and drop titles.

    Recursive definitions stay as references with their ``$defs`` kept.
    """
    inliner = _Inliner(dict(schema.get("$defs") or schema.get("definitions") or {}))
    result = cast(dict[str, Any], inliner.resolve(dict(schema), ()))
    if inliner.kept:
        result["$defs"] = inliner.kept
    if result.get("type") is None and "properties" not in result:
        result = {"type": "object", "properties": {}, **result}
    result.setdefault("type", "object")
    if result["type"] == "object":
        result.setdefault("properties", {})
    return result


class _Inliner:
    """Resolves local references against ``defs``; ``kept`` gathers the recursive ones."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.kept: dict[str, Any] = {}

    def resolve(self, node: Any, active: tuple[str, ...]) -> Any:
        """``node`` with its references inlined and titles dropped.

        ``active`` names the definitions being inlined around ``node``.
        """
        if isinstance(node, list):
            return [self.resolve(item, active) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            return self._reference(node, ref.rsplit("/", 1)[-1], active)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP_EVERYWHERE or key in {"$defs", "definitions"}:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: self.resolve(prop, active) for name, prop in value.items()}
            else:
                out[key] = self.resolve(value, active)
        return out

    def _reference(self, node: dict[str, Any], name: str, active: tuple[str, ...]) -> Any:
        """A ``$ref`` to ``name``: its definition inlined, beside the node's other keys.

        A recursive or unknown reference stays a reference (a recursive definition is
        kept, resolved once, for ``$defs``).
        """
        if name in active or name not in self.defs:
            if name in self.defs and name not in self.kept:
                self.kept[name] = None  # placeholder to stop re-entry
                self.kept[name] = self.resolve(self.defs[name], (*active, name))
            return {k: v for k, v in node.items() if k not in _DROP_EVERYWHERE}
        merged = {**self.resolve(self.defs[name], (*active, name))}
        for key, value in node.items():
            if key != "$ref" and key not in _DROP_EVERYWHERE:
                merged[key] = self.resolve(value, active)
        return merged
