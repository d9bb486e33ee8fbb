"""Token prices, and the estimated cost of the tokens a run used.

A :class:`Price` is what a model costs per million input and output tokens, in US
dollars. A :class:`PriceTable` maps model names to prices; :data:`DEFAULT_PRICES`
holds a few current models and :meth:`PriceTable.extend` adds (or overrides) your
own, returning a new table. A model is found by its label (``"openai/gpt-4o"``),
then its name (``"gpt-4o"``), then its name without a snapshot suffix
(``"gpt-4o-2024-08-06"``, ``"claude-3-5-haiku-20241022"``, ``"...-latest"``).

Costs are estimates: list prices of the standard tier, text only; cached input,
batch discounts, long-context tiers and tool fees are not taken into account.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigurationError
from ..messages import Usage

__all__ = ["DEFAULT_PRICES", "MAX_COUNTED_TOKENS", "Price", "PriceTable", "cost_of", "tokens"]

MAX_PRICE = 1_000_000.0
"""The largest price per million tokens a table accepts (US dollars)."""

MAX_COUNTED_TOKENS = 10**15
"""Token counts are clamped to ``[0, MAX_COUNTED_TOKENS]`` when they are counted: a
provider reporting a negative or absurd figure cannot lower a total or overflow a
cost."""


def tokens(value: object) -> int:
    """A reported token count as a count.

    Whole, at least 0, at most :data:`MAX_COUNTED_TOKENS` (anything that is not an integer counts
    0).
    """
    if type(value) is int and 0 <= value <= MAX_COUNTED_TOKENS:  # the usual case, at once
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_COUNTED_TOKENS)


def _amount(where: str, which: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"{where}: {which} must be a number of US dollars per million tokens, "
            f"got {type(value).__name__}"
        )
    try:
        amount = float(value)
    except OverflowError:
        amount = math.inf
    if not math.isfinite(amount) or amount < 0 or amount > MAX_PRICE:
        raise ConfigurationError(
            f"{where}: {which} must be between 0 and {MAX_PRICE:,.0f} US dollars "
            f"per million tokens, got {value!r}"
        )
    return amount


@dataclasses.dataclass(frozen=True)
class Price:
    """What a model costs, in US dollars per million tokens.

    Attributes:
        input: per million input (prompt) tokens.
        output: per million output (completion) tokens, reasoning included.
    """

    input: float
    output: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", _amount("Price", "input", self.input))
        object.__setattr__(self, "output", _amount("Price", "output", self.output))

    def cost(self, usage: Usage) -> float:
        """The estimated cost of ``usage`` at this price (US dollars)."""
        spent = tokens(usage.input_tokens) * self.input + tokens(usage.output_tokens) * self.output
        return spent / 1_000_000


def cost_of(usage: Usage, price: Price | None) -> float | None:
    """The cost of ``usage`` at ``price``; ``None`` when the price is unknown."""
    return None if price is None else price.cost(usage)


_SNAPSHOT = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-preview(?:-[\w-]+)?|@[\w.-]+)$")


class PriceTable(Mapping[str, Price]):
    """Prices by model name (or ``provider/model`` label).

    Immutable; :meth:`extend` returns a new table.

    Args:
        prices: model name -> :class:`Price` (or a ``(input, output)`` pair).
    """

    def __init__(self, prices: Mapping[str, Price | tuple[float, float]] | None = None) -> None:
        table: dict[str, Price] = {}
        for name, price in (prices or {}).items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"a price table's keys are model names, got {name!r}")
            table[name] = _price(name, price)
        self._prices = table
        self._found: dict[tuple[str, str], Price | None] = {}  # find()'s answers

    def __getitem__(self, name: str) -> Price:
        return self._prices[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"

    def extend(self, prices: Mapping[str, Price | tuple[float, float]]) -> PriceTable:
        """A new table: this one with ``prices`` added (a name already here is replaced)."""
        return PriceTable({**self._prices, **PriceTable(prices)._prices})

    def find(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` of ``provider``.

        By label, by name, then by the name without its snapshot suffix (a date, ``-latest``,
        ``-preview``); ``None``.
        """
        try:  # the table never changes: each answer is looked up once
            return self._found[provider, model]
        except KeyError:
            pass
        found = None
        for key in (f"{provider}/{model}", model, _SNAPSHOT.sub("", model)):
            found = self._prices.get(key)
            if found is not None:
                break
        if len(self._found) < 1024:
            self._found[provider, model] = found
        return found


def _price(name: str, value: object) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        where = f"price of {name!r}"
        return Price(_amount(where, "input", value[0]), _amount(where, "output", value[1]))
    raise ConfigurationError(
        f"price of {name!r} must be a Price(input=..., output=...) or an (input, output) pair "
        f"of US dollars per million tokens, got {type(value).__name__}"
    )


def price_table(value: Any, *, where: str) -> PriceTable | None:
    """``value`` (a table, a mapping of prices, or ``None``) as a table."""
    if value is None or isinstance(value, PriceTable):
        return value
    if isinstance(value, Mapping):
        return PriceTable(value)
    raise ConfigurationError(f"{where}: prices must be a PriceTable or a dict of model -> Price")


# List prices of the standard tier, text, in US dollars per million tokens (input, output),
# as published on the providers' pricing pages: platform.openai.com/docs/pricing,
# docs.anthropic.com/en/docs/about-claude/pricing, ai.google.dev/gemini-api/docs/pricing,
# docs.x.ai/docs/models. Read in 2025-2026; prices change: check them, and extend the
# table (DEFAULT_PRICES.extend({...}) or prices= on an agent or network) for your own.
DEFAULT_PRICES = PriceTable(
    {
        # OpenAI
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-5": (1.25, 10.00),
        "gpt-5-mini": (0.25, 2.00),
        "gpt-5-nano": (0.05, 0.40),
        "o3": (2.00, 8.00),
        "o4-mini": (1.10, 4.40),
        # Anthropic
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-haiku-4-5": (1.00, 5.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-sonnet-4-5": (3.00, 15.00),
        "claude-opus-4-1": (15.00, 75.00),
        # Google (prompts up to 200k tokens)
        "gemini-2.0-flash": (0.10, 0.40),
        "gemini-2.5-flash": (0.30, 2.50),
        "gemini-2.5-flash-lite": (0.10, 0.40),
        "gemini-2.5-pro": (1.25, 10.00),
        # xAI
        "grok-3": (3.00, 15.00),
        "grok-3-mini": (0.30, 0.50),
    }
)
"""A few current models' list prices (see the comment above it in the source for the
date and source); extend it with :meth:`PriceTable.extend`."""
