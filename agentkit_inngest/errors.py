"""The exception tree.

::

    AgentKitError
    ├── ConfigurationError        bad setup: fix the code or the environment (never retried)
    ├── InputError                bad event data, state payload or run input (never retried)
    ├── ProviderError             a model provider failed
    │   ├── RetriableProviderError    429, 5xx, timeouts, connection errors (retried)
    │   └── FatalProviderError        other 4xx, unparseable answers (never retried)
    ├── ToolRetry                 raised by a tool handler to retry its step
    ├── HistoryStoreError         a thread store could not be reached or failed a query (retried)
    ├── MCPServerError            an MCP server is unreachable, too slow or answered wrongly
    ├── StepError                 a step failed for good (its retries are spent)
    ├── SizeLimitError            a step output, the state or a run is too large (never retried)
    ├── WaitUnavailableError      a plain-Python run met a step that needs Inngest
    ├── BudgetExceededError       a run or agent call went over a cap of its Budget (never retried)
    ├── OutputValidationError     a typed answer did not validate, retries spent (never retried)
    └── GuardrailTripped          a guardrail stopped the run (never retried)

Whether an error may be retried is one attribute, :attr:`AgentKitError.retriable`;
the Inngest runner maps it onto ``inngest.NonRetriableError`` / ``RetryAfterError``.
"""

from __future__ import annotations

import math

__all__ = [
    "AgentKitError",
    "BudgetExceededError",
    "ConfigurationError",
    "FatalProviderError",
    "GuardrailTripped",
    "HistoryStoreError",
    "InputError",
    "MCPServerError",
    "OutputValidationError",
    "ProviderError",
    "RetriableProviderError",
    "SizeLimitError",
    "StepError",
    "ToolRetry",
    "WaitUnavailableError",
]


class AgentKitError(Exception):
    """Base class of every error this package raises."""

    retriable: bool = False
    """Whether running the same step again may succeed."""


class ConfigurationError(AgentKitError):
    """The code or environment is set up wrongly; the message says what to fix."""


class InputError(AgentKitError):
    """Input data (event payload, state, run input) is invalid; the message names the field."""


MAX_RETRY_AFTER = 300.0
"""The longest wait (seconds) a provider may ask for before a retry; longer asks are
cut to it.

Providers' rate limits reset within a minute (OpenAI and Anthropic ask for seconds,
up to about 60), so a longer ask means a quota that will not reset within the run,
or a broken or hostile header. The Inngest server would honour up to 24 hours per
retry (``MaxRetryDuration`` in its ``pkg/consts``): with the default 4 retries one
such header could park a run for days. At 5 minutes a run waits at most 20 minutes
in all before it fails and says why."""


def bounded_retry_after(seconds: object) -> float | None:
    """``seconds`` as a delay, capped; ``None`` when it is not one.

    ``seconds`` as a delay: capped at :data:`MAX_RETRY_AFTER`, or ``None`` when it
    is not a finite, non-negative number.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    try:
        value = float(seconds)
    except OverflowError:  # an int too large for a float
        return MAX_RETRY_AFTER if seconds > 0 else None
    if not math.isfinite(value) or value < 0:
        return None
    return min(value, MAX_RETRY_AFTER)


class ProviderError(AgentKitError):
    """A model provider call failed.

    Attributes:
        provider: ``"openai"``, ``"anthropic"``, ...
        status_code: the HTTP status, or ``None`` for transport failures.
        retry_after: seconds the provider asked us to wait, when it said so: never
            more than :data:`MAX_RETRY_AFTER`; ``None`` for a value that is not a
            finite, non-negative number.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.retry_after = bounded_retry_after(retry_after)


class RetriableProviderError(ProviderError):
    """Rate limits, server errors, timeouts: the step is retried."""

    retriable = True


class FatalProviderError(ProviderError):
    """Bad requests, authentication failures, unparseable answers: retrying cannot help."""


class ToolRetry(AgentKitError):
    """Raise from a tool handler to fail its step so that it is retried.

    Any other exception from a handler becomes a tool error the model reads.
    ``retry_after`` is bounded as a provider's is (:func:`bounded_retry_after`).
    """

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = bounded_retry_after(retry_after)


class HistoryStoreError(AgentKitError):
    """A thread store could not be reached or failed a query.

    A database restarting or a lock held too long: the step is retried. A store set up wrongly (a
    path that cannot be opened, an unknown database) raises :class:`ConfigurationError` instead.
    """

    retriable = True


class MCPServerError(AgentKitError):
    """An MCP server could not be reached, was too slow, or answered wrongly.

    Attributes:
        server: the server's name.
    """

    def __init__(self, message: str, *, server: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.server = server
        self.retriable = retriable


class StepError(AgentKitError):
    """A step failed after its last retry."""

    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(f"step {step_id!r} failed: {message}")
        self.step_id = step_id


class SizeLimitError(AgentKitError):
    """A value outgrew its size limit (see :class:`~agentkit_inngest.limits.Limits`).

    Raised before Inngest's own limits are reached (4 MB a step, 32 MB a run), so the
    run fails with a message that names the step and the limit instead of an opaque
    server error. Retrying cannot make the value smaller, so it is never retried.

    Attributes:
        size: the size in bytes (of the value's JSON).
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class WaitUnavailableError(ConfigurationError):
    """A plain-Python run reached a step only Inngest can serve (an event wait, an invoke)."""


class BudgetExceededError(AgentKitError):
    """A run (or one agent call) went over a cap of its budget.

    The caps are those of :class:`~agentkit_inngest.Budget`. Never retried: running again would
    spend more.

    Attributes:
        cap: the cap's name (``"requests"``, ``"total_tokens"``, ``"cost"``...).
        limit: the cap's value.
        used: what was used (or would be, for a check made before a call).
        scope: ``"run"`` or the agent call (``"Writer#2"``).
    """

    def __init__(self, message: str, *, cap: str, limit: float, used: float, scope: str) -> None:
        super().__init__(message)
        self.cap = cap
        self.limit = limit
        self.used = used
        self.scope = scope


class OutputValidationError(AgentKitError):
    """An agent's typed answer did not validate and its retries are spent.

    Also raised when it gave no answer within its inferences. Never retried: the answers are
    memoized.

    Attributes:
        agent: the agent's name.
    """

    def __init__(self, message: str, *, agent: str) -> None:
        super().__init__(message)
        self.agent = agent


class GuardrailTripped(AgentKitError):
    """A guardrail stopped the run. Never retried: its verdict is memoized.

    Attributes:
        guardrail: the guardrail's name.
        reason: why it stopped the run.
        info: what the guardrail returned besides (plain JSON, or ``None``).
    """

    def __init__(self, message: str, *, guardrail: str, reason: str, info: object = None) -> None:
        super().__init__(message)
        self.guardrail = guardrail
        self.reason = reason
        self.info = info
