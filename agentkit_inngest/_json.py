r"""Plain JSON: the values that may leave the app, and their size.

Values that leave the app must *be* plain JSON: :func:`plain_json` checks a value
and returns it as Inngest will hand it back. A string with a lone UTF-16 surrogate
(``"\ud800"``, which Python allows and JSON text can carry as an escape) comes back
with U+FFFD in its place, as the Inngest server's JSON decoder does; NaN,
infinities, numbers beyond 64-bit floats, bytes, circular references, values of
other types and nesting deeper than :data:`MAX_JSON_DEPTH` (a tool's result or
state, a model's tool-call arguments) or :data:`MAX_STEP_DEPTH` (a step output) are
refused with a :class:`NotJSONError` that says why.

Sizes are the length in bytes of a value's compact JSON (UTF-8).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_STEP_DEPTH",
    "NotJSONError",
    "check_depth",
    "json_roundtrip",
    "json_size",
    "not_json_reason",
    "plain_json",
    "plain_json_text",
]

MAX_STEP_DEPTH = 180
"""How deeply a step output may nest (``[[1]]`` is 2). The Inngest Python SDK reads
each request with pydantic, whose JSON parser stops at 200 levels, and a memo sits
3 levels deep in that request: past this depth the next request could not be read."""

MAX_JSON_DEPTH = 100
"""How deeply a tool result, a state value or a model's tool-call arguments may nest.
They travel inside step outputs (a fast turn's memo wraps a state patch 5 levels
deeper), so they get less room than :data:`MAX_STEP_DEPTH`."""


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""``json.dumps(..., ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, built
once (``json.dumps`` builds an encoder per call when given options)."""


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON.

    Bytes of ``value`` as compact UTF-8 JSON (non-JSON values raise ``TypeError``/
    ``ValueError``; a lone surrogate counts as the 3 bytes of the U+FFFD it becomes).
    """
    text = _COMPACT.encode(value)
    return len(text.encode("utf-8", "surrogatepass"))


class NotJSONError(ValueError):
    """A value that cannot travel as JSON; the message says why."""


_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONG_DIGITS = re.compile(r"\d{309,}")


def plain_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[Any, int]:
    """``value`` as it comes back from Inngest, and its size (as :func:`json_size`).

    Lone surrogates become U+FFFD (a new value is returned only then); anything that
    is not plain JSON, or nests deeper than ``max_depth``, raises :class:`NotJSONError`.
    """
    text, size, cleaned = _plain_text(value, max_depth)
    return (json.loads(text) if cleaned else value), size


def plain_json_text(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str:
    """The compact JSON text of :func:`plain_json` ``(value)``."""
    return _plain_text(value, max_depth)[0]


def _plain_text(value: Any, max_depth: int) -> tuple[str, int, bool]:
    try:
        text = _COMPACT.encode(value)
    except RecursionError:
        raise NotJSONError(f"it is nested more than {max_depth} levels deep") from None
    except (TypeError, ValueError) as err:
        raise NotJSONError(not_json_reason(err)) from err
    check_depth(text, max_depth)
    _check_numbers(text)
    try:
        return text, len(text.encode("utf-8")), False
    except UnicodeEncodeError:  # surrogates: a pair is one character once decoded
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        cleaned = _SURROGATE.sub("\ufffd", joined)  # what is left is alone
        return cleaned, len(cleaned.encode("utf-8")), True


def not_json_reason(err: Exception) -> str:
    """Why encoding a value to JSON failed with ``err``, in words."""
    message = str(err)
    if isinstance(err, UnicodeDecodeError):
        return "it holds bytes that are not UTF-8 text"
    if isinstance(err, RecursionError):
        return "it is nested too deeply"
    if "Out of range float" in message:
        return "it holds NaN or an infinity, which JSON cannot represent"
    if "Circular reference" in message:
        return "it refers to itself (a circular reference)"
    if "integer string conversion" in message:
        return "it holds an integer too long to write as JSON"
    if "is not JSON serializable" in message:
        return f"it holds a value JSON cannot represent ({message})"
    return f"{type(err).__name__}: {message}"


def _check_numbers(text: str) -> None:
    """Refuse a number too large for the 64-bit floats Inngest reads numbers as.

    Inngest reads every number as a 64-bit float: one beyond its range (about 1.8e308) cannot
    pass (a smaller integer beyond 2**53 comes back rounded).
    """
    if not _LONG_DIGITS.search(text):
        return
    for digits in _LONG_DIGITS.findall(_STRING.sub("", text)):
        if float(digits) == float("inf"):
            raise NotJSONError(
                f"it holds a number of {len(digits)} digits, beyond the 64-bit floats "
                "Inngest reads numbers as"
            )


def check_depth(text: str, max_depth: int) -> None:
    """Raise :class:`NotJSONError` when the JSON ``text`` nests deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than it has brackets
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > max_depth:
        raise NotJSONError(
            f"it is nested {deepest} levels deep, more than the {max_depth} allowed "
            "(the Inngest SDK cannot read deeper JSON back)"
        )


def json_roundtrip(step_id: str, value: object) -> Any:
    """``value`` as it comes back from a memo.

    It is encoded to JSON and decoded again (a lone surrogate comes back as U+FFFD, as from the
    Inngest server).

    Raises:
        ConfigurationError: the value is not JSON; the message names the step.
    """
    try:
        return json.loads(plain_json_text(value, max_depth=MAX_STEP_DEPTH))
    except NotJSONError as err:
        raise not_json_step(step_id, err) from err


def not_json_step(step_id: str, err: Exception) -> ConfigurationError:
    """The error of a step whose output is not JSON."""
    return ConfigurationError(
        f"step {step_id!r} returned a value that is not JSON: {err}; "
        "return plain dicts/lists/str/numbers, or call .model_dump(mode='json')"
    )
