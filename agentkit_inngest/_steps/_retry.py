"""The one retry policy of plain-Python runs.

:class:`~agentkit_inngest.InlineRunner` retries a failed step with it, and a fast
turn retries a tool that raised :class:`~agentkit_inngest.ToolRetry` inside its
step with it (that step must not fail once other tools have run). Under Inngest
the server retries steps; the policy then only serves those in-step retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import ConfigurationError

__all__ = ["RetryPolicy"]

T = TypeVar("T")
logger = logging.getLogger("agentkit_inngest")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Attempts and exponential backoff.

    Attributes:
        max_attempts: attempts in all (1: no retry).
        backoff: seconds before the first retry; doubled for each next one.
        max_backoff: the longest wait between attempts, also for an error's own
            ``retry_after`` (a provider's ``retry-after`` header).
    """

    max_attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ConfigurationError("max_attempts must be a whole number")
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if not (self.backoff >= 0 and self.max_backoff >= 0):
            raise ConfigurationError("backoff and max_backoff must be zero or more seconds")

    def delay(self, attempt: int, retry_after: object = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``.

        Attempts count from 1. The wait is the backoff, or the error's ``retry_after`` when longer,
        at most ``max_backoff``.
        """
        delay = self.backoff * 2.0 ** (attempt - 1)
        if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool):
            delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff)

    async def call(
        self,
        fn: Callable[[int], Awaitable[T]],
        *,
        retriable: Callable[[Exception], bool],
        what: str,
    ) -> T:
        """``await fn(attempt)`` (attempt 0 first) until it returns, waiting between attempts.

        An error ``retriable`` refuses, or the last attempt's error, is raised.

        Args:
            fn: one attempt.
            retriable: whether an error may be retried.
            what: names the work in the warning logged before each retry.
        """
        attempt = 0
        while True:
            try:
                return await fn(attempt)
            except Exception as err:
                attempt += 1
                if attempt >= self.max_attempts or not retriable(err):
                    raise
                delay = self.delay(attempt, getattr(err, "retry_after", None))
                logger.warning(
                    "%s failed (attempt %d/%d), retrying in %.2fs: %s",
                    what,
                    attempt,
                    self.max_attempts,
                    delay,
                    err,
                )
                await asyncio.sleep(delay)
