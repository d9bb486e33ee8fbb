"""Typed reads of an Inngest event's JSON data inside the tests' own functions.

``ctx.event.data`` maps names to any JSON value; the functions the tests write know
which shape each field has, and these helpers say so to the type checker (an event
of another shape fails the run with the field's value in the message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_str(value: object) -> str:
    """``value``, which must be a string."""
    assert isinstance(value, str), f"not a string: {value!r}"
    return value


def as_mapping(value: object) -> Mapping[str, Any]:
    """``value``, which must be a JSON object."""
    assert isinstance(value, Mapping), f"not a JSON object: {value!r}"
    return value
