"""Gemini's ``default_parameters``.

The native request fields, and the flat sampling settings other providers use (``temperature``,
``max_tokens``...) moved into ``generationConfig``, where Gemini expects them.

Gemini rejects a request with a field it does not know (HTTP 400, "Unknown name"),
so an unknown field is a :class:`ConfigurationError` when the model is defined,
not a failed run later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

__all__ = ["gemini_parameters"]

REQUEST_FIELDS = (
    "generationConfig",
    "safetySettings",
    "systemInstruction",
    "toolConfig",
    "cachedContent",
    "labels",
)
"""Top-level request fields a model's defaults may set (the adapter writes
``contents`` and ``tools`` itself)."""

_SET_BY_THE_ADAPTER = ("contents", "tools", "model")

# generationConfig's fields and the kind of value each takes
_NUMBER, _INTEGER, _BOOLEAN, _STRING, _STRINGS, _OBJECT = (
    "a number",
    "an integer",
    "true or false",
    "a string",
    "a list of strings",
    "a JSON object",
)
GENERATION_FIELDS: dict[str, str] = {
    "temperature": _NUMBER,
    "topP": _NUMBER,
    "topK": _NUMBER,
    "maxOutputTokens": _INTEGER,
    "stopSequences": _STRINGS,
    "candidateCount": _INTEGER,
    "seed": _INTEGER,
    "presencePenalty": _NUMBER,
    "frequencyPenalty": _NUMBER,
    "responseMimeType": _STRING,
    "responseSchema": _OBJECT,
    "responseJsonSchema": _OBJECT,
    "responseModalities": _STRINGS,
    "responseLogprobs": _BOOLEAN,
    "logprobs": _INTEGER,
    "enableEnhancedCivicAnswers": _BOOLEAN,
    "mediaResolution": _STRING,
    "speechConfig": _OBJECT,
    "thinkingConfig": _OBJECT,
    "imageConfig": _OBJECT,
}
"""The fields of Gemini's ``GenerationConfig`` that may be given flat."""

_ALIASES = {"max_tokens": "maxOutputTokens", "stop": "stopSequences"}
"""Other providers' names for the same settings."""

_INT32 = 2**31


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


_REQUEST_NAMES = {**{f: f for f in REQUEST_FIELDS}, **{_snake(f): f for f in REQUEST_FIELDS}}
_GENERATION_NAMES = {
    **{f: f for f in GENERATION_FIELDS},
    **{_snake(f): f for f in GENERATION_FIELDS},
    **_ALIASES,
}


def gemini_parameters(label: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` in the shape of a Gemini request.

    Native fields kept (snake_case names written in camelCase), flat generation settings moved into
    ``generationConfig``.

    Raises:
        ConfigurationError: for an unknown field (the message lists what is
            accepted), a setting given twice, or a value of the wrong kind.
    """
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ConfigurationError(
            f"{label}: default_parameters must be a mapping, got {type(given).__name__}"
        )
    native: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in given.items():
        name = key if isinstance(key, str) else None
        if name is not None and name in _REQUEST_NAMES:
            _put(label, native, _REQUEST_NAMES[name], value, given_as=name)
        elif name is not None and name in _GENERATION_NAMES:
            field = _GENERATION_NAMES[name]
            _put(label, flat, field, _checked(label, name, field, value), given_as=name)
        else:
            unknown.append(repr(key)[:80])
    if unknown:
        raise ConfigurationError(_unknown_message(label, unknown))
    if flat:
        native["generationConfig"] = _merged_config(label, native.get("generationConfig", {}), flat)
    _check_native(label, native)
    return native


def _merged_config(label: str, config: object, flat: dict[str, Any]) -> dict[str, Any]:
    """The native ``generationConfig`` with the flat generation settings added.

    Raises:
        ConfigurationError: ``config`` is not an object, or sets one of ``flat`` too.
    """
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"{label}: default_parameters['generationConfig'] must be a JSON object, "
            f"got {type(config).__name__}"
        )
    merged = dict(config)
    for field, value in flat.items():
        if field in merged:
            raise ConfigurationError(
                f"{label}: default_parameters sets {field!r} twice, flat and in "
                "generationConfig; keep one"
            )
        merged[field] = value
    return merged


def _put(label: str, into: dict[str, Any], field: str, value: Any, *, given_as: str) -> None:
    if field in into:
        raise ConfigurationError(
            f"{label}: default_parameters sets {field!r} twice (also as {given_as!r}); keep one"
        )
    into[field] = value


def _checked(label: str, name: str, field: str, value: Any) -> Any:
    """``value`` for ``field`` (a lone stop string becomes a list), or an error."""
    kind = GENERATION_FIELDS[field]
    if kind == _STRINGS and isinstance(value, str):
        value = [value]
    if not _is(kind, value):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ConfigurationError(
            f"{label}: default_parameters[{name!r}] must be {kind}, got {shown}"
        )
    return list(value) if kind == _STRINGS else value


def _is(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == _BOOLEAN
    if kind == _NUMBER:
        return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < _INT32
    if kind == _INTEGER:
        return isinstance(value, int) and -_INT32 <= value < _INT32
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _STRINGS:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return kind == _OBJECT and isinstance(value, Mapping)


def _check_native(label: str, native: dict[str, Any]) -> None:
    expected: dict[str, tuple[type | tuple[type, ...], str]] = {
        "generationConfig": (Mapping, _OBJECT),
        "safetySettings": ((list, tuple), "a list"),
        "systemInstruction": (Mapping, _OBJECT),
        "toolConfig": (Mapping, _OBJECT),
        "cachedContent": (str, _STRING),
        "labels": (Mapping, _OBJECT),
    }
    for field, value in native.items():
        types, kind = expected[field]
        if not isinstance(value, types):
            raise ConfigurationError(
                f"{label}: default_parameters[{field!r}] must be {kind}, got {type(value).__name__}"
            )
        native[field] = dict(value) if isinstance(value, Mapping) else value
    try:
        json.dumps(native, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as err:
        reason = f"{type(err).__name__}: {err}"[:200]
        raise ConfigurationError(
            f"{label}: default_parameters cannot be sent as JSON ({reason})"
        ) from None


def _unknown_message(label: str, unknown: list[str]) -> str:
    names = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    adapter = [name for name in unknown if name.strip("'") in _SET_BY_THE_ADAPTER]
    note = (
        f" ({', '.join(adapter)} set by the adapter from the conversation and the tools)"
        if adapter
        else ""
    )
    settings = ", ".join(f"{_snake(f)}/{f}" if _snake(f) != f else f for f in GENERATION_FIELDS)
    return (
        f"{label}: default_parameters has field(s) Gemini does not accept: {names}{note}. "
        f"Accepted: the request fields {', '.join(REQUEST_FIELDS)}; and these generation "
        f"settings, given flat or inside generationConfig: {settings} "
        "(also max_tokens for maxOutputTokens and stop for stopSequences)"
    )
