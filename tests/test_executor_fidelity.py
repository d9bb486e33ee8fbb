"""The local executor behaves like the real Inngest server where a difference once
hid a bug: JSON as Go writes it, cancellation on events, the retry schedule, and
parallel results stored in the order they arrive (see ``testing/server_rules.py``
for the server source each rule comes from)."""

from __future__ import annotations

import asyncio
import collections
import datetime
import time
from typing import Any

import inngest
import pytest

from agentkit_inngest import (
    Network,
    ToolContext,
    ToolRetry,
    create_agent,
    create_human_tool,
    create_network,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call, tool_calls
from agentkit_inngest.testing.server_rules import (
    BACKOFF_TABLE,
    ManualClock,
    cancels,
    go_json,
    parse_retry_after,
    request_body,
)

from .test_durable import app_with

# -- JSON as the server writes it ---------------------------------------------------------


async def test_lone_surrogates_in_event_data_and_memos_arrive_as_u_fffd() -> None:
    """Go's JSON decoder replaces an unpaired surrogate with U+FFFD, and JCS makes every
    number a 64-bit float: what an app receives from the real server never holds a
    lone surrogate, and ``1.0`` arrives as ``1``."""
    seen: list[Any] = []

    def functions(client: inngest.Inngest) -> inngest.Function[Any]:
        @client.create_function(fn_id="echo", trigger=inngest.TriggerEvent(event="t/echo"))
        async def echo(ctx: inngest.Context) -> str:
            async def make() -> dict[str, str]:
                return {"made": "m\ud800", "pair": "\ud83d\ude00"}

            memo = await ctx.step.run("make", make)
            seen.append((dict(ctx.event.data), memo))
            return "ok"

        return echo

    async with app_with(functions=[functions]) as (executor, _):
        data = {"q": "x\udfff y", "whole": 1.0, "big": 2**60 + 1}
        await executor.run("echo", event={"name": "t/echo", "data": data})
    event_data, memo = seen[-1]
    assert event_data == {"q": "x\ufffd y", "whole": 1, "big": 1152921504606847000}
    assert isinstance(event_data["whole"], int)
    assert memo == {"made": "m\ufffd", "pair": "\U0001f600"}


def test_go_json_is_compact_sorted_and_has_no_lone_surrogates() -> None:
    assert go_json({"b": ["\ud800"], "a": "é"}) == '{"a":"é","b":["\ufffd"]}'.encode()


# -- memos inline or through the API ------------------------------------------------------


def test_memos_travel_inline_up_to_4_mb_minus_1_kb_then_through_the_api() -> None:
    event = {"name": "e", "data": {}}
    memos = {"a": {"data": "x" * 100}}
    ctx = {"run_id": "r"}
    inline, use_api = request_body(event=event, memos=memos, state_bytes=4 * 2**20 - 1024, ctx=ctx)
    assert not use_api and b'"steps":{"a"' in inline
    fetched, use_api = request_body(event=event, memos=memos, state_bytes=4 * 2**20 - 1023, ctx=ctx)
    assert use_api and b'"steps":{}' in fetched and b'"use_api":true' in fetched
    assert b'"events":[{' in fetched  # the events stay while the body fits
    huge = {"name": "e", "data": {"blob": "e" * (4 * 2**20)}}
    body, use_api = request_body(event=huge, memos=memos, state_bytes=0, ctx=ctx)
    assert use_api and b'"events":[]' in body and b'"steps":{}' in body


# -- cancellation -------------------------------------------------------------------------


def waiting_network(effects: collections.Counter[str]) -> Network[Any]:
    """The model asks a person (a wait for ``t/answer``), then would book."""

    @tool
    def book(ctx: ToolContext) -> str:
        """Book it."""
        effects["book"] += 1
        return "booked"

    ask = create_human_tool(event="t/answer", match="data.id")
    model = ScriptedModel(
        [tool_call("ask_human", {"question": "go ahead?"}), tool_call("book"), text("done")]
    )
    agent = create_agent(name="A", model=model, tools=[ask, book], max_iter=3)
    return create_network(name="Waiting", agents=[agent], router=route_in_order(agent))


async def test_a_cancel_event_stops_a_waiting_run_and_nothing_after_it_runs() -> None:
    effects: collections.Counter[str] = collections.Counter()
    network = waiting_network(effects)
    cancel = [{"event": "t/stop", "if": "async.data.id == event.data.id"}]
    functions = [lambda c: network_function(network, client=c, cancel=cancel)]
    async with app_with(functions=functions) as (executor, _):
        run = executor.start("network-waiting", {"input": "go", "id": "r1"})
        await executor.wait_for_pause(run)
        await executor.send({"name": "t/stop", "data": {"id": "someone else"}})
        status_before_the_cancel = run.status
        assert status_before_the_cancel == "waiting"  # the `if` expression does not hold
        calls = len(executor.requests_for(run))
        await executor.send({"name": "t/stop", "data": {"id": "r1"}})
        await run.wait(10)
        await executor.send({"name": "t/answer", "data": {"id": "r1", "answer": "yes"}})
        await asyncio.sleep(0.05)
    assert run.status == "cancelled" and run.error["message"] == "function cancelled"
    assert len(executor.requests_for(run)) == calls  # no call of the app after the cancel
    assert effects == {}
    (notice,) = [e for e in executor.events if e["name"] == "inngest/function.cancelled"]
    assert notice["data"]["run_id"] == run.id and notice["data"]["event"] == run.event


async def test_a_cancel_during_a_step_lets_it_finish_and_runs_nothing_after() -> None:
    """Between steps: the step in flight completes (its side effect stays), its result
    is dropped, and no later step (the next inference, the next tool) runs."""
    started, release = asyncio.Event(), asyncio.Event()
    effects: collections.Counter[str] = collections.Counter()

    @tool
    async def slow(ctx: ToolContext) -> str:
        """Take a while."""
        effects["slow"] += 1
        started.set()
        await release.wait()
        return "finished"

    model = ScriptedModel([tool_call("slow"), tool_call("slow"), text("done")])
    agent = create_agent(name="A", model=model, tools=[slow], max_iter=3)
    network: Network[Any] = create_network(
        name="Slow", agents=[agent], router=route_in_order(agent)
    )
    functions = [lambda c: network_function(network, client=c, cancel="t/stop")]
    async with app_with(functions=functions) as (executor, _):
        run = executor.start("network-slow", {"input": "go"})
        await asyncio.wait_for(started.wait(), 10)
        await executor.send({"name": "t/stop", "data": {}})
        release.set()
        await run.wait(10)
        await asyncio.sleep(0.05)
    assert run.status == "cancelled"
    assert effects == {"slow": 1} and len(model.calls) == 1
    assert [run.step_names[step] for step in run.stack] == ["A#1/infer"]  # result dropped


def test_a_cancel_entry_matches_by_name_expression_and_timeout() -> None:
    config = {
        "cancel": [{"event": "t/stop", "if": "async.data.id == event.data.id", "timeout": "1h"}]
    }
    trigger = {"name": "t/go", "data": {"id": 1}}
    stop = {"name": "t/stop", "data": {"id": 1}}
    assert cancels(config, trigger, stop, started=0, now=3600)
    assert not cancels(config, trigger, stop, started=0, now=3601)  # the listener expired
    assert not cancels(config, trigger, {**stop, "data": {"id": 2}}, started=0, now=1)
    assert not cancels(config, trigger, {**stop, "name": "t/other"}, started=0, now=1)
    assert cancels({"cancel": [{"event": "t/stop"}]}, trigger, stop, started=0, now=10**9)


# -- retry timing -------------------------------------------------------------------------


def always_retrying_network(retry_after: float | None = None) -> Network[Any]:
    @tool
    def flaky(ctx: ToolContext) -> str:
        """Fail every time."""
        raise ToolRetry("the backend is down", retry_after=retry_after)

    model = ScriptedModel([tool_call("flaky"), text("done")])
    agent = create_agent(name="A", model=model, tools=[flaky], max_iter=2)
    return create_network(name="Flaky", agents=[agent], router=route_in_order(agent))


async def test_retries_wait_as_inngest_backs_off_on_an_injected_clock() -> None:
    """15 s, 30 s, 1 min, 2 min after attempts 0-3, each plus 0-30 s of jitter; the
    clock records the waits, so the test takes no time."""
    clock = ManualClock()
    network = always_retrying_network()
    functions = [lambda c: network_function(network, client=c, retries=4)]
    async with app_with(functions=functions, backoff="inngest", clock=clock, seed=7) as (
        executor,
        _,
    ):
        run = await executor.run("network-flaky", {"input": "go"}, check=False)
    assert run.status == "failed"
    delays = [retry.delay for retry in executor.retries]
    assert [retry.attempt for retry in executor.retries] == [0, 1, 2, 3]
    for attempt, delay in enumerate(delays):
        assert BACKOFF_TABLE[attempt] <= delay < BACKOFF_TABLE[attempt] + 30, delays
    assert len({d - BACKOFF_TABLE[i] for i, d in enumerate(delays)}) > 1  # jittered
    assert clock.sleeps == delays  # waited on the clock, which takes no wall time


async def test_a_retry_after_answer_replaces_the_backoff() -> None:
    clock = ManualClock(start=time.time())
    network = always_retrying_network(retry_after=120)
    functions = [lambda c: network_function(network, client=c, retries=1)]
    async with app_with(functions=functions, backoff="inngest", clock=clock) as (executor, _):
        await executor.run("network-flaky", {"input": "go"}, check=False)
    (retry,) = executor.retries
    assert retry.retry_after is not None  # the app's RetryAfterError, as a date
    assert 115 <= retry.delay <= 125, retry  # not the backoff table's 15-45 s


async def test_retries_are_immediate_by_default() -> None:
    network = always_retrying_network()
    functions = [lambda c: network_function(network, client=c, retries=2)]
    async with app_with(functions=functions) as (executor, _):
        await executor.run("network-flaky", {"input": "go"}, check=False)
    assert [retry.delay for retry in executor.retries] == [0.0, 0.0]


def test_retry_after_is_read_and_clipped_as_the_server_does() -> None:
    now = 1_700_000_000.0
    stamp = datetime.datetime.fromtimestamp(now + 90, datetime.timezone.utc)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after(stamp.isoformat().replace("+00:00", "Z"), now) == 90
    assert parse_retry_after(stamp.strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 90
    assert parse_retry_after("0", now) is None  # not a positive number, not a date
    assert parse_retry_after("2", now + 0.5) == 1.5  # from the whole second, as Go truncates
    assert parse_retry_after("9999999", now) == 24 * 3600  # clipped to 24 h
    past = datetime.datetime.fromtimestamp(now - 60, datetime.timezone.utc).isoformat()
    assert parse_retry_after(past, now) == 1  # at least 1 s
    assert parse_retry_after("soon", now) is None


# -- parallel steps -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
async def test_parallel_results_stored_out_of_order_still_reach_their_calls(seed: int) -> None:
    def network() -> Network[Any]:
        @tool
        def double(n: int) -> int:
            """Double a number."""
            return 2 * n

        calls = tool_calls(*[("double", {"n": n}, f"c{n}") for n in range(6)])
        model = ScriptedModel([calls, text("done")])
        agent = create_agent(name="A", model=model, tools=[double], max_iter=2)
        return create_network(name="Par", agents=[agent], router=route_in_order(agent))

    plain = (await network().run("go")).to_json()["results"]
    # the executor shuffles planned parallel steps: the request-per-step path (checkpointing
    # off or fallen back); checkpointed, they are saved as they finish, inside one request
    async with app_with(networks=[network()], seed=seed, checkpointing=False) as (executor, _):
        run = await executor.run("network-par", {"input": "go"})
    stored = [run.step_names[step] for step in run.stack if "tool/double" in run.step_names[step]]
    in_order = [f"A#1/tool/double{'' if n == 0 else f'#{n + 1}'}" for n in range(6)]
    assert sorted(stored) == sorted(in_order) and stored != in_order  # shuffled
    results = run.output["results"][0]["tool_calls"]
    assert [(r["tool_call_id"], r["content"]) for r in results] == [
        (f"c{n}", 2 * n) for n in range(6)
    ]
    assert results == plain[0]["tool_calls"]
