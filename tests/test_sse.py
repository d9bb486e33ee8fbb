"""The server-sent-events endpoint, read by real HTTP clients: concurrent and late
subscribers, resuming with Last-Event-ID, disconnects, bad input, keep-alives."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import fastapi
import httpx
import pytest

from agentkit_inngest import (
    ToolContext,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest.streaming import Broker, MemoryBroker, StreamEvent, stream_router
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call
from agentkit_inngest.testing.servers import serve_async

from .redis_server import BrokerFactory, make_broker, redis_server

__all__ = ["make_broker", "redis_server"]  # fixtures used here

WAIT = 30  # seconds: a bound on waits for events that must come, never a pause


class Listener:
    """An SSE client that parses messages per the spec (comments, multi-line data,
    blank-line ends) and lets a test wait for what it has received."""

    def __init__(self, http: httpx.AsyncClient, url: str, **headers: str) -> None:
        self.http, self.url, self.headers = http, url, headers
        self.ready: list[dict[str, Any]] = []
        self.gaps: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self.body = ""
        self._changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Listener:
        self.task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async with self.http.stream("GET", self.url, headers=self.headers) as response:
            self.status = response.status_code
            if response.status_code != 200:
                self.body = (await response.aread()).decode()
                return
            fields: dict[str, str] = {}
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                    await self._notify()
                    continue
                if line:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        data.append(value)
                    else:
                        fields[name] = value
                    continue
                if data:
                    await self._received(fields, "\n".join(data))
                fields, data = {}, []

    async def _received(self, fields: dict[str, str], data: str) -> None:
        payload = json.loads(data)
        if fields.get("event") == "ready":
            self.ready.append(payload)
        elif fields.get("event") == "gap":
            assert "id" not in fields  # a browser keeps its Last-Event-ID
            self.gaps.append(payload)
        else:
            assert fields["event"] == payload["type"]
            assert fields["id"] == f"{payload['run_id']}:{payload['seq']}"
            self.events.append(payload)
            self.ids.append(fields["id"])
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, done: Callable[[Listener], bool]) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: done(self))

        await asyncio.wait_for(wait(), WAIT)

    async def is_ready(self) -> Listener:
        await self.until(lambda listener: bool(listener.ready))
        return self

    async def finished(self) -> Listener:
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT)
        return self

    async def drop(self) -> None:
        """Disconnect mid-stream, as a closed browser tab does."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


def _event(run_id: str, seq: int, type: str = "text.delta", channel: str = "c") -> StreamEvent:
    return StreamEvent(
        type=type,
        seq=seq,
        run_id=run_id,
        channel=channel,
        data={"delta": f"{run_id}/{seq}"},
    )


@contextlib.asynccontextmanager
async def sse_app(broker: Broker, *, ping: float = 15.0) -> AsyncIterator[str]:
    """Just the SSE router over ``broker``, served on 127.0.0.1."""
    app = fastapi.FastAPI()
    app.include_router(stream_router(broker, ping=ping))
    async with serve_async(app) as server, httpx.AsyncClient(base_url=server.url, timeout=WAIT):
        yield server.url


# -- a network whose tool the test holds open, to join a run in its middle ---------------


def _gated_network(entered: asyncio.Event, gate: asyncio.Event) -> Any:
    @tool
    async def look_up(topic: str, ctx: ToolContext) -> str:
        """Look the topic up."""
        entered.set()
        await gate.wait()
        return f"notes on {topic}"

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("Here is what the notes say.")
        return tool_call("look_up", {"topic": "queues"}, id="l1")

    agent = create_agent(
        name="Researcher", model=FunctionModel(respond), tools=[look_up], max_iter=2
    )
    return create_network(name="Research", agents=[agent], router=route_in_order(agent))


@contextlib.asynccontextmanager
async def research_app(
    broker: Broker,
) -> AsyncIterator[tuple[LocalExecutor, str, asyncio.Event, asyncio.Event]]:
    entered, gate = asyncio.Event(), asyncio.Event()
    async with LocalExecutor() as executor:
        client = executor.client("sse-tests")
        app = create_server(client=client, networks=[_gated_network(entered, gate)], broker=broker)
        url = await executor.attach(app)
        yield executor, url.removesuffix("/api/inngest"), entered, gate


