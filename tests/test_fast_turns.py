"""Fast turns: one step (one round trip) per agent turn, tools still exactly once."""

from __future__ import annotations

import collections
from typing import Any

from agentkit_inngest import (
    InlineRunner,
    Lifecycle,
    Network,
    ToolContext,
    ToolRetry,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest.models import openai
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

TURNS = 4


def _workload(effects: collections.Counter[str], *, fast: bool, model: Any = None) -> Any:
    @tool
    def record(n: int, ctx: ToolContext) -> int:
        """Record a turn."""
        effects[f"record:{n}"] += 1
        ctx.state.kv.set("turns", (ctx.state.kv.get("turns") or []) + [n])
        return n

    @tool(pure=True)
    def double(n: int) -> int:
        """Double a number (pure)."""
        return 2 * n

    def respond(call: ModelCall) -> Any:
        done = sum(1 for m in call.messages if m.kind == "tool_call")
        if done >= TURNS:
            return text(f"finished after {done} turns")
        if done == 1:  # one turn with parallel calls, one of them pure
            return tool_calls(
                ("record", {"n": done}, f"r{done}"), ("double", {"n": done}, f"d{done}")
            )
        return tool_call("record", {"n": done}, id=f"r{done}")

    agent = create_agent(
        name="Worker",
        model=model or FunctionModel(respond),
        tools=[record, double],
        max_iter=TURNS + 1,
    )
    return create_network(
        name="Work", agents=[agent], router=route_in_order(agent), fast_turns=fast
    )


async def test_fast_turns_take_one_round_trip_per_turn_and_match_the_split_run() -> None:
    plain = (await _workload(collections.Counter(), fast=False).run("go")).to_json()
    effects: collections.Counter[str] = collections.Counter()
    # round trips are what the request-per-step path (checkpointing off, or a checkpoint
    # that falls back) costs; checkpointed, the whole run is one request
    async with LocalExecutor() as executor:
        client = executor.client("fast")
        await executor.attach(
            create_server(
                client=client, networks=[_workload(effects, fast=True)], checkpointing=False
            )
        )
        run = await executor.run("network-work", {"input": "go"})
        requests = executor.requests_for(run)
        assert run.output == plain
        assert len(requests) == TURNS + 2  # one per turn (+ the final answer's turn) + completion
        assert executor.executed(run) == ["Worker#1/turn"] + [
            f"Worker#1/turn#{i}" for i in range(2, TURNS + 2)
        ]
        assert not run.disable_immediate  # nothing was planned
        assert set(effects.values()) == {1} and len(effects) == TURNS
        assert run.output["state"]["kv"]["turns"] == list(range(TURNS))
        turn = run.memo_for("Worker#1/turn#2")["data"]
        assert set(turn["tools"]) == {"r1"}  # the pure tool runs outside, on every replay

    split_effects: collections.Counter[str] = collections.Counter()
    async with LocalExecutor() as executor:
        client = executor.client("split")
        await executor.attach(
            create_server(
                client=client, networks=[_workload(split_effects, fast=False)], checkpointing=False
            )
        )
        split = await executor.run("network-work", {"input": "go"})
        assert split.output == plain
        assert len(executor.requests_for(split)) > 2 * TURNS


async def test_a_tool_retry_inside_a_turn_is_retried_in_place(monkeypatch: Any) -> None:
    attempts: list[int] = []

    async def no_wait(delay: float) -> None:
        return None

    monkeypatch.setattr("agentkit_inngest._steps._retry.asyncio.sleep", no_wait)

    @tool
    def flaky(ctx: ToolContext) -> str:
        """Fail twice, then work."""
        attempts.append(1)
        if len(attempts) < 3:
            raise ToolRetry("busy", retry_after=0.01)
        return "ok"

    @tool
    def hopeless(ctx: ToolContext) -> str:
        """Always ask for a retry."""
        raise ToolRetry("still busy")

    model = FunctionModel(
        lambda call: (
            text("done")
            if call.last is not None and call.last.kind == "tool_result"
            else tool_calls(("flaky", {}, "f"), ("hopeless", {}, "h"))
        )
    )
    agent = create_agent(
        name="A", model=model, tools=[flaky, hopeless], max_iter=2, fast_turns=True
    )
    result = await agent.run("q", runner=InlineRunner())
    flaky_result, hopeless_result = result.tool_calls
    assert flaky_result.content == "ok" and len(attempts) == 3
    assert hopeless_result.is_error and hopeless_result.content["message"] == "still busy"


async def test_fast_turn_retries_a_failed_inference_without_running_tools_twice(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        Fault(status=503, message="busy"),
        tool_call("record", {"n": 0}, id="r0"),
        text("all done"),
    )
    effects: collections.Counter[str] = collections.Counter()
    model = openai("m", base_url=f"{provider_url}/v1", api_key="k")
    network = _workload(effects, fast=True, model=model)
    async with LocalExecutor() as executor:
        client = executor.client("fast-retry")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-work", {"input": "go"})
        assert run.output["output"] == "all done"
        assert effects == {"record:0": 1}
        assert any(r.attempt == 1 for r in executor.requests_for(run))


async def test_offloaded_inference_keeps_separate_steps(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(tool_call("record", {"n": 0}, id="r0"), text("done"))
    model = openai("m", base_url=f"{provider_url}/v1", api_key="k", inference="offload")
    network = _workload(collections.Counter(), fast=True, model=model)
    async with LocalExecutor() as executor:
        client = executor.client("fast-offload")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-work", {"input": "go"})
        ops = [op for r in executor.requests_for(run) for op in r.ops]
        assert ("AIGateway", "Worker#1/infer") in ops and ("AIGateway", "Worker#1/infer#2") in ops
        assert executor.executed(run) == ["Worker#1/tool/record"]
        assert not any(name.endswith("/turn") for _, name in ops)


async def test_fast_turns_stream_the_same_events_once() -> None:
    from agentkit_inngest import network_function

    from .test_streaming import EXPECTED, Recorder, _respond

    @tool
    def save(answer: str, ctx: ToolContext) -> str:
        """Save the answer."""
        ctx.state.kv.set("answer", answer)
        return "saved"

    agent = create_agent(name="Writer", model=FunctionModel(_respond), tools=[save], max_iter=2)
    network: Network[Any] = create_network(
        name="Stream", agents=[agent], router=route_in_order(agent), fast_turns=True
    )
    recorder = Recorder()
    async with LocalExecutor() as executor:
        client = executor.client("fast-stream")
        fn = network_function(network, client=client, publisher=recorder)
        await executor.attach(create_server(client=client, functions=[fn]))
        await executor.run("network-stream", {"input": "q"})
    seqs = [e.seq for e in recorder.events]
    assert len(seqs) == len(set(seqs))
    assert recorder.summary() == EXPECTED


async def _response_hook_calls(fast: bool) -> list[int]:
    """The inferences each ``on_response`` call saw, in a two-turn call."""
    inferences: list[int] = []

    def on_response(*, agent: Any, network: Any, result: Any) -> None:
        inferences.append(len(result.raw))  # the inferences the result holds so far

    @tool
    def record(n: int, ctx: ToolContext) -> int:
        """Record a turn."""
        ctx.state.kv.set("n", n)
        return n

    model = FunctionModel(
        lambda call: (
            text("done")
            if call.last is not None and call.last.kind == "tool_result"
            else tool_call("record", {"n": 0}, id="r0")
        )
    )
    agent = create_agent(
        name="A",
        model=model,
        tools=[record],
        max_iter=3,
        fast_turns=fast,
        lifecycle=Lifecycle(on_response=on_response),
    )
    result = await agent.run("go", runner=InlineRunner())
    assert result.text == "done"
    return inferences


async def test_on_response_runs_once_per_inference_with_or_without_fast_turns() -> None:
    assert await _response_hook_calls(fast=False) == [1, 2]
    assert await _response_hook_calls(fast=True) == [1, 2]
