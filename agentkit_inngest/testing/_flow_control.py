"""Flow control as the Inngest server enforces it: concurrency limits and throttling.

:class:`~agentkit_inngest.testing.LocalExecutor` applies a function's registered
``concurrency`` and ``throttle`` so that a multi-tenancy test means something:

- **concurrency** limits the steps *executing* at once (calls of the app in
  flight; a run that sleeps or waits for an event holds nothing), per limit: for
  each entry ``{"limit", "key"?, "scope"?}`` the key expression is evaluated on the
  run's triggering event, and each distinct value has its own limit. With scope
  ``fn`` (the default) the limit is the function's; with ``env`` or ``account`` it
  is shared by every function that uses the same key expression and value. A
  call waits until every limit it falls under has room (the server's queue holds
  the item back the same way).
- **throttle** limits how many runs *start* per period, per key, with the server's
  GCRA (``pkg/execution/state/redis_state/lua/includes/gcra.lua`` in
  ``inngest/inngest``): the emission interval is ``period / limit``, the allowed
  variance ``period * max(burst, 1)``; a run over the limit is not dropped but
  starts when it is allowed, waiting on the executor's clock (a ``ManualClock``
  makes the wait instant and records it).

Not enforced (the executor runs such functions without them): ``rateLimit``
(skipping events), ``debounce``, ``batchEvents``, ``priority``, ``singleton`` and
``idempotency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from .expressions import evaluate
from .server_rules import Clock

__all__ = ["FlowLimits", "Throttled", "go_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")
_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def go_duration(value: object) -> float:
    """Seconds of a registered duration (``"1m"``, ``"1m30s"``, ``"4h"``, ``"500ms"``).

    Raises:
        ValueError: it is not one.
    """
    text = str(value).strip()
    parts = _PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


@dataclasses.dataclass(frozen=True)
class Throttled:
    """A run whose start a throttle delayed: by ``seconds``, on ``key``."""

    run_id: str
    fn_id: str
    key: str
    seconds: float


class _Limit:
    """One concurrency limit of one key value: how many calls run, and the peak."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.peak = 0


class FlowLimits:
    """The executor's concurrency and throttle state (see the module docstring).

    Attributes:
        throttled: every run start a throttle delayed, in order.
        waiting: calls waiting for room under a concurrency limit right now.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.throttled: list[Throttled] = []
        self.waiting = 0
        self._limits: dict[str, _Limit] = {}
        self._tat: dict[str, float] = {}
        self._queues: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Condition()

    # -- concurrency ------------------------------------------------------------------

    def peak(self, key: str) -> int:
        """The most calls that ran at once under the limit named ``key``.

        ``"<fn id>"`` for a keyless function limit, ``"<fn id>:<value>"`` for a keyed one,
        ``"<scope>:<key expression>:<value>"`` for an ``env``/``account`` one.
        """
        found = self._limits.get(key)
        return found.peak if found is not None else 0

    @property
    def peaks(self) -> dict[str, int]:
        """:meth:`peak` of every limit that has run a call."""
        return {key: limit.peak for key, limit in self._limits.items()}

    def _keys(self, fn_id: str, config: Mapping[str, Any], event: Mapping[str, Any]) -> list[str]:
        keys: list[str] = []
        for entry in config.get("concurrency") or []:
            limit = entry.get("limit")
            if not isinstance(limit, int) or limit <= 0:
                continue  # 0: the plan's maximum, which this executor does not model
            expression = entry.get("key")
            scope = entry.get("scope") or "fn"
            value = _key_value(expression, event) if expression else None
            if scope == "fn":
                name = fn_id if expression is None else f"{fn_id}:{value}"
            else:
                name = f"{scope}:{expression}:{value}"
            self._limits.setdefault(name, _Limit(limit))
            keys.append(name)
        return keys

    @contextlib.asynccontextmanager
    async def slot(
        self, fn_id: str, config: Mapping[str, Any], event: Mapping[str, Any]
    ) -> AsyncIterator[None]:
        """Hold a place under every concurrency limit of the call (waiting for one)."""
        keys = self._keys(fn_id, config, event)
        if not keys:
            yield
            return
        async with self._changed:
            self.waiting += 1
            self._changed.notify_all()
            try:
                await self._changed.wait_for(
                    lambda: all(self._limits[k].running < self._limits[k].limit for k in keys)
                )
            finally:
                self.waiting -= 1
            for key in keys:
                limit = self._limits[key]
                limit.running += 1
                limit.peak = max(limit.peak, limit.running)
        try:
            yield
        finally:
            async with self._changed:
                for key in keys:
                    self._limits[key].running -= 1
                self._changed.notify_all()

    async def wait_for(self, condition: Callable[[FlowLimits], bool]) -> None:
        """Wait until ``condition(self)`` holds.

        Wait until ``condition(self)`` holds (checked whenever a call starts waiting for, takes
        or gives back room under a limit): a test's way to know that calls are held back,
        without sleeping.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: condition(self))

    # -- throttle ---------------------------------------------------------------------

    async def admit(
        self, run_id: str, fn_id: str, config: Mapping[str, Any], event: Mapping[str, Any]
    ) -> None:
        """Wait until the function's throttle lets this run start (GCRA, per key)."""
        throttle = config.get("throttle")
        if not isinstance(throttle, Mapping):
            return
        limit = int(throttle.get("limit") or 0)
        period = go_duration(throttle.get("period") or "0s")
        if limit <= 0 or period <= 0:
            return
        burst = int(throttle.get("burst") or 0)
        expression = throttle.get("key")
        key = f"{fn_id}:{_key_value(expression, event) if expression else ''}"
        async with self._queues.setdefault(key, asyncio.Lock()):  # first in, first out
            waited = await self._gcra(key, limit, period, burst)
        if waited > 0:
            self.throttled.append(Throttled(run_id, fn_id, key, waited))

    async def _gcra(self, key: str, limit: int, period: float, burst: int) -> float:
        """Wait until the key's GCRA admits one more start; the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock.now()
            emission = period / max(limit, 1)
            new_tat = max(self._tat.get(key, now), now) + emission
            allow_at = new_tat - period * max(burst, 1)
            if now >= allow_at:
                self._tat[key] = new_tat
                break
            waited += allow_at - now
            await self.clock.sleep(allow_at - now)
        return waited


def _key_value(expression: str, event: Mapping[str, Any]) -> str:
    """The value of a key expression for ``event``, as a string.

    The value of a key expression for ``event``, as a string (a missing field is ``null``, a key
    of its own, as on the server).
    """
    try:
        value = evaluate(expression, {"event": event})
    except Exception:  # noqa: BLE001 - an expression the evaluator cannot read: one key
        return "<unevaluated>"
    return "null" if value is None else str(value)
