"""What a run spends, and the caps it may not pass.

A :class:`Budget` is a set of caps (model requests, tokens, tool calls, wall-clock
time, estimated cost); a network has one per run, an agent one per call. The run's
:class:`Ledger` counts what its model requests and tool calls used, in total, per
model and per agent. It is filled by the run layer from what the memoized steps
recorded (the provider's answer, the tool calls it asked for), on every replay
alike, so a replay neither counts anything twice nor starts from zero: the
figures are a pure function of the memos. Failed attempts of a step leave no memo
and are not counted.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any

from ._durations import Duration, parse_duration
from .errors import ConfigurationError
from .messages import Usage
from .models._prices import PriceTable, tokens

__all__ = ["CAPS", "DEFAULT_NETWORK_BUDGET", "Budget", "Ledger", "Tally"]

CAPS = ("requests", "input_tokens", "output_tokens", "total_tokens", "tool_calls", "cost")
"""The caps counted from the ledger (``wall_time`` is measured inside steps)."""


def _count_cap(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"Budget.{name} must be a whole number >= 0 or None, got {value!r}"
        )
    return value


def _cost_cap(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"Budget.cost must be a number of US dollars or None, got {value!r}"
        )
    try:
        amount = float(value)
    except OverflowError:
        amount = math.inf
    if not math.isfinite(amount) or amount < 0:
        raise ConfigurationError(f"Budget.cost must be a finite number >= 0, got {value!r}")
    return amount


@dataclasses.dataclass(frozen=True)
class Budget:
    """Caps on what a run or one agent call may use.

    Set it on a run with ``Network(budget=...)`` or on one agent call with ``Agent(budget=...)``.
    ``None`` means no cap; ``Budget()`` has none.

    Exceeding a cap ends the run with a non-retriable
    :class:`~agentkit_inngest.errors.BudgetExceededError` naming the cap and the
    figures. Caps that can be known before a model call (requests, and tokens or
    cost already spent) are checked before it; tokens and cost again after each
    answer; tool calls before a turn's tools run.

    Attributes:
        requests: model requests (answered inferences, guardrails' included).
        input_tokens: input (prompt) tokens.
        output_tokens: output (completion) tokens.
        total_tokens: input and output tokens.
        tool_calls: tool calls the models asked for (the final-answer tool aside).
        wall_time: time since the run (or the call) started, measured inside steps
            from a timestamp its ``budget/clock`` step recorded (a duration: ``"5m"``,
            milliseconds, a ``timedelta``).
        cost: estimated US dollars (needs a price for every model used: see
            :class:`~agentkit_inngest.models.PriceTable`).
    """

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    tool_calls: int | None = None
    wall_time: Duration | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "input_tokens", "output_tokens", "total_tokens", "tool_calls"):
            _count_cap(name, getattr(self, name))
        object.__setattr__(self, "cost", _cost_cap(self.cost))
        if self.wall_time is not None:
            limit = parse_duration(self.wall_time, field="Budget.wall_time")
            object.__setattr__(self, "wall_time", limit)
        object.__setattr__(self, "_spend_caps", self._set_spend_caps())

    @property
    def seconds(self) -> float | None:
        """``wall_time`` in seconds."""
        limit = self.wall_time
        return limit.total_seconds() if isinstance(limit, datetime.timedelta) else None

    @property
    def spend_caps(self) -> tuple[tuple[str, float], ...]:
        """The token and cost caps that are set, as ``(name, limit)`` pairs."""
        caps: tuple[tuple[str, float], ...] | None = getattr(self, "_spend_caps", None)
        return caps if caps is not None else self._set_spend_caps()

    def _set_spend_caps(self) -> tuple[tuple[str, float], ...]:
        # read for every model request: worked out once
        return tuple(
            (name, value)
            for name in ("input_tokens", "output_tokens", "total_tokens", "cost")
            if (value := getattr(self, name)) is not None
        )

    def cap(self, name: str) -> float | None:
        """The value of cap ``name`` (one of :data:`CAPS`)."""
        value: float | None = getattr(self, name)
        return value


DEFAULT_NETWORK_BUDGET = Budget(requests=100)
"""The budget of a network run that sets neither ``budget`` nor ``max_iter``: at most
100 model requests, so a router that waits for a tool call the model never makes
cannot loop (and spend) without end. Pass ``budget=Budget()`` for no cap."""


@dataclasses.dataclass
class Tally:
    """What some model requests and tool calls used."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    cost: float = 0.0
    unpriced: list[str] = dataclasses.field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Input and output tokens."""
        return self.input_tokens + self.output_tokens

    def figure(self, cap: str) -> float:
        """The figure a cap of :data:`CAPS` is compared with."""
        value: float = self.total_tokens if cap == "total_tokens" else getattr(self, cap)
        return value

    def add(self, usage: Usage, cost: float | None, model: str) -> None:
        """Count one answered request of ``model`` (its cost, ``None`` if unpriced)."""
        self.requests += 1
        self.input_tokens += tokens(usage.input_tokens)
        self.output_tokens += tokens(usage.output_tokens)
        if cost is None:
            if model not in self.unpriced:
                self.unpriced.append(model)
        else:
            self.cost += cost

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON (``cost_usd`` is ``None`` while any model is unpriced)."""
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "tool_calls": self.tool_calls,
            "cost_usd": None if self.unpriced else round(self.cost, 8),
        }


class Ledger:
    """What a run used: in total, per model (``provider/model``) and per agent.

    Attributes:
        total: the whole run.
        by_model: per model label.
        by_agent: per agent name.
        budget: the run's caps (``None``: none).
        prices: the run's own prices (the network's ``prices``), before the defaults.
        started: the run's start, as its ``budget/clock`` step recorded it (a
            ``time.time()``), when the budget caps wall-clock time.
    """

    def __init__(self) -> None:
        self.total = Tally()
        self.by_model: dict[str, Tally] = {}
        self.by_agent: dict[str, Tally] = {}
        self.budget: Budget | None = None
        self.prices: PriceTable | None = None
        self.started: float | None = None

    def record(self, *, agent: str, model: str, usage: Usage, cost: float | None) -> None:
        """Count one answered model request."""
        for tally in (self.total, self._of(self.by_model, model), self._of(self.by_agent, agent)):
            tally.add(usage, cost, model)

    def record_tools(self, *, agent: str, count: int) -> None:
        """Count ``count`` tool calls of ``agent``."""
        self.total.tool_calls += count
        self._of(self.by_agent, agent).tool_calls += count

    @staticmethod
    def _of(tallies: dict[str, Tally], key: str) -> Tally:
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = Tally()
        return found

    def to_json(self) -> dict[str, Any]:
        """The run's spend as JSON.

        The totals, ``unpriced`` models, and per model and per agent figures.
        """
        return {
            **self.total.to_json(),
            "unpriced": list(self.total.unpriced),
            "by_model": {name: tally.to_json() for name, tally in self.by_model.items()},
            "by_agent": {name: tally.to_json() for name, tally in self.by_agent.items()},
        }
