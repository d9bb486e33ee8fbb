"""AgentKit docs, advanced-patterns/multitenancy: the network run in your own Inngest
function, limited per user (issue 15 points 2, 3 and 10, as a porting user writes it).

The TypeScript page::

    const fn = inngest.createFunction(
      { id: "deep-research-network", concurrency: [{ key: "event.data.user_id", limit: 10 }] },
      { event: "deep-research-network/run" },
      async ({ event, step }) => { const { input } = event.data; return network.run(input); },
    );
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import inngest

from agentkit_inngest import (
    ToolContext,
    create_agent,
    create_network,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
)

from .event_data import as_str
from .porting_helpers import inngest_dev, serve_app, tool_results

RUN_EVENT = "deep-research-network/run"


def deep_research_network(effects: collections.Counter[str]) -> Any:
    @tool
    def search(query: str, ctx: ToolContext) -> str:
        """Search the web."""
        effects[query] += 1
        ctx.state.kv.set("searched", query)
        return f"results for {query}"

    model = ScriptedModel(
        [tool_call("search", {"query": "pgvector"}, id="call-1"), text("pgvector is fast")]
    )
    researcher = create_agent(name="Deep Research Agent", model=model, tools=[search], max_iter=2)
    return create_network(
        name="Deep research network", agents=[researcher], router=route_in_order(researcher)
    )


async def test_return_network_run_in_your_own_function_gives_network_function_json() -> None:
    effects: collections.Counter[str] = collections.Counter()
    network = deep_research_network(effects)
    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="deep-research-network", trigger=inngest.TriggerEvent(event=RUN_EVENT)
        )
        async def deep_research_network_function(ctx: inngest.Context) -> Any:
            input = ctx.event.data["input"]
            return await network.run(input)

        built = network_function(
            deep_research_network(effects), client=client, fn_id="reference-network"
        )
        await serve_app(executor, client=client, functions=[deep_research_network_function, built])
        own = await executor.run("deep-research-network", {"input": "What is pgvector?"})
        reference = await executor.run("reference-network", {"input": "What is pgvector?"})
    # the same JSON network_function returns, built from steps that ran once each
    assert own.output == reference.output
    assert own.output["output"] == "pgvector is fast"
    assert own.output["state"]["kv"] == {"searched": "pgvector"}
    assert executor.executed(own) == [
        "Deep Research Agent#1/infer",
        "Deep Research Agent#1/tool/search",
        "Deep Research Agent#1/infer#2",
    ]
    assert effects == {"pgvector": 2}  # one per run, however many requests replayed it


async def test_a_step_that_returns_an_agent_result_memoizes_its_json_and_calls_once() -> None:
    model = ScriptedModel([text("pgvector is fast")])
    summarizer = create_agent(name="Summarizer", model=model)
    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(fn_id="summarize", trigger=inngest.TriggerEvent(event=RUN_EVENT))
        async def summarize(ctx: inngest.Context) -> Any:
            # TS: const summary = await step.run("summarize", () => summarizer.run(input))
            async def call() -> Any:
                return await summarizer.run(as_str(ctx.event.data["input"]))

            summary = await ctx.step.run("summarize", call)
            return {"summary": summary["output"]}

        await serve_app(executor, client=client, functions=[summarize])
        run = await executor.run("summarize", {"input": "What is pgvector?"}, check=False)
    # before: the step's AgentResult was not JSON, so the step failed and was retried,
    # asking the model again on every attempt
    assert (run.status, run.output) == ("completed", {"summary": "pgvector is fast"})
    assert executor.executed(run) == ["summarize"]
    assert len(model.calls) == 1


async def test_an_unserializable_output_fails_once_saying_what_to_return() -> None:
    class Report:
        pass

    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="deep-research-network", trigger=inngest.TriggerEvent(event=RUN_EVENT)
        )
        async def returns_an_object(ctx: inngest.Context) -> Any:
            return {"report": Report()}

        await serve_app(executor, client=client, functions=[returns_an_object])
        run = await executor.run("deep-research-network", {"input": "q"}, check=False)
    assert run.status == "failed"
    assert "not JSON" in run.error["message"] and ".to_json()" in run.error["message"]
    assert len(executor.requests_for(run)) == 1  # not retried: retrying cannot help


async def test_concurrency_per_user_holds_each_user_to_the_limit() -> None:
    in_flight: collections.Counter[str] = collections.Counter()
    peak: collections.Counter[str] = collections.Counter()
    gate, four_running = asyncio.Event(), asyncio.Event()

    @tool
    async def search(query: str, ctx: ToolContext) -> str:
        """Search the user's documents."""
        user = ctx.state.kv.get("user_id")
        in_flight[user] += 1
        peak[user] = max(peak[user], in_flight[user])
        if sum(in_flight.values()) == 4:
            four_running.set()
        await gate.wait()
        in_flight[user] -= 1
        return "found"

    def answer(call: ModelCall) -> Any:
        return text("done") if tool_results(call) else tool_call("search", {"query": "q"})

    researcher = create_agent(
        name="Researcher", model=FunctionModel(answer), tools=[search], max_iter=2
    )
    network = create_network(
        name="Research", agents=[researcher], router=route_in_order(researcher)
    )

    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="deep-research-network",
            trigger=inngest.TriggerEvent(event=RUN_EVENT),
            concurrency=[inngest.Concurrency(key="event.data.user_id", limit=2)],
        )
        async def per_user(ctx: inngest.Context) -> Any:
            state = network.new_state()
            state.kv.set("user_id", ctx.event.data["user_id"])
            return await network.run(as_str(ctx.event.data["input"]), state=state)

        await serve_app(executor, client=client, functions=[per_user])
        runs = [
            executor.start("deep-research-network", {"input": "q", "user_id": user})
            for user in ["user-a"] * 5 + ["user-b"] * 3
        ]
        await asyncio.wait_for(four_running.wait(), 30)
        # the other four calls are held back by the limit, not on their way
        await asyncio.wait_for(executor.flow.wait_for(lambda flow: flow.waiting == 4), 30)
        assert dict(in_flight) == {"user-a": 2, "user-b": 2}
        gate.set()
        done = [await run.wait() for run in runs]
    assert {run.status for run in done} == {"completed"}
    assert {run.output["output"] for run in done} == {"done"}
    assert dict(peak) == {"user-a": 2, "user-b": 2}
    fn = "my-agentkit-network-deep-research-network"
    assert executor.flow.peak(f"{fn}:user-a") == 2 and executor.flow.peak(f"{fn}:user-b") == 2


async def test_throttle_per_user_delays_starts_first_in_first_out() -> None:
    from agentkit_inngest.testing.server_rules import ManualClock

    clock = ManualClock()
    async with LocalExecutor(clock=clock) as executor:
        client = executor.client("my-agentkit-network")
        import datetime

        @client.create_function(
            fn_id="deep-research-network",
            trigger=inngest.TriggerEvent(event=RUN_EVENT),
            throttle=inngest.Throttle(
                limit=1, period=datetime.timedelta(minutes=1), key="event.data.user_id"
            ),
        )
        async def throttled(ctx: inngest.Context) -> str:
            return str(ctx.event.data["user_id"])

        await serve_app(executor, client=client, functions=[throttled])
        runs = [
            executor.start("deep-research-network", {"user_id": user})
            for user in ["user-a", "user-a", "user-b", "user-a"]
        ]
        done = [await run.wait() for run in runs]
    assert [run.output for run in done] == ["user-a", "user-a", "user-b", "user-a"]
    delays = [(t.key.rsplit(":", 1)[-1], t.seconds) for t in executor.flow.throttled]
    assert delays == [("user-a", 60.0), ("user-a", 60.0)]  # user-b is not held back
