"""The in-memory stream broker stays bounded: what runs publish, what subscribers
hold, what ended runs leave behind. Through the served app under the local
executor, through the SSE endpoint with a real HTTP client, and with generated
hostile channel names and events (RELIABILITY.md quotes the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastapi
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentkit_inngest import create_agent, create_network, create_server, route_in_order, tool
from agentkit_inngest.streaming import Gap, MemoryBroker, StreamEvent, stream_router
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.servers import serve_async

from .redis_server import BrokerFactory, make_broker, redis_server
from .test_sse import WAIT, Listener

__all__ = ["make_broker", "redis_server"]  # fixtures used here

EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
KiB, MiB = 1024, 1024 * 1024
BROKER_FILES = [tracemalloc.Filter(True, "*/agentkit_inngest/streaming/*")]


@contextlib.contextmanager
def traced() -> Iterator[list[float]]:
    """MiB allocated by the broker's own code and still held: ``[at start]``, then
    ``[at start, at end]``."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    figures: list[float] = []

    def held() -> float:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(BROKER_FILES)
        return sum(stat.size for stat in snapshot.statistics("filename")) / MiB

    figures.append(held())
    try:
        yield figures
    finally:
        figures.append(held())
        if not was_tracing:
            tracemalloc.stop()


def _event(run: str, seq: int, type: str = "text.delta", **data: Any) -> StreamEvent:
    return StreamEvent(
        type=type,
        seq=seq,
        run_id=run,
        channel="c",
        data=data or {"delta": f"{run}/{seq}"},
    )