RUN_TYPES = [
    "run.started",
    "agent.started",
    "usage",
    "tool.call",
    "tool.result",
    "text.delta",
    "text.delta",
    "text.delta",
    "text.delta",
    "text.delta",
    "text.delta",
    "usage",
    "agent.finished",
    "run.completed",
]


async def test_two_concurrent_subscribers_get_the_same_events_in_order(
    make_broker: BrokerFactory,
) -> None:
    broker: Any = make_broker()
    async with (
        research_app(broker) as (executor, base, _, gate),
        httpx.AsyncClient(timeout=WAIT) as http,
    ):
        gate.set()
        url = f"{base}/streams/t-1?until=done"
        first, second = Listener(http, url).start(), Listener(http, url).start()
        await first.is_ready()
        await second.is_ready()
        assert broker.subscribers("t-1") == 2
        await executor.run("network-research", {"input": "q", "thread_id": "t-1"})
        await first.finished()
        await second.finished()
    assert first.ready == second.ready == [{"channel": "t-1"}]
    assert first.types() == RUN_TYPES
    assert first.events == second.events
    seqs = [e["seq"] for e in first.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert "".join(e["data"]["delta"] for e in first.events if e["type"] == "text.delta") == (
        "Here is what the notes say."
    )
    assert {e["channel"] for e in first.events} == {"t-1"}
    assert broker.subscriber_count == 0


async def test_a_late_subscriber_gets_events_from_where_it_joined(
    make_broker: BrokerFactory,
) -> None:
    broker: Any = make_broker()
    async with (
        research_app(broker) as (executor, base, entered, gate),
        httpx.AsyncClient(timeout=WAIT) as http,
    ):
        url = f"{base}/streams/t-2?until=done"
        early = await Listener(http, url).start().is_ready()
        run = executor.start("network-research", {"input": "q", "thread_id": "t-2"})
        await asyncio.wait_for(entered.wait(), WAIT)  # the tool is running, held open
        await early.until(lambda listener: "tool.call" in listener.types())
        late = await Listener(http, url).start().is_ready()
        gate.set()
        await run.wait(WAIT)
        await early.finished()
        await late.finished()
    assert early.types() == RUN_TYPES
    joined = early.types().index("tool.result")
    assert late.events == early.events[joined:]
    assert broker.subscriber_count == 0


async def test_last_event_id_resumes_after_that_event_across_runs_of_a_thread(
    make_broker: BrokerFactory,
) -> None:
    """A thread's channel carries several runs, each numbering its events from the
    start: resuming goes by the event's place in the channel, not by seq."""
    broker: Any = make_broker()
    first_run = [_event("run-a", seq) for seq in (10, 11, 12, 13)]
    second_run = [_event("run-b", seq) for seq in (10, 11, 12)]  # smaller seqs than run-a's
    for event in first_run + second_run:
        await broker.publish("c", event)
    async with sse_app(broker) as base, httpx.AsyncClient(timeout=WAIT) as http:
        gaps: list[dict[str, Any]] = []

        async def resume(**headers: str) -> list[str]:
            listener = await Listener(http, f"{base}/streams/c", **headers).start().is_ready()
            await listener.until(lambda got: bool(got.ids) and got.ids[-1] == "run-b:12")
            await listener.drop()
            gaps.extend(listener.gaps)
            return listener.ids

        # the browser's reconnect: everything after run-a's 12th event, run-b whole
        assert await resume(**{"Last-Event-ID": "run-a:12"}) == [
            "run-a:13",
            "run-b:10",
            "run-b:11",
            "run-b:12",
        ]
        assert await resume(**{"Last-Event-ID": "run-b:10"}) == ["run-b:11", "run-b:12"]
        assert gaps == []  # nothing was missed
        # ?after= does the same and wins over the header
        after = Listener(http, f"{base}/streams/c?after=run-b:11", **{"Last-Event-ID": "x:1"})
        after.start()
        await after.until(lambda got: got.ids == ["run-b:12"])
        await after.drop()
        # an id the broker no longer retains: all it has (the client drops what it saw),
        # after a message saying that events may be missing
        assert len(await resume(**{"Last-Event-ID": "run-gone:3"})) == 7
        assert gaps == [{"after": "run-gone:3", "resumed_from": "run-a:10", "missed": None}]
    await asyncio.wait_for(broker.wait_for_no_subscribers(), WAIT)


async def test_disconnected_clients_free_their_subscriptions(make_broker: BrokerFactory) -> None:
    broker: Any = make_broker()
    async with sse_app(broker) as base, httpx.AsyncClient(timeout=WAIT) as http:
        listeners = [Listener(http, f"{base}/streams/d").start() for _ in range(3)]
        for listener in listeners:
            await listener.is_ready()
        assert broker.subscribers("d") == 3
        await broker.publish("d", _event("r", 1, channel="d"))
        for listener in listeners:
            await listener.until(lambda got: len(got.events) == 1)
        # two clients go away mid-stream; the server notices and unsubscribes them
        await listeners[0].drop()
        await listeners[1].drop()
        await asyncio.wait_for(broker.wait_until(lambda: broker.subscribers("d") == 1), WAIT)
        await broker.publish("d", _event("r", 2, channel="d"))
        await listeners[2].until(lambda got: len(got.events) == 2)
        await listeners[2].drop()
        await asyncio.wait_for(broker.wait_for_no_subscribers("d"), WAIT)
    assert broker.subscriber_count == 0
    await broker.publish("d", _event("r", 3, channel="d"))  # nobody listens: fine


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ("", {"Last-Event-ID": "seventeen"}, "Last-Event-ID: 'seventeen' is not an event id"),
        ("", {"Last-Event-ID": "17"}, "expected '<run_id>:<seq>'"),
        ("?after=run-1:x", {}, "after: 'run-1:x' is not an event id"),
        ("?until=forever", {}, "until must be 'done'"),
    ],
)
async def test_bad_resume_points_are_rejected_with_400(
    query: str, headers: dict[str, str], message: str, make_broker: BrokerFactory
) -> None:
    broker: Any = make_broker()
    async with sse_app(broker) as base, httpx.AsyncClient(timeout=WAIT) as http:
        response = await http.get(f"{base}/streams/c{query}", headers=headers)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert broker.subscriber_count == 0


