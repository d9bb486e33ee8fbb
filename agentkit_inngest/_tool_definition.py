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
from typing import Any

from .errors import ConfigurationError

__all__ = ["ToolDefinition"]


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
