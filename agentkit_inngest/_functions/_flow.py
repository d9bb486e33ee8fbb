"""Flow control: every option an Inngest function supports, checked when it is defined.

A typo or an impossible value fails when the function is defined (at import time),
with a :class:`~agentkit_inngest.ConfigurationError` naming the option, rather than
at the first event.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypedDict

import inngest
import pydantic

from .._durations import parse_duration
from ..errors import ConfigurationError

__all__ = ["DEFAULT_RETRIES", "MAX_RETRIES", "FlowControl"]

MAX_RETRIES = 20
DEFAULT_RETRIES = 4
"""Inngest's retries per step when a function sets none (``consts.DefaultRetryCount``)."""


_Spec: TypeAlias = "Mapping[str, Any]"


class FlowOptions(TypedDict, total=False):
    """The flow-control keyword arguments of the function builders (see :class:`FlowControl`)."""

    concurrency: (
        int | _Spec | inngest.Concurrency | Sequence[int | _Spec | inngest.Concurrency] | None
    )
    throttle: _Spec | inngest.Throttle | None
    rate_limit: _Spec | inngest.RateLimit | None
    retries: int | None
    debounce: _Spec | inngest.Debounce | None
    priority: str | _Spec | inngest.Priority | None
    cancel: str | _Spec | inngest.Cancel | Sequence[str | _Spec | inngest.Cancel] | None
    idempotency: str | None
    timeouts: _Spec | inngest.Timeouts | None
    singleton: _Spec | inngest.Singleton | None


