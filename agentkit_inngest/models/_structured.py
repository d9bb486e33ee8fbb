"""Structured answers asked for in a provider's native way.

An :class:`OutputSchema` is the neutral description of the JSON answer an agent
wants (a name, a description, an object JSON Schema). A model whose provider can
be asked for such an answer natively (:attr:`Model.native_output
<agentkit_inngest.models.Model.native_output>`) converts it in ``build_body``:
OpenAI's ``response_format`` (``json_schema``, strict where the schema allows),
Gemini's ``responseMimeType`` and ``responseSchema``. Anthropic has no such field:
typed answers reach it through a final-answer tool.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigurationError
from ..tools._definition import ToolDefinition

__all__ = ["OutputSchema"]


@dataclasses.dataclass(frozen=True)
class OutputSchema:
    """The JSON answer a model is asked for, in no provider's dialect.

    Attributes:
        name: a name for the schema (letters, digits, ``_``, ``-``).
        description: what the answer is.
        schema: an object JSON Schema (references inlined, titles dropped).
        strict: ``True`` demands the provider's strict mode, ``False`` refuses it,
            ``None`` uses it when the schema allows.
    """

    name: str
    description: str
    schema: dict[str, Any]
    strict: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.schema, dict) or self.schema.get("type") != "object":
            raise ConfigurationError(f"output schema {self.name!r} must be an object JSON Schema")

    @property
    def definition(self) -> ToolDefinition:
        """The schema as a tool definition.

        A provider's schema dialect (strict mode, OpenAPI subset) then converts it as it converts
        tools.
        """
        return ToolDefinition(
            name=self.name, description=self.description, parameters=self.schema, strict=self.strict
        )
