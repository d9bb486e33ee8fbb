"""Provider-neutral messages.

A conversation is a list of small typed records. Each record carries a ``kind``
discriminator so that a whole history round-trips through JSON with one
:data:`HistoryAdapter` and comes back as the same Python objects.

- :class:`TextMessage`: text from the system, the user or the assistant.
- :class:`ToolCallMessage`: the assistant asks for one or more tool calls.
- :class:`ToolResultMessage`: the result (or error) of one tool call.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeAlias

import pydantic

__all__ = [
    "HistoryAdapter",
    "Message",
    "Role",
    "StopReason",
    "TextMessage",
    "ToolCall",
    "ToolCallMessage",
    "ToolResultMessage",
    "Usage",
    "dump_history",
    "load_history",
]

Role: TypeAlias = Literal["system", "user", "assistant"]
"""Who wrote a text message."""

StopReason: TypeAlias = Literal["stop", "tool", "length", "content_filter", "other"]
"""Why the model stopped: a final answer, a tool request, a token limit, a filter."""


class _Record(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class TextMessage(_Record):
    """Plain text from one role."""

    kind: Literal["text"] = "text"
    role: Role
    content: str
    stop_reason: StopReason | None = None


class ToolCall(_Record):
    """One call of a tool requested by the model.

    ``id`` is the provider's call id; it pairs the call with its result.
    ``arguments`` are the arguments the model produced (not yet validated). When the
    model's text was not a JSON object, ``arguments`` is empty, ``arguments_error``
    says why and ``raw_arguments`` keeps the text, so the model can be told.
    ``meta`` carries provider data that must be echoed back (Gemini's thought
    signatures).
    """

    id: str
    name: str
    arguments: dict[str, Any] = pydantic.Field(default_factory=dict)
    arguments_error: str | None = None
    raw_arguments: str | None = None
    meta: dict[str, Any] | None = None


class ToolCallMessage(_Record):
    """The assistant asks for tool calls (several when the model calls in parallel)."""

    kind: Literal["tool_call"] = "tool_call"
    role: Literal["assistant"] = "assistant"
    tools: tuple[ToolCall, ...]
    stop_reason: StopReason | None = "tool"


class ToolResultMessage(_Record):
    """The outcome of one tool call, sent back to the model."""

    kind: Literal["tool_result"] = "tool_result"
    role: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str
    content: Any = None
    is_error: bool = False

    def content_text(self) -> str:
        """The result as the text a provider receives: strings as they are, the rest as JSON."""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, ensure_ascii=False, separators=(",", ":"))


Message: TypeAlias = Annotated[
    TextMessage | ToolCallMessage | ToolResultMessage,
    pydantic.Field(discriminator="kind"),
]
"""Any message of a conversation."""

HistoryAdapter: pydantic.TypeAdapter[list[Message]] = pydantic.TypeAdapter(list[Message])
"""The one adapter that validates and serializes a whole history."""


def dump_history(messages: list[Message]) -> list[dict[str, Any]]:
    """A history as JSON-compatible data (lossless; see :func:`load_history`)."""
    dumped: list[dict[str, Any]] = HistoryAdapter.dump_python(messages, mode="json")
    return dumped


def load_history(data: object) -> list[Message]:
    """Rebuild a history from :func:`dump_history` output (or its JSON text)."""
    if isinstance(data, (str, bytes)):
        return HistoryAdapter.validate_json(data)
    return HistoryAdapter.validate_python(data)


class Usage(pydantic.BaseModel):
    """Token usage of one or more model calls."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        """The usage of both, summed field by field."""
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )
