"""Checkpointed runs (issue 14): a whole network in one request, every step still durable.

Everything runs through the real FastAPI app and the Inngest SDK, driven by
``LocalExecutor``, whose checkpoint endpoint follows the real server's rules
(``testing/_checkpoints.py``); the model is the ``openai`` SDK against the local fake
provider.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any

import inngest
import pydantic
import pytest

from agentkit_inngest import (
    Checkpointing,
    ConfigurationError,
    InlineRunner,
    InngestRunner,
    agent_function,
    create_agent,
    create_function,
    create_human_tool,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.streaming import StreamEvent
from agentkit_inngest.testing import (
    LocalExecutor,
    ScriptedModel,
    text,
    tool_call,
)
from agentkit_inngest.testing.fake_providers import FakeProvider

from .checkpoint_workload import FN, Workload, checkpoints_of, plain_output, served


async def test_a_20_turn_network_runs_in_one_request_with_every_step_checkpointed(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    plain, plain_steps = await plain_output(fake_provider, provider_url, 20)
    workload = Workload(fake_provider, provider_url, 20)
    async with served(workload) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
        checkpoints = checkpoints_of(executor, run)
    assert len(requests) == 1 and requests[0].status == 200  # the output, in the one request
    assert requests[0].checkpoints == len(checkpoints) == 41  # 21 inferences, 20 tool calls
    assert all(c.status == 200 and c.saved and not c.skipped for c in checkpoints)
    assert [name for c in checkpoints for _, name in c.ops][:3] == [
        "Worker#1/infer",
        "Worker#1/tool/bump",
        "Worker#1/infer#2",
    ]
    assert workload.exactly_once()
    assert run.output == plain  # state, results and output equal a split-turn run
    assert sorted(run.step_names.values()) == plain_steps
    assert len(fake_provider.requests) >= 42  # both runs' inferences, each once


async def test_a_replay_of_a_checkpointed_run_runs_nothing_again(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    workload = Workload(fake_provider, provider_url, 3)
    async with served(workload) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        inferences = len(fake_provider.requests)
        again = await executor.replay(run)
    assert again.status_code == 200 and again.json() == run.output
    assert len(fake_provider.requests) == inferences and workload.exactly_once()


async def test_a_wait_for_a_human_ends_the_request_and_the_reply_resumes_it(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    def respond(request: Any) -> Any:
        results = [m for m in request.body["messages"] if m.get("role") == "tool"]
        if not results:
            return tool_call("ask_human", {"question": "May I?"}, id="h1")
        if len(results) == 1:
            return tool_call("bump", {"n": 1, "slot": 0}, id="c1")
        return text("approved and done")

    workload = Workload(fake_provider, provider_url, 2, respond=respond)
    human = create_human_tool(event="app/approval", request_event="app/approval.requested")
    async with LocalExecutor() as executor:
        client = executor.client("hitl")
        network = workload.network(tools=[human])
        fn = network_function(network, client=client, checkpointing=True)
        await executor.attach(create_server(client=client, functions=[fn]))
        run = executor.start(FN, {"input": "go"})
        pause = await executor.wait_for_pause(run)
        first = executor.requests_for(run)
        assert len(first) == 1 and [op for op, _ in first[0].ops] == ["WaitForEvent"]
        asked = [e for e in executor.events if e["name"] == "app/approval.requested"]
        assert len(asked) == 1  # the request event, sent once in a checkpointed step
        assert first[0].checkpoints == 2  # the inference, the send of the request event
        await executor.send({"name": "app/approval", "data": {"ok": True}})
        await run.wait()
        requests = executor.requests_for(run)
    assert pause.name.endswith("/wait") and run.status == "completed"
    assert len(requests) == 2  # the reply resumed the run in one new request
    assert requests[1].checkpoints >= 3  # inference, tool, inference
    assert workload.effects == {(1, 0): 1}
    assert run.output["output"] == "approved and done"


async def test_parallel_tool_calls_run_at_once_in_the_request_each_checkpointed(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    plain, _ = await plain_output(fake_provider, provider_url, 3, first=4)
    workload = Workload(fake_provider, provider_url, 3, first=4)
    workload.gate = asyncio.Event()  # the 4 calls wait for each other: only concurrency ends it
    async with served(workload) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
        checkpoints = checkpoints_of(executor, run)
        later = await executor.run(FN, {"input": "go"})  # a new run, same app
    assert len(requests) == 1 and not run.disable_immediate  # nothing was planned
    tools = [name for c in checkpoints for _, name in c.ops if "/tool/" in name]
    assert sorted(tools[:4]) == [
        "Worker#1/tool/bump",
        "Worker#1/tool/bump#2",
        "Worker#1/tool/bump#3",
        "Worker#1/tool/bump#4",
    ]
    assert run.output == plain and later.status == "completed"


async def test_stream_events_are_published_once_each(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    inline = _Recorder()
    plain_workload = Workload(fake_provider, provider_url, 3, first=2)
    await plain_workload.network().run("go", runner=InlineRunner(publisher=inline))
    durable = _Recorder()
    workload = Workload(fake_provider, provider_url, 3, first=2)
    async with LocalExecutor() as executor:
        client = executor.client("stream")
        fn = network_function(
            workload.network(), client=client, publisher=durable, checkpointing=True
        )
        await executor.attach(create_server(client=client, functions=[fn]))
        run = await executor.run(FN, {"input": "go", "thread_id": "t-1"})
        assert len(executor.requests_for(run)) == 1
    seqs = [e.seq for e in durable.events]
    assert len(seqs) == len(set(seqs)), "an event was published twice"
    assert sorted(durable.summary()) == sorted(inline.summary())
    assert [k for k, _ in durable.summary()][:2] == ["run.started", "agent.started"]


class _Recorder:
    """A publisher keeping every event it is given (duplicates included)."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def publish(self, event: StreamEvent) -> None:
        self.events.append(event)

    def summary(self) -> list[tuple[str, Any]]:
        """Each event once (the way clients dedupe: by seq), text joined per step."""
        unique = {e.seq: e for e in self.events}
        out: list[tuple[str, Any]] = []
        for event in sorted(unique.values(), key=lambda e: e.seq):
            if event.type == "text.delta":
                out.append(("text", event.data["delta"]))
            elif event.type in ("tool.call", "tool.result"):
                out.append((event.type, event.data["name"]))
            else:
                out.append((event.type, event.agent))
        return out