class FlowControl(pydantic.BaseModel):
    """Every flow-control option an Inngest function supports, checked when defined.

    Each field also accepts the SDK's own objects (``inngest.Concurrency`` ...).

    Attributes:
        concurrency: at most N runs at once, optionally per key (``event.data.user_id``)
            and scope (``fn``, ``env``, ``account``); an int, a dict, or a list of them.
        throttle: start at most ``limit`` runs per ``period`` (queued, not dropped).
        rate_limit: start at most ``limit`` runs per ``period`` (extra events dropped).
        retries: retries per step (0-20; Inngest's default is 4).
        debounce: run once after events stop arriving for ``period``.
        priority: an expression giving a run's priority (``"event.data.plan == 'pro' ? 120 : 0"``).
        cancel: events that cancel a running run (``{"event": ..., "if": ...}``).
        idempotency: an expression; one run per value per 24 hours.
        timeouts: ``{"start": ..., "finish": ...}`` limits.
        singleton: one run at a time per key; ``mode`` ``"skip"`` or ``"cancel"``.
    """

    model_config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    concurrency: list[inngest.Concurrency] | None = None
    throttle: inngest.Throttle | None = None
    rate_limit: inngest.RateLimit | None = None
    retries: int | None = None
    debounce: inngest.Debounce | None = None
    priority: inngest.Priority | None = None
    cancel: list[inngest.Cancel] | None = None
    idempotency: str | None = None
    timeouts: inngest.Timeouts | None = None
    singleton: inngest.Singleton | None = None

    @pydantic.field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else [value]
        built = []
        for item in items:
            if isinstance(item, bool):
                raise ValueError("expected a limit, a dict or inngest.Concurrency")
            if isinstance(item, int):
                item = {"limit": item}
            spec = _as_dict(item, inngest.Concurrency)
            if not isinstance(spec.get("limit"), int) or spec["limit"] < 1:
                raise ValueError("limit must be an integer >= 1")
            _expression(spec.get("key"), "key")
            if spec.get("scope") not in (None, "fn", "env", "account"):
                raise ValueError("scope must be 'fn', 'env' or 'account'")
            if spec.get("scope") in ("env", "account") and not spec.get("key"):
                raise ValueError(f"scope {spec['scope']!r} needs a key")
            built.append(inngest.Concurrency(**spec))
        if len(built) > 2:
            raise ValueError("Inngest allows at most 2 concurrency limits per function")
        return built

    @pydantic.field_validator("throttle", "rate_limit", mode="before")
    @classmethod
    def _limit_per_period(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if value is None:
            return None
        kind = inngest.Throttle if info.field_name == "throttle" else inngest.RateLimit
        spec = _as_dict(value, kind)
        if not isinstance(spec.get("limit"), int) or spec["limit"] < 1:
            raise ValueError("limit must be an integer >= 1")
        if "period" not in spec:
            raise ValueError("period is required")
        period = parse_duration(spec["period"], field="period")
        if not datetime.timedelta(seconds=1) <= period <= datetime.timedelta(days=7):
            raise ValueError("period must be between 1s and 7d")
        spec["period"] = period
        _expression(spec.get("key"), "key")
        if "burst" in spec and (not isinstance(spec["burst"], int) or spec["burst"] < 1):
            raise ValueError("burst must be an integer >= 1")
        return kind(**spec)

    @pydantic.field_validator("retries")
    @classmethod
    def _retries(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_RETRIES:
            raise ValueError(f"must be between 0 and {MAX_RETRIES}")
        return value

    @pydantic.field_validator("debounce", mode="before")
    @classmethod
    def _debounce(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Debounce)
        if "period" not in spec:
            raise ValueError("period is required")
        spec["period"] = parse_duration(spec["period"], field="period")
        if not datetime.timedelta(seconds=1) <= spec["period"] <= datetime.timedelta(days=7):
            raise ValueError("period must be between 1s and 7d")
        if spec.get("timeout") is not None:
            spec["timeout"] = parse_duration(spec["timeout"], field="timeout")
        _expression(spec.get("key"), "key")
        return inngest.Debounce(**spec)

    @pydantic.field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"run": value}
        spec = _as_dict(value, inngest.Priority)
        _expression(spec.get("run"), "run", required=True)
        return inngest.Priority(**spec)

    @pydantic.field_validator("cancel", mode="before")
    @classmethod
    def _cancel(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else [value]
        built = []
        for item in items:
            if isinstance(item, str):
                item = {"event": item}
            spec = _as_dict(item, inngest.Cancel)
            if "if" in spec:
                spec["if_exp"] = spec.pop("if")
            if not isinstance(spec.get("event"), str) or not spec["event"].strip():
                raise ValueError("each cancel entry needs an event name")
            _expression(spec.get("if_exp"), "if")
            if spec.get("timeout") is not None:
                spec["timeout"] = parse_duration(spec["timeout"], field="timeout")
            built.append(inngest.Cancel(**spec))
        return built

    @pydantic.field_validator("idempotency")
    @classmethod
    def _idempotency(cls, value: str | None) -> str | None:
        _expression(value, "idempotency")
        return value

    @pydantic.field_validator("timeouts", mode="before")
    @classmethod
    def _timeouts(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Timeouts)
        if spec.get("start") is None and spec.get("finish") is None:
            raise ValueError("set start and/or finish")
        for key in ("start", "finish"):
            if spec.get(key) is not None:
                spec[key] = parse_duration(spec[key], field=key)
        return inngest.Timeouts(**spec)

    @pydantic.field_validator("singleton", mode="before")
    @classmethod
    def _singleton(cls, value: Any) -> Any:
        if value is None:
            return None
        spec = _as_dict(value, inngest.Singleton)
        if spec.get("mode") not in ("skip", "cancel"):
            raise ValueError("mode must be 'skip' or 'cancel'")
        _expression(spec.get("key"), "key")
        return inngest.Singleton(**spec)

    @classmethod
    def build(cls, where: str, options: Mapping[str, Any]) -> FlowControl:
        """Validate ``options``, raising :class:`ConfigurationError` naming the option."""
        try:
            return cls.model_validate(dict(options))
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "options"
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            if first.get("type") == "extra_forbidden":
                known = ", ".join(cls.model_fields)
                message = f"unknown option (known: {known})"
            raise ConfigurationError(f"{where}: {field}: {message}") from err

    def sdk_options(self) -> dict[str, Any]:
        """Keyword arguments for ``inngest.Inngest.create_function``."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def _as_dict(value: Any, kind: type[pydantic.BaseModel]) -> dict[str, Any]:
    if isinstance(value, kind):
        return value.model_dump()
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"expected a dict or inngest.{kind.__name__}, got {type(value).__name__}")


_EXPRESSION_ROOTS = re.compile(r"\b(event|events|async)\.")


def _expression(value: object, field: str, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty expression string")
    if value.count("(") != value.count(")") or value.count("'") % 2 or value.count('"') % 2:
        raise ValueError(f"{field} {value!r} has unbalanced brackets or quotes")
    if not _EXPRESSION_ROOTS.search(value) and not re.fullmatch(r"[\s\d.+\-*/()]+", value):
        raise ValueError(f"{field} {value!r} should refer to the event, e.g. 'event.data.user_id'")
