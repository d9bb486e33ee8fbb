"""The app's server-sent-events endpoint: ``GET /streams/{channel}``.

The first message is ``event: ready`` (``data: {"channel": ...}``), sent once the
subscription is live: a client that starts a run after it misses nothing. Then
each stream event is sent as ``id: <run_id>:<seq>``, ``event: <type>``,
``data: <event JSON>``. A client that reconnects with ``Last-Event-ID`` (browsers'
``EventSource`` does it on its own) resumes after that event from the events the
broker retained; ``?after=<run_id>:<seq>`` does the same explicitly.
When the broker no longer holds every event after that one, an ``event: gap``
message (``data: {"after", "resumed_from", "missed"}``, no ``id``) comes right
after ``ready``: the client missed events and should reload what it shows.
``?until=done`` closes the stream after ``run.completed`` or ``run.failed``
(handy for scripts). Keep-alive comments are sent every ``ping`` seconds; a
disconnected client's subscription is released. A channel name longer than 256
characters is a ``414``; a shared broker that cannot be reached is a ``503``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import fastapi
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from ._broker import MAX_CHANNEL_LENGTH, Broker, BrokerUnavailable, Gap, parse_event_id

__all__ = ["stream_router"]

_FINAL = ("run.completed", "run.failed")


def stream_router(
    broker: Broker,
    *,
    prefix: str = "/streams",
    ping: float = 15.0,
    authorize: Callable[[fastapi.Request, str], Awaitable[None]] | None = None,
) -> fastapi.APIRouter:
    """A router serving ``GET {prefix}/{channel}`` from ``broker``.

    ``authorize`` (awaited with the request and the channel first) refuses by raising.
    """
    router = fastapi.APIRouter()

    @router.get(prefix + "/{channel}")
    async def stream(
        channel: str,
        request: fastapi.Request,
        after: str | None = None,
        until: str | None = None,
    ) -> EventSourceResponse:
        if len(channel) > MAX_CHANNEL_LENGTH:
            raise fastapi.HTTPException(
                414, f"channel: at most {MAX_CHANNEL_LENGTH} characters, got {len(channel):,}"
            )
        if authorize is not None:
            await authorize(request, channel)
        resume = _resume_point(after, request)
        if until not in (None, "done"):
            raise fastapi.HTTPException(400, "until must be 'done'")
        try:  # a shared broker that is down: say so now, not with a stream that hangs
            await broker.check()
        except BrokerUnavailable as err:
            raise fastapi.HTTPException(503, str(err), headers={"retry-after": "5"}) from err
        return EventSourceResponse(
            _events(broker, channel, resume, until == "done"),
            ping=ping,
            headers={"x-accel-buffering": "no"},
        )

    return router


def _resume_point(after: str | None, request: fastapi.Request) -> str | None:
    """The event id to resume after: ``after``, else the ``Last-Event-ID`` header.

    Raises:
        fastapi.HTTPException: 400 for an id that is not an event id.
    """
    resume = after if after is not None else request.headers.get("last-event-id") or None
    if resume is not None:
        try:
            parse_event_id(resume)
        except ValueError as err:
            source = "after" if after is not None else "Last-Event-ID"
            raise fastapi.HTTPException(400, f"{source}: {err}") from err
    return resume


async def _events(
    broker: Broker, channel: str, resume: str | None, until_done: bool
) -> AsyncIterator[ServerSentEvent]:
    """The server-sent events of one subscription: ``ready``, a ``gap`` if any, then the events.

    With ``until_done`` the stream ends after the run's ``run.completed``/``run.failed``.
    """
    async with broker.subscribe(channel, after=resume) as subscription:
        yield ServerSentEvent(data=json.dumps({"channel": channel}), event="ready")
        gap = getattr(subscription, "gap", None)
        if isinstance(gap, Gap):
            yield ServerSentEvent(data=json.dumps(dataclasses.asdict(gap)), event="gap")
        async for event in subscription:
            yield ServerSentEvent(data=event.model_dump_json(), event=event.type, id=event.id)
            if until_done and event.type in _FINAL:
                return
