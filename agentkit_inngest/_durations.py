"""Durations: one type for every timeout, period and sleep in the package.

A :data:`Duration` is a number of milliseconds (``int``/``float``), a
:class:`datetime.timedelta`, or a string such as ``"500ms"``, ``"30s"``, ``"5m"``,
``"4h"``, ``"7d"`` or ``"2w"``. :func:`parse_duration` turns any of them into a
``timedelta`` and says clearly what is wrong with anything else.
"""

from __future__ import annotations

import datetime
import re
from typing import TypeAlias

from .errors import ConfigurationError

__all__ = ["Duration", "parse_duration"]

Duration: TypeAlias = "int | float | datetime.timedelta | str"
"""Milliseconds, a timedelta, or a string such as ``"30s"``, ``"5m"``, ``"4h"``, ``"7d"``."""

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: object, *, field: str, allow_zero: bool = False) -> datetime.timedelta:
    """A duration from milliseconds, a timedelta or a ``"4h"``-style string.

    Args:
        value: the duration.
        field: what it is, for the error message (``"timeout"``).
        allow_zero: accept a zero duration (a sleep of nothing); otherwise it must
            be positive.

    Raises:
        ConfigurationError: naming ``field`` and what is wrong.
    """
    delta = _to_timedelta(value, field)
    if delta < datetime.timedelta(0) or (delta == datetime.timedelta(0) and not allow_zero):
        raise ConfigurationError(f"{field}: the duration must be positive, got {value!r}")
    return delta


def _to_timedelta(value: object, field: str) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigurationError(f"{field}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            return datetime.timedelta(milliseconds=value)
        except (OverflowError, ValueError) as err:
            raise ConfigurationError(f"{field}: {value!r} is not a usable duration") from err
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigurationError(
                f"{field}: {value!r} is not a duration; use e.g. '30s', '5m', '4h', '7d' "
                "or a number of milliseconds"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        try:
            return datetime.timedelta(seconds=seconds)
        except OverflowError as err:
            raise ConfigurationError(f"{field}: {value!r} is too long a duration") from err
    raise ConfigurationError(f"{field}: expected a duration, got {type(value).__name__}")
