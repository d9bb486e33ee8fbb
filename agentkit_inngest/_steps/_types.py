"""The records the step seam passes around: waits, invocations, request sizes."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from ..errors import ConfigurationError

__all__ = [
    "REQUEST_BYTES",
    "Body",
    "CarriedMemos",
    "EventSender",
    "EventWait",
    "EventWaiter",
    "Invocation",
    "Invoker",
    "build_body",
    "gave_up",
    "match_expression",
]

Body: TypeAlias = "dict[str, Any] | Callable[[], dict[str, Any]]"
"""A provider request body, or a function that builds it when the inference runs."""


def build_body(body: Body) -> dict[str, Any]:
    """The request body of :data:`Body` (calling the function if it is one)."""
    return body() if callable(body) else body


def gave_up(attempts: int, message: str) -> str:
    """The error of a step whose retries are spent.

    How many attempts were made, and the last attempt's error without its "(will retry)" (no
    retry follows).
    """
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    return f"{message.replace(' (will retry)', '')} (gave up after {tries})"


def match_expression(match: str | None, if_exp: str | None, *, where: str) -> str | None:
    """The wait expression of ``match=`` or ``if_exp=``.

    The wait expression of ``match=`` (a field path equal in the awaited event and the run's
    triggering event, as AgentKit's ``match``) or ``if_exp=`` (a full Inngest expression); at
    most one of them.

    ``match="data.ticketId"`` becomes ``async.data.ticketId == event.data.ticketId``.

    Raises:
        ConfigurationError: both are given, or ``match`` is not a field path.
    """
    if match is not None and if_exp is not None:
        raise ConfigurationError(f"{where}: pass match= or if_exp=, not both")
    if match is None:
        return if_exp
    field = match.strip().removeprefix("event.") if isinstance(match, str) else ""
    if not field or any(c in field for c in " ()'\"=<>!&|"):
        raise ConfigurationError(
            f"{where}: match must be a field path like 'data.ticketId', got {match!r}"
        )
    return f"async.{field} == event.{field}"


@dataclasses.dataclass
class CarriedMemos:
    """How the run's memos reached the app for the request being served, in bytes.

    Inngest inlines them in the request while they total under 4 MB - 1 KB; above
    that the request carries none (``use_api``) and the SDK fetches them from the
    Inngest API. With the outputs of the steps the request checkpointed, they hold
    every memo of the run, in either mode.
    """

    request: int
    """The request's body (the event, and the memos when inlined)."""
    fetched: int = 0
    """The memos fetched from ``GET /v0/runs/{id}/actions`` for this request."""
    checkpointed: int = 0
    """The outputs of the steps this request ran and checkpointed (memos it did not bring)."""

    @property
    def total(self) -> int:
        """Every memo of the run, however it reached the app."""
        return self.request + self.fetched + self.checkpointed


REQUEST_BYTES: contextvars.ContextVar[CarriedMemos | None] = contextvars.ContextVar(
    "agentkit_request_bytes", default=None
)
"""The memos the Inngest request being served carried, or fetched; set by the app
built with :func:`~agentkit_inngest.create_server`."""


@dataclasses.dataclass(frozen=True)
class EventWait:
    """What a step is waiting for: an event name, an optional match expression, a timeout."""

    step_id: str
    event: str
    if_exp: str | None
    timeout: datetime.timedelta


@dataclasses.dataclass(frozen=True)
class Invocation:
    """A request to run another Inngest function and wait for its result."""

    step_id: str
    function_id: str
    data: Mapping[str, Any]
    timeout: datetime.timedelta | None


EventWaiter: TypeAlias = Callable[[EventWait], Awaitable[Mapping[str, Any] | None]]
"""Answers an event wait in a plain-Python run: the event, or ``None`` for a timeout."""

Invoker: TypeAlias = Callable[[Invocation], Awaitable[object]]
"""Runs an invoked function in a plain-Python run."""

EventSender: TypeAlias = Callable[[list[dict[str, Any]]], Awaitable[list[str]]]
"""Sends events in a plain-Python run; returns their ids."""
