"""Provider answers as values a step can memoize: plain JSON within the depth limit."""

from __future__ import annotations

import math
import re
from typing import Any

from .._json import MAX_STEP_DEPTH

__all__ = ["MAX_DEPTH", "json_answer", "json_text"]


MAX_DEPTH = MAX_STEP_DEPTH - 10
"""How deeply an answer may nest (170). Real answers nest a dozen levels. An answer is
memoized as a step's output (a fast turn wraps it a level deeper), so it must stay
within :data:`~agentkit_inngest.limits.MAX_STEP_DEPTH`: a deeper one is an answer that
cannot be read (retriable), not a step output the SDK could not read back."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(text: str) -> str:
    r"""``text`` with lone surrogates replaced by U+FFFD.

    Lone surrogates are ``"\ud800"`` escapes in a provider's JSON; the Inngest server's JSON decoder
    replaces them the same way. Such a text cannot be encoded as UTF-8, so it could not be memoized,
    stored or streamed.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def json_answer(value: Any, depth: int = 0) -> Any:
    """``value`` as it can be memoized.

    Plain JSON (tuples become lists), lone surrogates replaced (:func:`json_text`).

    Raises:
        ValueError: for NaN or infinity (``NaN`` / ``Infinity`` literals, which
            Python's JSON parser accepts and JSON forbids), an integer beyond a
            float64's range, nesting deeper than :data:`MAX_DEPTH`, a key that is not
            a string, or a value JSON cannot hold.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"the answer nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _json_number(value)
    if isinstance(value, str):
        return json_text(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"the answer has a {type(key).__name__} key")
            out[json_text(key)] = json_answer(item, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [json_answer(item, depth + 1) for item in value]
    raise ValueError(f"the answer holds a {type(value).__name__}, which JSON cannot hold")


def _json_number(value: int | float) -> int | float:
    """``value`` when a JSON reader can hold it.

    Raises:
        ValueError: NaN or infinity, or an integer beyond a float64's range.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("the answer holds NaN or Infinity, which JSON does not allow")
    elif value.bit_length() > 1024:  # the Inngest server reads numbers as float64
        raise ValueError("the answer holds an integer too large for JSON readers")
    return value
