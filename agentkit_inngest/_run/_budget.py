"""Budgets: the caps of a run and of an agent call, checked from the ledger.

Every figure comes from what memoized steps recorded (a provider's answer, the
tool calls it asked for), counted by the run layer outside the steps, so a replay
rebuilds the same figures and takes the same decisions. The one figure that
needs a clock, wall-clock time, is measured inside steps only: a ``budget/clock``
step records when the run (or the call) started, and each inference, turn and
tool step compares the time with it when its body runs (never on a replay). Such
a failure is memoized with the step: under Inngest the run fails with a
:class:`~agentkit_inngest.errors.StepError` that carries the budget's message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .._context import NetworkRun
from .._ledger import Budget, Tally
from ..errors import BudgetExceededError, ConfigurationError
from ..messages import Usage
from ..models import DEFAULT_PRICES, Model, Price
from ..models._prices import PriceTable, cost_of, price_table
from ._guardrails import usage_of
from ._specs import AgentSpec

__all__ = ["CallBudget", "find_price", "record_guardrail_usage", "start_clock"]

_LABELS = {
    "requests": "model requests",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "total_tokens": "tokens",
    "tool_calls": "tool calls",
    "cost": "US dollars (estimated)",
}


def _figure(cap: str, value: float) -> str:
    return f"${value:,.4f}" if cap == "cost" else f"{int(value):,}"


def _summary(tally: Tally) -> str:
    cost = "cost unknown" if tally.unpriced else f"about ${tally.cost:,.4f}"
    return (
        f"{tally.requests:,} model requests, {tally.total_tokens:,} tokens "
        f"({tally.input_tokens:,} in, {tally.output_tokens:,} out), "
        f"{tally.tool_calls:,} tool calls, {cost}"
    )


def exceeded(scope: str, cap: str, limit: float, used: float, tally: Tally) -> BudgetExceededError:
    """The error of ``scope`` (``"run"`` or ``"Writer#1"``) going over ``cap``."""
    who = "the run" if scope == "run" else f"agent call {scope}"
    return BudgetExceededError(
        f"budget exceeded: {who} would use {_figure(cap, used)} {_LABELS[cap]}, over its cap "
        f"of {_figure(cap, limit)} (Budget.{cap}); so far it used {_summary(tally)}. "
        "Raise the cap, or pass budget=Budget() for none",
        cap=cap,
        limit=limit,
        used=used,
        scope=scope,
    )


def find_price(tables: list[PriceTable | None], provider: str, model: str) -> Price | None:
    """The price of ``model`` in the first of ``tables`` that has it.

    Else the defaults' price; ``None`` when no table has it.
    """
    for table in (*tables, DEFAULT_PRICES):
        found = table.find(provider, model) if table is not None else None
        if found is not None:
            return found
    return None


def record_guardrail_usage(
    run: NetworkRun, agent: str, entry: dict[str, Any], tables: list[PriceTable | None]
) -> tuple[Usage, float | None, str]:
    """Count one model request a guardrail's memo recorded.

    Returns its usage, its cost and the model's label.
    """
    usage = usage_of(entry)
    provider, model = str(entry.get("provider") or ""), str(entry.get("model") or "")
    label = str(entry.get("label") or f"{provider}/{model}")
    cost = cost_of(usage, find_price([*tables, run.ledger.prices], provider, model))
    run.ledger.record(agent=agent, model=label, usage=usage, cost=cost)
    return usage, cost, label


async def start_clock(run: NetworkRun, step_id: str) -> float:
    """The time a run or call started, recorded by a step (the same on every replay)."""
    started = await run.runner.run(step_id, _now)
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        raise ConfigurationError(
            f"the memoized output of step {step_id!r} is not a time; "
            "was the app changed while this run was in flight?"
        )
    return float(started)


async def _now() -> float:
    return time.time()


class CallBudget:
    """The caps in force for one agent call: the run's, and the agent's own per call."""

    def __init__(self, agent: AgentSpec, run: NetworkRun, scope: str) -> None:
        self.run = run
        self.agent = agent.name
        self.scope = scope
        self.own = agent.budget
        self.tally = Tally()
        self.started: float | None = None
        self.prices = price_table(agent.prices, where=f"agent {agent.name!r}")

    # -- prices -----------------------------------------------------------------------

    def price(self, model: Model) -> Price | None:
        """``model``'s price: the agent's table, the run's, then the defaults."""
        return find_price([self.prices, self.run.ledger.prices], model.provider, model.model)

    def record_guardrail(self, entry: dict[str, Any]) -> None:
        """Count one model request an agent's guardrail made."""
        usage, cost, label = record_guardrail_usage(self.run, self.agent, entry, [self.prices])
        self.tally.add(usage, cost, label)

    def record(self, model: Model, usage: Usage) -> float | None:
        """Count one answered request of ``model``; returns its estimated cost."""
        cost = cost_of(usage, self.price(model))
        self.run.ledger.record(agent=self.agent, model=model.label, usage=usage, cost=cost)
        self.tally.add(usage, cost, model.label)
        return cost

    def record_tools(self, count: int) -> None:
        """Count ``count`` tool calls."""
        self.run.ledger.record_tools(agent=self.agent, count=count)
        self.tally.tool_calls += count

    # -- caps -------------------------------------------------------------------------

    def _caps(self) -> Iterator[tuple[str, Budget, Tally]]:
        if self.run.ledger.budget is not None:
            yield "run", self.run.ledger.budget, self.run.ledger.total
        if self.own is not None:
            yield self.scope, self.own, self.tally

    def before_inference(self, model: Model) -> None:
        """Check the caps before a model request.

        Before a model request: a request cap it would pass, or a token or cost cap
        already reached, stops the call (and a cost cap needs the model's price).
        """
        for scope, budget, tally in self._caps():
            if budget.requests is not None and tally.requests + 1 > budget.requests:
                raise exceeded(scope, "requests", budget.requests, tally.requests + 1, tally)
            for cap, limit in budget.spend_caps:
                if tally.figure(cap) >= limit:
                    raise exceeded(scope, cap, limit, tally.figure(cap), tally)
            if budget.cost is not None:
                self._priced(model, scope)

    def _priced(self, model: Model, scope: str) -> None:
        for candidate in getattr(model, "models", (model,)):
            if isinstance(candidate, Model) and self.price(candidate) is None:
                who = "the run" if scope == "run" else f"agent call {scope}"
                raise ConfigurationError(
                    f"{who} has a cost cap (Budget.cost) but no price is known for "
                    f"{candidate.label}; add it: prices={{'{candidate.model}': "
                    "Price(input=..., output=...)}} on the agent or network"
                )

    def after_inference(self) -> None:
        """After an answer: a token or cost cap it went over stops the call."""
        for scope, budget, tally in self._caps():
            for cap, limit in budget.spend_caps:
                if tally.figure(cap) > limit:
                    raise exceeded(scope, cap, limit, tally.figure(cap), tally)

    def tools_fit(self, count: int) -> bool:
        """Whether ``count`` more tool calls stay within the caps."""
        return all(
            budget.tool_calls is None or tally.tool_calls + count <= budget.tool_calls
            for _, budget, tally in self._caps()
        )

    def check_tools(self, count: int) -> None:
        """Before a turn's tool calls run: stop if they would pass a cap."""
        for scope, budget, tally in self._caps():
            if budget.tool_calls is not None and tally.tool_calls + count > budget.tool_calls:
                used = tally.tool_calls + count
                raise exceeded(scope, "tool_calls", budget.tool_calls, used, tally)

    # -- wall-clock time (inside steps only) ------------------------------------------

    @property
    def timed(self) -> bool:
        """Whether a wall-clock cap is in force."""
        return any(budget.seconds is not None for _, budget, _ in self._caps())

    async def start(self, step_id: str) -> None:
        """Record the call's start (a step) when its own budget caps wall-clock time."""
        if self.own is not None and self.own.seconds is not None:
            self.started = await start_clock(self.run, step_id)

    def check_clock(self) -> None:
        """Inside a step's body: stop when the run's or the call's time is up."""
        now = time.time()
        for scope, budget, tally in self._caps():
            started = self.run.ledger.started if scope == "run" else self.started
            if budget.seconds is None or started is None:
                continue
            elapsed = now - started
            if elapsed > budget.seconds:
                who = "the run" if scope == "run" else f"agent call {scope}"
                raise BudgetExceededError(
                    f"budget exceeded: {who} has run for {elapsed:,.1f} s, over its cap of "
                    f"{budget.seconds:,.1f} s (Budget.wall_time); so far it used "
                    f"{_summary(tally)}. Raise the cap, or pass budget=Budget() for none",
                    cap="wall_time",
                    limit=budget.seconds,
                    used=elapsed,
                    scope=scope,
                )
