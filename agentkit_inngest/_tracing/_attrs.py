"""Span attribute names and values: the OpenTelemetry GenAI conventions, made safe.

Every value put on a span passes :func:`clean`: whatever a model, a tool or a user
hands over (lone surrogates, NaN, integers past 64 bits, megabytes of text, objects
of any type) becomes a value an OTLP exporter can encode, cut to a bounded size. The
OTLP encoder drops a string with a lone surrogate (logging a traceback); here it
gets U+FFFD, as the Inngest server's JSON decoder does.

Prompts and completions (:func:`input_messages`, :func:`output_messages`) are
built only when content capture is on, as the JSON strings the conventions
describe (``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]``),
kept valid JSON when they are cut to :data:`MAX_CONTENT`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from ..messages import Message, TextMessage, ToolCallMessage

__all__ = [
    "MAX_CONTENT",
    "MAX_TEXT",
    "AttrValue",
    "clean",
    "clean_attrs",
    "error_type",
    "input_messages",
    "output_messages",
    "provider_name",
    "system_instructions",
    "text",
    "to_json",
]

AttrValue: TypeAlias = "str | bool | int | float | tuple[str, ...]"
"""What a span attribute may hold after :func:`clean`."""

MAX_TEXT = 4096
"""Characters of an ordinary string attribute (names, ids, error messages)."""

MAX_CONTENT = 32 * 1024
"""Characters of a captured prompt, completion, tool argument or result (JSON)."""

_MAX_ITEMS = 64
_INT64 = 2**63
_ELLIPSIS = "…"

_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "grok": "x_ai"}
"""Our provider names -> ``gen_ai.provider.name`` well-known values."""

_ROLES = {"tool_result": "tool"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` of one of our providers (``gemini`` -> ``gcp.gemini``)."""
    return _PROVIDERS.get(provider, provider)


def text(value: str, limit: int = MAX_TEXT) -> str:
    """``value`` as valid UTF-8 (lone surrogates become U+FFFD), cut to ``limit``."""
    if len(value) > limit:
        value = value[: max(0, limit - 1)] + _ELLIPSIS
    return _SURROGATE.sub("\ufffd", value)


def clean(value: object, limit: int = MAX_TEXT) -> AttrValue | None:
    """``value`` as a span attribute value, or ``None`` to leave it out.

    Booleans, 64-bit integers and finite floats stay as they are; other numbers,
    strings and anything else become bounded, valid strings; sequences of strings
    become tuples of them (at most 64).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else text(str(value), 64)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return text(value, limit)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(text(item, limit) for item in value[:_MAX_ITEMS])
    return text(to_json(value, limit), limit)


def clean_attrs(attrs: Mapping[str, object]) -> dict[str, AttrValue]:
    """``attrs`` with each value :func:`clean`; ``None`` values are left out."""
    out: dict[str, AttrValue] = {}
    for key, value in attrs.items():
        cleaned = clean(value)
        if cleaned is not None:
            out[key] = cleaned
    return out


def to_json(value: object, limit: int = MAX_CONTENT) -> str:
    """``value`` as compact JSON text of at most ``limit`` characters.

    The text is always valid JSON: a value too long becomes a JSON string holding its cut text.
    """
    try:
        encoded = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=repr, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError):
        encoded = json.dumps(_safe_repr(value), ensure_ascii=False)
    encoded = text(encoded, len(encoded) + 1)
    if len(encoded) <= limit:
        return encoded
    return json.dumps(text(encoded, max(1, limit // 2)), ensure_ascii=False)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)[:MAX_TEXT]
    except Exception:  # noqa: BLE001 - a repr that fails is no reason to fail a span
        return f"<{type(value).__name__}>"


def error_type(err: BaseException) -> str:
    """The ``error.type`` attribute of an error.

    ``error.type``: the provider's HTTP status when there is one, else the
    exception's class name (low cardinality, as the conventions ask).
    """
    status = getattr(err, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status < 600:
        return str(status)
    return type(err).__name__


# -- captured content (only built when capture is on) ---------------------------------


def _parts(message: Message, limit: int) -> list[dict[str, Any]]:
    if isinstance(message, TextMessage):
        return [{"type": "text", "content": text(message.content, limit)}]
    if isinstance(message, ToolCallMessage):
        return [
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
            for call in message.tools
        ]
    content = message.content
    result = text(content, limit) if isinstance(content, str) else content
    return [{"type": "tool_call_response", "id": message.tool_call_id, "response": result}]


def _conversation(messages: Sequence[Message], limit: int, *, output: bool) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, TextMessage) and message.role == "system":
            continue  # in gen_ai.system_instructions
        turn: dict[str, Any] = {
            "role": _ROLES.get(message.role, message.role),
            "parts": _parts(message, limit),
        }
        if output:
            turn["finish_reason"] = getattr(message, "stop_reason", None) or "stop"
        turns.append(turn)
    return turns


def _bounded(build: Any, count: int) -> str:
    """JSON of ``build(limit)`` within :data:`MAX_CONTENT`.

    Each text is cut shorter until it fits, then only the last messages are kept.
    """
    turns: list[dict[str, Any]] = []
    for limit in (MAX_CONTENT, MAX_CONTENT // max(2, 2 * count), 1024, 64):
        turns = build(limit)
        encoded = to_json(turns, MAX_CONTENT * 4)
        if len(encoded) <= MAX_CONTENT:
            return encoded
    while len(turns) > 1:
        turns = turns[len(turns) // 2 :]
        encoded = to_json(turns, MAX_CONTENT * 4)
        if len(encoded) <= MAX_CONTENT:
            return encoded
    return to_json(turns, MAX_CONTENT)


def input_messages(messages: Sequence[Message]) -> str:
    """``gen_ai.input.messages``: the conversation sent to the model (JSON)."""
    return _bounded(lambda limit: _conversation(messages, limit, output=False), len(messages))


def output_messages(messages: Sequence[Message]) -> str:
    """``gen_ai.output.messages``: what the model answered (JSON)."""
    return _bounded(lambda limit: _conversation(messages, limit, output=True), len(messages))


def system_instructions(messages: Iterable[Message]) -> str | None:
    """``gen_ai.system_instructions``: the system prompt's parts (JSON), if any."""
    parts = [
        {"type": "text", "content": text(m.content, MAX_CONTENT)}
        for m in messages
        if isinstance(m, TextMessage) and m.role == "system"
    ]
    return to_json(parts, MAX_CONTENT) if parts else None