@contextlib.asynccontextmanager
async def sse(broker: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    app = fastapi.FastAPI()
    app.include_router(stream_router(broker))
    async with serve_async(app) as server, httpx.AsyncClient(timeout=WAIT) as http:
        yield http, server.url


# -- through the app -----------------------------------------------------------------------

RESULT = 200_000  # characters of each tool result


def _reader_network(*, calls: int = 1, size: int = RESULT) -> Any:
    made = iter(range(10**9))

    @tool
    def fetch() -> str:
        """Fetch the report (a new string each time, as a real tool's would be)."""
        return f"{next(made):08d}" + "x" * (size - 8)

    def respond(call: ModelCall) -> Any:
        if len(call.messages) > 1:
            return text("done")
        return tool_calls(*[("fetch", {})] * calls) if calls > 1 else tool_call("fetch", {})

    agent = create_agent(name="Reader", model=FunctionModel(respond), tools=[fetch])
    return create_network(name="reader", agents=[agent], router=route_in_order(agent))


async def test_an_app_with_a_default_broker_holds_at_most_32_mib_of_what_runs_published() -> None:
    # 40 runs of 4 parallel tool calls returning 250 KB each: 40 MB of tool results
    # published while nobody listens. The broker keeps the newest 32 MiB at most.
    broker = MemoryBroker()
    async with LocalExecutor() as executor:
        client = executor.client("defaults")
        network = _reader_network(calls=4, size=250_000)
        await executor.attach(create_server(client=client, networks=[network], broker=broker))
        with traced() as held:
            for i in range(40):
                await executor.run("network-reader", {"input": "go", "thread_id": f"t-{i}"})
                executor.runs.clear()  # the executor's records are not the app's memory
            newest = broker.retained("t-39")
    start, end = held
    assert end - start < 33, f"the broker holds {end - start:.1f} MiB"
    assert newest[-1].type == "run.completed"


async def test_an_app_with_a_broker_keeps_at_most_max_bytes_of_what_runs_published() -> None:
    runs = 30
    broker = MemoryBroker(max_bytes=2 * MiB, linger=600)
    async with LocalExecutor() as executor:
        client = executor.client("bounded")
        app = create_server(client=client, networks=[_reader_network()], broker=broker)
        await executor.attach(app)
        with traced() as held:
            for i in range(runs):
                await executor.run("network-reader", {"input": "go", "thread_id": f"t-{i}"})
                executor.runs.clear()  # the executor's records are not the app's memory
            # nobody listened: 30 runs published 6 MB of tool results; 2 MiB are kept,
            # the newest, for readers that reconnect within `linger`
            assert broker.retained_bytes <= 2 * MiB
            kept = [e for c in broker.channels() for e in broker.retained(c)]
            assert 0 < len(kept) < 7 * runs
            assert kept[-1].thread_id == f"t-{runs - 1}" and kept[-1].type == "run.completed"
    start, end = held
    assert end - start < 2.5, f"the broker holds {end - start:.2f} MiB"


async def test_ended_runs_channels_are_freed_once_their_linger_is_up() -> None:
    broker = MemoryBroker(linger=0.2)
    async with LocalExecutor() as executor:
        client = executor.client("lingers")
        app = create_server(client=client, networks=[_reader_network()], broker=broker)
        await executor.attach(app)
        with traced() as held:
            for i in range(5):
                await executor.run("network-reader", {"input": "go", "thread_id": f"t-{i}"})
                executor.runs.clear()
            # a timer frees them: no later publish or subscribe is needed
            await asyncio.wait_for(broker.wait_until(lambda: not broker.channels()), WAIT)
        assert broker.retained_bytes == 0
    start, end = held
    assert end - start < 0.05, f"the broker still holds {end - start:.2f} MiB"


async def test_a_run_that_ends_with_nobody_listening_frees_its_channel() -> None:
    broker = MemoryBroker(linger=0)
    async with LocalExecutor() as executor:
        client = executor.client("freed")
        await executor.attach(
            create_server(client=client, networks=[_reader_network()], broker=broker)
        )
        with traced() as held:
            await executor.run("network-reader", {"input": "go", "thread_id": "t-1"})
            executor.runs.clear()
            assert broker.channels() == [] and broker.retained_bytes == 0
    start, end = held
    assert end - start < 0.05


async def test_a_finished_channel_waits_for_a_reconnect_then_goes() -> None:
    broker = MemoryBroker(linger=3.0)  # the test reconnects at once: well within it
    async with LocalExecutor() as executor, httpx.AsyncClient(timeout=WAIT) as http:
        client = executor.client("linger")
        url = await executor.attach(
            create_server(client=client, networks=[_reader_network()], broker=broker)
        )
        base = url.removesuffix("/api/inngest")
        reader = await Listener(http, f"{base}/streams/t-1").start().is_ready()
        await executor.run("network-reader", {"input": "go", "thread_id": "t-1"})
        await reader.until(lambda got: "run.completed" in [e["type"] for e in got.events])
        cut_at = reader.ids[2]
        await reader.drop()  # the reader's connection breaks after the run ended
        await asyncio.wait_for(broker.wait_for_no_subscribers("t-1"), WAIT)
        # it comes back within `linger`: the rest of the run, and no gap
        back = Listener(http, f"{base}/streams/t-1", **{"Last-Event-ID": cut_at}).start()
        await back.until(lambda got: bool(got.ids) and got.ids[-1] == reader.ids[-1])
        await back.drop()
        assert back.ids == reader.ids[3:] and back.gaps == []
        # time is up: the channel goes; a reader that saw the end misses nothing ...
        await asyncio.wait_for(broker.wait_until(lambda: not broker.channels()), WAIT)
        late = Listener(http, f"{base}/streams/t-1", **{"Last-Event-ID": reader.ids[-1]})
        await late.start().is_ready()
        await late.drop()
        await asyncio.wait_for(broker.wait_for_no_subscribers("t-1"), WAIT)
        again = Listener(http, f"{base}/streams/t-1", **{"Last-Event-ID": reader.ids[-1]})
        await again.start().is_ready()
        await again.drop()
        # ... and one that did not is told that events are gone
        gone = Listener(http, f"{base}/streams/t-1", **{"Last-Event-ID": cut_at})
        await gone.start().until(lambda got: bool(got.gaps))
        await gone.drop()
    assert late.gaps == [] and late.events == [] and again.gaps == []
    # the same, asked of the broker directly (the SSE client above may drop early)
    for _ in range(2):  # and a reader that came and went did not make it forget
        async with broker.subscribe("t-1", after=reader.ids[-1]) as seen_all:
            assert seen_all.gap is None  # type: ignore[attr-defined]
    async with broker.subscribe("t-1", after=cut_at) as behind:
        assert behind.gap == Gap(after=cut_at, resumed_from=None)  # type: ignore[attr-defined]
    assert gone.gaps == [{"after": cut_at, "resumed_from": None, "missed": None}]


# -- the SSE endpoint ----------------------------------------------------------------------


async def test_resuming_from_before_the_kept_events_is_told_of_the_gap(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker(retain=3)
    for seq in range(1, 7):
        await broker.publish("c", _event("r", seq))
    async with sse(broker) as (http, base):
        old = Listener(http, f"{base}/streams/c", **{"Last-Event-ID": "r:1"}).start()
        await old.until(lambda got: got.ids[-1:] == ["r:6"])
        recent = Listener(http, f"{base}/streams/c?after=r:4").start()
        await recent.until(lambda got: got.ids[-1:] == ["r:6"])
        await old.drop()
        await recent.drop()
    # r:2 and r:3 are gone: the client is told before it gets what is kept (Redis
    # numbers a channel's entries, so it can say how many)
    missed = 2 if make_broker.kind == "redis" else None
    assert old.gaps == [{"after": "r:1", "resumed_from": "r:4", "missed": missed}]
    assert old.ids == ["r:4", "r:5", "r:6"]
    assert recent.gaps == [] and recent.ids == ["r:5", "r:6"]


async def test_an_event_too_large_to_keep_is_delivered_and_resuming_before_it_is_a_gap(
    make_broker: BrokerFactory,
) -> None:
    broker: Any = make_broker(channel_bytes=4 * KiB)
    async with broker.subscribe("c") as live:
        await broker.publish("c", _event("r", 1))
        await broker.publish("c", _event("r", 2, delta="y" * 10 * KiB))  # over 4 KiB
        await broker.publish("c", _event("r", 3))
        got = [await anext(live) for _ in range(3)]
        assert [e.seq for e in got] == [1, 2, 3]  # all delivered
        assert got[1].data["delta"] == "y" * 10 * KiB
    kept = broker.retained("c")
    kept = await kept if asyncio.iscoroutine(kept) else kept
    assert [e.seq for e in kept] == [1, 3]
    async with broker.subscribe("c", after="r:1") as resumed:
        assert resumed.gap is not None
        assert resumed.gap.missed == 1 and resumed.gap.resumed_from == "r:3"
        assert (await anext(resumed)).seq == 3
    async with broker.subscribe("c", after="r:2") as after_it:
        assert after_it.gap is None


async def test_channel_names_longer_than_a_thread_id_are_refused(
    make_broker: BrokerFactory,
) -> None:
    broker: Any = make_broker()
    long, longest = "t" * 8000, "t" * 256
    async with sse(broker) as (http, base):
        async with http.stream("GET", f"{base}/streams/{long}") as refused:
            status, body = refused.status_code, await refused.aread()
        accepted = await Listener(http, f"{base}/streams/{longest}").start().is_ready()
        await accepted.drop()
    assert status == 414
    assert json.loads(body)["detail"] == "channel: at most 256 characters, got 8,000"
    assert accepted.ready == [{"channel": longest}]
    with pytest.raises(ValueError, match="at most 256 characters; this one has 8,000"):
        async with broker.subscribe(long):
            pass
    with pytest.raises(ValueError, match="at most 256 characters"):
        await broker.publish(long, _event("r", 1))
    await asyncio.wait_for(broker.wait_for_no_subscribers(), WAIT)
    if isinstance(broker, MemoryBroker):
        assert broker.channels() == []


async def test_thousands_of_subscriptions_leave_nothing_once_closed() -> None:
    broker = MemoryBroker()
    with traced() as held:
        async with contextlib.AsyncExitStack() as stack:
            for i in range(4000):
                await stack.enter_async_context(broker.subscribe(f"{i:06d}" + "t" * 250))
            assert broker.subscriber_count == 4000
        assert broker.channels() == []
    start, end = held
    assert end - start < 0.05, f"closed subscriptions still hold {end - start:.2f} MiB"


async def test_a_reader_that_falls_behind_by_bytes_is_cut_off_and_can_resume() -> None:
    broker = MemoryBroker(queue_bytes=8 * KiB)
    async with broker.subscribe("c") as slow:
        for seq in (1, 2, 3):
            await broker.publish("c", _event("r", seq, delta="z" * 3 * KiB))
        assert broker.subscribers("c") == 0  # 9 KiB queued would pass its 8 KiB
        assert [e.seq async for e in slow] == [1, 2]
    async with broker.subscribe("c", after="r:2") as resumed:
        assert (await anext(resumed)).seq == 3


async def test_a_request_sent_again_after_the_end_does_not_hold_the_channel() -> None:
    broker = MemoryBroker(linger=0)
    await broker.publish("c", _event("r", 1))
    await broker.publish("c", _event("r", 2, "run.completed"))
    assert broker.channels() == []
    await broker.publish("c", _event("r", 2, "run.completed"))  # the end, again: dropped
    assert broker.channels() == []
    async with broker.subscribe("c") as live:
        await broker.publish("c", _event("r", 1))  # an earlier event, again
        assert (await anext(live)).seq == 1  # delivered (clients dedupe by id) ...
    assert broker.channels() == []  # ... but the ended run does not keep the channel


# -- generated channel names and events ----------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None), max_size=40),  # lone surrogates, NUL
    st.integers(0, 600).map(lambda n: "n" * n),  # up to past the 256 limit
    st.just(""),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),  # NaN and infinity too
    hostile_text,
    st.integers(0, 12_000).map(lambda n: "w" * n),  # larger than a channel keeps
)
nested = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
deep = st.integers(1, 3000).map(lambda depth: _nest(depth))


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "\x00", "\ud800", "t" * 256, "t" * 257]),  # channel
        st.sampled_from(["r1", "r2"]),  # run
        st.sampled_from(["text.delta", "tool.result", "run.completed"]),
        st.one_of(nested, deep, st.integers(1000, 12_000).map(lambda n: "w" * n)),
    ),
    max_size=30,
)