async def test_keep_alive_pings_do_not_break_parsing(make_broker: BrokerFactory) -> None:
    broker: Any = make_broker()
    async with sse_app(broker, ping=0.02) as base, httpx.AsyncClient(timeout=WAIT) as http:
        listener = await Listener(http, f"{base}/streams/p?until=done").start().is_ready()
        # the test's own wait is on a ping arriving, not on a clock
        await listener.until(lambda got: len(got.comments) >= 1)
        multi_line = _event("r", 1, channel="p").model_copy(
            update={"data": {"delta": "line one\nline two\n\n"}}
        )
        await broker.publish("p", multi_line)
        await listener.until(lambda got: len(got.comments) >= 2)
        await broker.publish("p", _event("r", 2, "run.completed", channel="p"))
        await listener.finished()
    assert all(c.startswith(": ping") for c in listener.comments)
    assert listener.ids == ["r:1", "r:2"]
    assert listener.events[0]["data"]["delta"] == "line one\nline two\n\n"


async def test_a_subscriber_that_cannot_keep_up_is_cut_off_and_can_resume() -> None:
    broker = MemoryBroker(queue_size=2)
    async with broker.subscribe("slow") as slow:
        for seq in (1, 2, 3):
            await broker.publish("slow", _event("r", seq, channel="slow"))
        assert broker.subscribers("slow") == 0  # cut off, not holding the run back
        assert [e.seq async for e in slow] == [1, 2]  # then the iteration ends
    async with broker.subscribe("slow", after="r:2") as resumed:
        assert (await anext(resumed)).seq == 3
