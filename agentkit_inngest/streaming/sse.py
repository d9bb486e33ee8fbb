"""The app's server-sent-events endpoint: ``GET /streams/{channel}``.

Each event is sent as ``id: <seq>``, ``event: <type>``, ``data: <event JSON>``.
A client that reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` does it
on its own) resumes after that seq from the events the broker retained;
``?after=<seq>`` does the same explicitly. ``?until=done`` closes the stream after
``run.completed`` or ``run.failed`` (handy for scripts). Keep-alive comments are
sent every ``ping`` seconds; a disconnected client's subscription is released.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import fastapi
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from .broker import Broker

__all__ = ["stream_router"]

_FINAL = ("run.completed", "run.failed")


def stream_router(
    broker: Broker, *, prefix: str = "/streams", ping: float = 15.0
) -> fastapi.APIRouter:
    """A router serving ``GET {prefix}/{channel}`` from ``broker``."""
    router = fastapi.APIRouter()

    @router.get(prefix + "/{channel}")
    async def stream(
        channel: str,
        request: fastapi.Request,
        after: int | None = None,
        until: str | None = None,
    ) -> EventSourceResponse:
        resume = after
        header = request.headers.get("last-event-id")
        if resume is None and header:
            try:
                resume = int(header)
            except ValueError as err:
                raise fastapi.HTTPException(400, "Last-Event-ID must be an integer seq") from err
        if until not in (None, "done"):
            raise fastapi.HTTPException(400, "until must be 'done'")

        async def events() -> AsyncIterator[ServerSentEvent]:
            async with broker.subscribe(channel, after_seq=resume) as subscription:
                async for event in subscription:
                    yield ServerSentEvent(
                        data=event.model_dump_json(), event=event.type, id=str(event.seq)
                    )
                    if until == "done" and event.type in _FINAL:
                        return

        return EventSourceResponse(events(), ping=ping, headers={"x-accel-buffering": "no"})

    return router