@settings(
    max_examples=1000 if EXPLORE else 100,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=steps, listening=st.sets(st.sampled_from(["a", "b", "\x00", "\ud800"])))
@example(steps=[("a", "r1", "tool.result", _nest(199))], listening={"a"})  # found by CI
def test_any_channel_and_event_is_delivered_and_kept_within_bounds_or_refused(
    steps: list[tuple[str, str, str, Any]], listening: set[str]
) -> None:
    asyncio.run(_publish_all(steps, listening))


async def _publish_all(steps: list[tuple[str, str, str, Any]], listening: set[str]) -> None:
    broker = MemoryBroker(retain=4, channel_bytes=8 * KiB, max_bytes=20 * KiB, linger=0)
    accepted: dict[str, list[str]] = {name: [] for name in listening}
    refusals: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        live = {name: await stack.enter_async_context(broker.subscribe(name)) for name in listening}
        for seq, (channel, run, kind, data) in enumerate(steps):
            event = StreamEvent(
                type=kind,
                seq=seq,
                run_id=run,
                channel=channel,
                data={"value": data},
            )
            try:
                await broker.publish(channel, event)
            except ValueError as err:
                refusals.append(str(err))
                continue
            # what is accepted, a reader can parse (nesting within its JSON parser's reach)
            assert StreamEvent.model_validate_json(event.model_dump_json()).id == event.id
            if channel in accepted:
                accepted[channel].append(event.id)
            assert broker.retained_bytes <= broker.max_bytes
            for name in broker.channels():
                kept = broker.retained(name)
                assert len(kept) <= broker.retain
                assert sum(len(e.model_dump_json().encode()) for e in kept) <= broker.channel_bytes
        for name, subscription in live.items():
            assert subscription.pending == len(accepted[name])  # type: ignore[attr-defined]
            got = [(await anext(subscription)).id for _ in accepted[name]]
            assert got == accepted[name]
    for refusal in refusals:  # each says why
        assert "channel name" in refusal or "cannot be sent as JSON" in refusal, refusal
    # every run ends: nothing is left, and the count of bytes went back to zero
    for name in broker.channels():
        for run in ("r1", "r2"):
            await broker.publish(
                name, StreamEvent(type="run.failed", seq=10**6, run_id=run, channel=name)
            )
    assert broker.channels() == [] and broker.retained_bytes == 0
