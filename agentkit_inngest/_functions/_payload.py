"""What goes in and out of an agent or network function.

The event's data, checked, and an output kept within its size limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from .._json import json_size
from .._limits import Limits
from .._state import State
from ..errors import InputError, SizeLimitError

__all__ = ["EventPayload", "bounded_output", "checked_state"]


class EventPayload(pydantic.BaseModel):
    """The ``data`` of an event that triggers an agent or network function.

    Other fields (``user_id`` for a concurrency key...) are allowed and ignored.
    """

    model_config = pydantic.ConfigDict(extra="allow")

    input: str = pydantic.Field(min_length=1, max_length=1_000_000)
    state: dict[str, Any] | None = None
    thread_id: str | None = pydantic.Field(default=None, min_length=1, max_length=256)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> EventPayload:
        """Validate event data, raising :class:`InputError` naming the field."""
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            field = "data." + ".".join(str(p) for p in first.get("loc", ()))
            got = first.get("input")
            shown = f" (got {type(got).__name__})" if first.get("type") != "missing" else ""
            raise InputError(f"invalid event data: {field}: {first.get('msg')}{shown}") from err


def checked_state(state: State[Any], limits: Limits) -> State[Any]:
    size = json_size(state.snapshot())
    if size > limits.state_bytes:
        raise SizeLimitError(
            f"invalid event data: data.state: its data and kv are {size:,} bytes of JSON, over "
            f"the limit of {limits.state_bytes:,} bytes (Limits.state_bytes); send a reference "
            "to large data instead of the data itself",
            size=size,
            limit=limits.state_bytes,
        )
    return state


def bounded_output(output: dict[str, Any], limits: Limits, *, where: str) -> dict[str, Any]:
    """A function's output, kept within ``limits.output_bytes``.

    A function's output within ``limits.output_bytes``: when it is larger, the new messages
    (``results``, or an agent's ``result``) are left out and an ``omitted`` note says so; if
    even that is too large, :class:`SizeLimitError`.
    """
    size = json_size(output)
    if size <= limits.output_bytes:
        return output
    dropped: list[str] = [key for key in ("result", "results") if key in output]
    compact = {key: value for key, value in output.items() if key not in dropped}
    state = output.get("state")
    if isinstance(state, dict) and ("results" in state or "messages" in state):
        compact["state"] = {k: v for k, v in state.items() if k not in ("results", "messages")}
        dropped += [f"state.{key}" for key in ("results", "messages") if key in state]
    compact["omitted"] = {
        "fields": dropped,
        "bytes": size,
        "limit": limits.output_bytes,
        "note": f"the output was {size:,} bytes of JSON, over the limit of "
        f"{limits.output_bytes:,} bytes (Limits.output_bytes), so the conversation was left "
        "out; keep it in a history store (history=) to read it back",
    }
    compact_size = json_size(compact)
    if compact_size > limits.output_bytes:
        raise SizeLimitError(
            f"{where}: the output is {compact_size:,} bytes of JSON even without the "
            f"conversation, over the limit of {limits.output_bytes:,} bytes (Limits.output_bytes)",
            size=compact_size,
            limit=limits.output_bytes,
        )
    return compact
