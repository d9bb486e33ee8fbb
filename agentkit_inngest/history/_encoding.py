r"""The JSON text both database stores keep for a message (and a thread's metadata).

PostgreSQL's ``jsonb`` refuses what SQLite and JSON itself accept: the escape
``\u0000`` (NUL) and lone surrogates (which UTF-8 cannot encode anywhere), and it
gives back a float such as ``1e308`` or ``1.234e25`` as an integer. A value holding
any of these is kept as its JSON text *inside* a JSON string, an envelope::

    {"$agentkit": "json-text", "json": "{\"kind\":\"text\",\"content\":\"a\\u0000b\"}"}

Inside a JSON string the escapes are just characters, so every database keeps the
text as it is, and reading it back gives the exact value. Everything else is stored
as plain JSON, as before. Both stores use this module, so both keep the same text
and give back the same messages. What JSON cannot express at all is refused with an
:class:`~agentkit_inngest.errors.InputError` naming the message: integers of more
than 4,300 digits, nesting deeper than pydantic serializes (254 levels).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pydantic

from ..errors import InputError
from ..messages import HistoryAdapter, Message, dump_history

__all__ = ["ENVELOPE", "check_key", "json_text", "read_json_text", "decode_texts", "encode_rows"]

ENVELOPE = "$agentkit"
_ESCAPED = "json-text"
_MARK = f'"{ENVELOPE}"'
_NOT_FOR_JSONB = re.compile(r"\\u0000|[\ud800-\udfff]")
_EXPONENT = re.compile(r"\d[eE][+-]?\d")
_BAD_KEY = re.compile(r"[\x00\ud800-\udfff]")
_INTEGRAL_FLOATS = 1e16  # from here on a float's JSON has an exponent and no fraction


def check_key(value: object, what: str) -> str:
    """``value`` when a database can key by it: a string without NUL or lone surrogates."""
    if isinstance(value, str) and _BAD_KEY.search(value):
        raise InputError(f"{what} must not contain NUL (\\x00) or lone surrogates: {value!r}")
    return value  # type: ignore[return-value]


def json_text(value: Any, what: str) -> str:
    """``value`` as the JSON text a store keeps (see the module's docstring)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as err:
        raise InputError(f"{what}: {err}") from None
    if _NOT_FOR_JSONB.search(text) or (_EXPONENT.search(text) and _integral_float(value)):
        inner = json.dumps(value, allow_nan=False, separators=(",", ":"))  # ASCII only
        text = json.dumps({ENVELOPE: _ESCAPED, "json": inner}, separators=(",", ":"))
    return text


def _integral_float(value: Any) -> bool:
    """Whether ``value`` holds a float PostgreSQL would give back as an integer."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if abs(item) >= _INTEGRAL_FLOATS:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def read_json_text(text: str) -> Any:
    """The value :func:`json_text` made ``text`` from."""
    value = json.loads(text)
    if (
        isinstance(value, dict)
        and value.get(ENVELOPE) == _ESCAPED
        and set(value) == {ENVELOPE, "json"}
        and isinstance(value["json"], str)
    ):
        return json.loads(value["json"])
    return value


def encode_rows(
    messages: Sequence[tuple[str, Message, str | None]],
) -> list[tuple[str, str, str | None]]:
    """``(message_id, JSON text, agent_name)`` per distinct message id (the first wins)."""
    rows: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()
    for message_id, message, agent_name in messages:
        if not isinstance(message_id, str) or not message_id:
            raise InputError(f"a message id must be a non-empty string, got {message_id!r}")
        check_key(message_id, "a message id")
        if agent_name is not None:
            check_key(agent_name, "an agent name")
        if message_id in seen:
            continue
        seen.add(message_id)
        where = f"message {message_id}: its content cannot be stored as JSON"
        try:
            (data,) = dump_history([message])
        except ValueError as err:  # pydantic's serializer: nesting too deep...
            raise InputError(f"{where}: {err}") from None
        rows.append((message_id, json_text(data, where), agent_name))
    return rows


def decode_texts(texts: Sequence[str]) -> list[Message]:
    """Messages from the texts :func:`encode_rows` made."""
    if not any(_MARK in text for text in texts):
        try:
            return HistoryAdapter.validate_json("[" + ",".join(texts) + "]")
        except pydantic.ValidationError:
            pass  # the JSON parser's nesting limit (200) is below the serializer's: go slow
    return HistoryAdapter.validate_python([read_json_text(text) for text in texts])
