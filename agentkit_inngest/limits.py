"""Size limits that keep a run well inside Inngest's own.

Inngest refuses a step output over 4 MB and a run whose memoized state passes
32 MB; when that happens the run fails with a server error that names neither
the tool nor the fix. :class:`Limits` sets smaller bounds that are checked where
the data is made, in plain Python and under Inngest alike (one code path):

- a **tool result** over ``tool_result_bytes`` is replaced by its beginning and a
  note the model can read (the run goes on);
- the **state** (``data`` and ``kv``) over ``state_bytes`` after a tool's change,
  or in an event's payload, fails the run with :class:`SizeLimitError`;
- a **step output** over ``step_bytes``, or one that would bring the run's
  memoized outputs over ``run_bytes``, fails its step (not retried);
- a **function output** over ``output_bytes`` leaves out the conversation
  (``results``, ``state.results``, ``state.messages``) and says so.

Sizes are the length in bytes of the value's compact JSON (UTF-8).

Values that leave the app must also *be* plain JSON: :func:`plain_json` checks a
value and returns it as Inngest will hand it back. A string with a lone UTF-16
surrogate (``"\\ud800"``, which Python allows and JSON text can carry as an escape)
comes back with U+FFFD in its place, as the Inngest server's JSON decoder does;
NaN, infinities, numbers beyond 64-bit floats, bytes, circular references, values
of other types and nesting deeper than :data:`MAX_JSON_DEPTH` (a tool's result or
state, a model's tool-call arguments) or :data:`MAX_STEP_DEPTH` (a step output) are
refused with a :class:`NotJSONError` that says why.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "INNGEST_RUN_BYTES",
    "INNGEST_STEP_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_STEP_DEPTH",
    "Limits",
    "NotJSONError",
    "json_size",
    "plain_json",
    "not_json_reason",
    "plain_json_text",
]

INNGEST_STEP_BYTES = 4 * 1024 * 1024
"""Inngest's limit on one step's output (and a function's output)."""

INNGEST_RUN_BYTES = 32 * 1024 * 1024
"""Inngest's limit on a run's memoized state."""

MAX_STEP_DEPTH = 180
"""How deeply a step output may nest (``[[1]]`` is 2). The Inngest Python SDK reads
each request with pydantic, whose JSON parser stops at 200 levels, and a memo sits
3 levels deep in that request: past this depth the next request could not be read."""

MAX_JSON_DEPTH = 100
"""How deeply a tool result, a state value or a model's tool-call arguments may nest.
They travel inside step outputs (a fast turn's memo wraps a state patch 5 levels
deeper), so they get less room than :data:`MAX_STEP_DEPTH`."""

KIB = 1024
MIB = 1024 * KIB


@dataclasses.dataclass(frozen=True)
class Limits:
    """Size limits of a run, in bytes of JSON. Pass them to the runner
    (``InlineRunner(limits=...)``) or to ``network_function(..., limits=...)``.

    Attributes:
        tool_result_bytes: a tool result sent to the model; a larger one is cut to
            its beginning with a note saying so (default 256 KiB, about 64k tokens).
        state_bytes: the state's ``data`` and ``kv`` (default 1 MiB).
        step_bytes: one step's output (default 2 MiB; Inngest's limit is 4 MB).
        run_bytes: all memoized step outputs of a run (default 16 MiB; Inngest's
            limit is 32 MB).
        output_bytes: a function's output (default 2 MiB).
    """

    tool_result_bytes: int = 256 * KIB
    state_bytes: int = 1 * MIB
    step_bytes: int = 2 * MIB
    run_bytes: int = 16 * MIB
    output_bytes: int = 2 * MIB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ConfigurationError(
                    f"Limits.{field.name} must be an integer of at least 1024 bytes, got {value!r}"
                )
        for name in ("tool_result_bytes", "state_bytes", "step_bytes", "output_bytes"):
            if getattr(self, name) > INNGEST_STEP_BYTES:
                raise ConfigurationError(
                    f"Limits.{name} must not exceed Inngest's 4 MB step limit "
                    f"({INNGEST_STEP_BYTES} bytes)"
                )
        if self.run_bytes > INNGEST_RUN_BYTES:
            raise ConfigurationError(
                f"Limits.run_bytes must not exceed Inngest's 32 MB run limit ({INNGEST_RUN_BYTES})"
            )
        if self.tool_result_bytes > self.step_bytes:
            raise ConfigurationError("Limits.tool_result_bytes must not exceed Limits.step_bytes")


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (non-JSON values raise ``TypeError``/
    ``ValueError``; a lone surrogate counts as the 3 bytes of the U+FFFD it becomes)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
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
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise NotJSONError(f"it is nested more than {max_depth} levels deep") from None
    except (TypeError, ValueError) as err:
        raise NotJSONError(not_json_reason(err)) from err
    _check_depth(text, max_depth)
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
    """Inngest reads every number as a 64-bit float: one beyond its range (about
    1.8e308) cannot pass (a smaller integer beyond 2**53 comes back rounded)."""
    if not _LONG_DIGITS.search(text):
        return
    for digits in _LONG_DIGITS.findall(_STRING.sub("", text)):
        if float(digits) == float("inf"):
            raise NotJSONError(
                f"it holds a number of {len(digits)} digits, beyond the 64-bit floats "
                "Inngest reads numbers as"
            )


def _check_depth(text: str, max_depth: int) -> None:
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
