"""The step API of tools that orchestrate steps themselves (``ctx.step``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._durations import Duration
from ..errors import ConfigurationError
from ._runner import StepRunner
from ._types import match_expression

__all__ = ["NoSteps", "StepTools"]


class StepTools:
    """The step API handed to tools that orchestrate steps themselves.

    Every ID is prefixed with the tool call's own path, e.g.
    ``Support#1/tool/ask_developer/wait``, so IDs stay deterministic and unique.
    """

    def __init__(self, runner: StepRunner, prefix: str) -> None:
        self._runner = runner
        self.prefix = prefix

    def _id(self, name: str) -> str:
        if not name or "/" in name:
            raise ConfigurationError(f"step name {name!r} must be non-empty and contain no '/'")
        return f"{self.prefix}/{name}"

    @property
    def durable(self) -> bool:
        """Whether the run is durable (under Inngest)."""
        return self._runner.durable

    async def run(self, name: str, fn: Callable[[], Awaitable[Any] | Any]) -> Any:
        """Run ``fn`` (sync or async) once as a step."""

        async def call() -> Any:
            out = fn()
            if asyncio.iscoroutine(out) or isinstance(out, asyncio.Future):
                return await out
            return out

        return await self._runner.run(self._id(name), call)

    async def wait_for_event(
        self,
        name: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_exp: str | None = None,
    ) -> dict[str, Any] | None:
        """Wait for an event (step ``<prefix>/<name>``); ``None`` on timeout.

        Args:
            name: the step's name within the tool call.
            event: the name of the awaited event.
            timeout: how long to wait: ``"4h"``, ``"30m"``, a timedelta or milliseconds.
            match: a field path (``"data.ticketId"``) that must be equal in the awaited
                event and the event that started the run (AgentKit's ``match``).
            if_exp: a full Inngest expression instead of ``match``
                (``"async.data.ticketId == event.data.ticketId"``).
        """
        expression = match_expression(match, if_exp, where=f"step {name!r}")
        return await self._runner.wait_for_event(
            self._id(name), event=event, if_exp=expression, timeout=timeout
        )

    async def invoke(
        self,
        name: str,
        *,
        function_id: str,
        data: Mapping[str, Any],
        timeout: Duration | None = None,
    ) -> Any:
        """Run another Inngest function (step ``<prefix>/<name>``) and return its output."""
        return await self._runner.invoke(
            self._id(name), function_id=function_id, data=data, timeout=timeout
        )

    async def sleep(self, name: str, duration: Duration) -> None:
        """Pause the run (step ``<prefix>/<name>``)."""
        await self._runner.sleep(self._id(name), duration)

    async def send_event(
        self, name: str, events: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Send one event or a list of them, once; returns their ids.

        Send one event (``{"name": ..., "data": {...}}``) or a list of them, once (step
        ``<prefix>/<name>``); returns their ids.
        """
        return await self._runner.send_event(self._id(name), _event_list(name, events))


def _event_list(
    name: str, events: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """``events`` as a list: one event (a mapping) or a list of them."""
    if isinstance(events, Mapping):
        return [events]
    given: object = events
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise ConfigurationError(
            f"step {name!r}: send_event takes an event ({{'name': ..., 'data': {{...}}}}) "
            f"or a list of events, got {type(given).__name__}"
        )
    for event in given:
        if not isinstance(event, Mapping):
            raise ConfigurationError(
                f"step {name!r}: each event must be a mapping like "
                f"{{'name': ..., 'data': {{...}}}}, got {type(event).__name__}"
            )
    return [event for event in given if isinstance(event, Mapping)]


class NoSteps(StepTools):
    """``ctx.step`` of a tool that runs inside a step: using it is an error.

    ``ctx.step`` of a tool that runs inside a step: using it is a clear error, because Inngest
    steps cannot nest.
    """

    def __init__(self, runner: StepRunner, tool_name: str) -> None:
        super().__init__(runner, "")
        self._tool_name = tool_name

    def _id(self, name: str) -> str:
        raise ConfigurationError(
            f"tool {self._tool_name!r} runs inside a step and cannot start step {name!r}; "
            "declare it with uses_steps=True to orchestrate steps itself"
        )