async def test_the_app_default_applies_and_a_function_can_opt_out(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    workload = Workload(fake_provider, provider_url, 2)
    agent = create_agent(name="Solo", model=workload.model, max_iter=1)
    fake_provider.reply(*([text("hello")] * 3))
    async with LocalExecutor() as executor:
        client = executor.client("defaults")
        opted_out = network_function(
            workload.network(name="Manual"), client=client, checkpointing=False
        )
        app = create_server(
            client=client,
            networks=[workload.network()],
            agents=[agent],
            functions=[opted_out],
            checkpointing=Checkpointing(budget=None),
        )
        await executor.attach(app)
        inherited = await executor.run("network-work", {"input": "go"})
        solo = await executor.run("agent-solo", {"input": "hi"})
        manual = await executor.run("network-manual", {"input": "go"})
    assert len(executor.requests_for(inherited)) == 1 and checkpoints_of(executor, inherited)
    assert len(executor.requests_for(solo)) == 1 and len(checkpoints_of(executor, solo)) == 1
    assert len(executor.requests_for(manual)) == 6 and not checkpoints_of(executor, manual)


def test_the_option_is_checked_when_the_function_is_defined() -> None:
    client = inngest.Inngest(app_id="x", is_production=False)
    agent = create_agent(name="A", system="s")
    with pytest.raises(ConfigurationError, match="checkpointing must be True, False, None"):
        agent_function(agent, client=client, checkpointing="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="budget"):
        Checkpointing(budget="soon")
    with pytest.raises(ConfigurationError, match="record_prompts"):
        Checkpointing(record_prompts="yes")  # type: ignore[arg-type]
    assert (
        Checkpointing().budget_seconds == 10.0 and Checkpointing(budget=None).budget_seconds is None
    )


async def test_a_spent_budget_hands_the_next_step_back_to_the_server(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    workload = Workload(fake_provider, provider_url, 3)
    async with served(workload, checkpointing=Checkpointing(budget=1)) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
    # the budget (1 ms) is spent almost at once: a new step is planned, and a request
    # that targets it runs it the ordinary way; at most one step is checkpointed a request
    planned = [r for r in requests if [op for op, _ in r.ops] == ["StepPlanned"]]
    targeted = [r for r in requests if r.step != "step"]
    assert planned and len(targeted) == len(planned)
    assert all(r.checkpoints <= 1 for r in requests)
    assert workload.exactly_once() and run.status == "completed"


async def test_create_function_checkpoints_its_own_steps_and_reused_step_ids(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    workload = Workload(fake_provider, provider_url, 2)
    counts: collections.Counter[str] = collections.Counter()

    class Order(pydantic.BaseModel):
        item: str

    async with LocalExecutor() as executor:
        client = executor.client("own")

        @create_function(client=client, fn_id="own", input=Order, checkpointing=True)
        async def own(ctx: inngest.Context, order: Order) -> dict[str, Any]:
            async def once(label: str) -> str:
                counts[label] += 1
                return label

            first = await ctx.step.run("pick", once, "a")
            second = await ctx.step.run("pick", once, "b")  # the SDK names it pick:1
            ids = await ctx.step.send_event("notify", [inngest.Event(name="app/picked")])
            run = await workload.network().run(order.item, runner=InngestRunner(ctx))
            return {"picks": [first, second], "sent": len(ids), "output": run.output}

        await executor.attach(create_server(client=client, functions=[own]))
        run = await executor.run("own", {"item": "go"})
        again = await executor.replay(run)
    assert len(executor.requests_for(run)) == 1
    names = [name for c in checkpoints_of(executor, run) for _, name in c.ops]
    assert names[:3] == ["pick", "pick", "notify"] and "Worker#1/tool/bump" in names
    hashed = {hashlib.sha1(s.encode()).hexdigest() for s in ("pick", "pick:1", "notify")}
    assert hashed <= set(run.memos)  # saved under the ids the SDK looks up on replay
    assert run.output["picks"] == ["a", "b"] and run.output["sent"] == 1
    assert again.json() == run.output  # the replay read every memo: nothing ran again
    assert counts == {"a": 1, "b": 1} and workload.exactly_once()
    assert [e["name"] for e in executor.events].count("app/picked") == 1


async def test_a_checkpointed_step_goes_on_with_the_value_a_replay_reads_back() -> None:
    """A lone surrogate comes back from the server as U+FFFD: the request that ran the
    step goes on with that value too, so a replay computes the same output."""
    async with LocalExecutor() as executor:
        client = executor.client("own")

        class Ask(pydantic.BaseModel):
            prefix: str

        @create_function(client=client, fn_id="echo", input=Ask, checkpointing=True)
        async def echo(ctx: inngest.Context, ask: Ask) -> dict[str, Any]:
            async def hostile() -> list[str]:
                return [ask.prefix + "\ud800b", "\x00", "é"]

            got = await ctx.step.run("hostile", hostile)
            return {"got": got, "length": len(got[0])}

        await executor.attach(create_server(client=client, functions=[echo]))
        run = await executor.run("echo", {"prefix": "a"})
        again = await executor.replay(run)
    assert len(executor.requests_for(run)) == 1  # the step was checkpointed
    assert run.output == {"got": ["a\ufffdb", "\x00", "é"], "length": 3}
    assert again.json() == run.output


async def test_offloaded_inference_ends_each_request_and_tools_are_checkpointed(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    workload = Workload(fake_provider, provider_url, 3, inference="offload")
    async with served(workload) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
        checkpoints = checkpoints_of(executor, run)
    # one request per inference (step.ai.infer ends it: only the server can run it),
    # its tool call checkpointed in the next
    assert [[op for op, _ in r.ops] for r in requests] == [["AIGateway"]] * 4 + [[]]
    assert [name for c in checkpoints for _, name in c.ops] == [
        "Worker#1/tool/bump",
        "Worker#1/tool/bump#2",
        "Worker#1/tool/bump#3",
    ]
    assert workload.exactly_once() and run.status == "completed"


async def test_the_sdk_lets_a_private_base_exception_through_step_run() -> None:
    """Checkpointing leaves ``step.run`` through a ``BaseException`` of its own once the
    server has the step. This pins the SDK behaviour it relies on: ``inngest``'s
    ``Step.run`` catches ``Exception`` and its own interrupts, nothing else."""

    class Leave(BaseException):
        pass

    async def body() -> str:
        raise Leave()

    async with LocalExecutor() as executor:
        client = executor.client("pin")

        @client.create_function(fn_id="pin", trigger=inngest.TriggerEvent(event="pin/go"))
        async def pin(ctx: inngest.Context) -> str:
            try:
                await ctx.step.run("leave", body)
            except Leave:
                return "passed through"
            return "swallowed"

        await executor.attach(create_server(client=client, functions=[pin]))
        run = await executor.run("pin", {})
    assert run.output == "passed through"
    assert len(executor.requests_for(run)) == 1 and run.memos == {}


async def test_sleep_and_invoke_end_the_request_and_the_steps_around_them_are_checkpointed() -> (
    None
):
    ran: collections.Counter[str] = collections.Counter()

    class Nothing(pydantic.BaseModel):
        pass

    async with LocalExecutor() as executor:
        client = executor.client("server-only")

        @create_function(client=client, fn_id="child", input=Nothing)
        async def child(ctx: inngest.Context, _: Nothing) -> str:
            return "child done"

        @create_function(client=client, fn_id="parent", input=Nothing, checkpointing=True)
        async def parent(ctx: inngest.Context, _: Nothing) -> list[Any]:
            async def once(label: str) -> str:
                ran[label] += 1
                return label

            first = await ctx.step.run("before", once, "before")
            await ctx.step.sleep("nap", 1)
            answer = await ctx.step.invoke("ask", function=child, data={})
            last = await ctx.step.run("after", once, "after")
            return [first, answer, last]

        await executor.attach(create_server(client=client, functions=[child, parent]))
        run = await executor.run("parent", {})
        requests = executor.requests_for(run)
    assert run.output == ["before", "child done", "after"] and ran == {"before": 1, "after": 1}
    assert [[op for op, _ in r.ops] for r in requests] == [["Sleep"], ["InvokeFunction"], []]
    assert [r.checkpoints for r in requests] == [1, 0, 1]


async def test_a_run_started_without_a_runner_in_a_checkpointed_function_is_checkpointed() -> None:
    """``network.run(input)`` in a ``create_function`` handler finds the function's
    (checkpointed) context: its steps are checkpointed in the one request."""
    ran: collections.Counter[str] = collections.Counter()

    @tool
    def note(n: int) -> str:
        """Write a note."""
        ran[f"note {n}"] += 1
        return "noted"

    model = ScriptedModel([tool_call("note", {"n": 1}, id="c1")])
    worker = create_agent(name="Worker", model=model, tools=[note])
    network = create_network(name="Own", agents=[worker], router=route_in_order(worker))

    class Ask(pydantic.BaseModel):
        input: str

    async with LocalExecutor() as executor:
        client = executor.client("own-run")

        @create_function(client=client, fn_id="own", input=Ask, checkpointing=True)
        async def own(ctx: inngest.Context, ask: Ask) -> Any:
            return await network.run(ask.input)  # no runner: the function's steps

        await executor.attach(create_server(client=client, functions=[own]))
        run = await executor.run("own", {"input": "go"})
        requests = executor.requests_for(run)
        checkpoints = checkpoints_of(executor, run)
    assert ran == {"note 1": 1}  # a network agent's call: one inference, then its tool
    assert run.output["results"][0]["tool_calls"][0]["content"] == "noted"
    assert len(requests) == 1 and [op for r in requests for op in r.ops] == []
    assert [name for c in checkpoints for _, name in c.ops] == [
        "Worker#1/infer",
        "Worker#1/tool/note",
    ]
