"""AgentKit docs, advanced-patterns/retries: the network in your own Inngest function,
with Inngest's retries and custom ones (``retries: 1``), as a porting user writes it."""

from __future__ import annotations

import collections
from typing import Any

import inngest

from agentkit_inngest import ToolContext, create_agent, create_network, route_in_order, tool
from agentkit_inngest.errors import RetriableProviderError
from agentkit_inngest.testing import FunctionModel, ModelCall, text, tool_call

from .porting_helpers import inngest_dev, serve_app, tool_results

RUN_EVENT = "deep-research-network/run"


def flaky_network(failures: int, effects: collections.Counter[str]) -> Any:
    """A network whose provider answers 503 ``failures`` times at the second inference."""
    seen: collections.Counter[str] = collections.Counter()

    @tool
    def search(query: str, ctx: ToolContext) -> str:
        """Search the web."""
        effects[query] += 1
        return f"results for {query}"

    def answer(call: ModelCall) -> Any:
        if not tool_results(call):
            return tool_call("search", {"query": "pgvector"})
        seen["second"] += 1
        if seen["second"] <= failures:
            return RetriableProviderError("503 from the provider", provider="test")
        return text("pgvector is fast")

    agent = create_agent(
        name="Deep Research Agent", model=FunctionModel(answer), tools=[search], max_iter=2
    )
    return create_network(name="Deep research", agents=[agent], router=route_in_order(agent))


async def test_inngest_retries_a_failed_inference_and_runs_the_tool_once() -> None:
    effects: collections.Counter[str] = collections.Counter()
    network = flaky_network(failures=2, effects=effects)
    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="deep-research-network", trigger=inngest.TriggerEvent(event=RUN_EVENT)
        )
        async def deep_research(ctx: inngest.Context) -> Any:
            return await network.run(ctx.event.data["input"])

        await serve_app(executor, client=client, functions=[deep_research])
        run = await executor.run("deep-research-network", {"input": "What is pgvector?"})
    assert run.output["output"] == "pgvector is fast"
    assert effects == {"pgvector": 1}  # the tool's step is memoized across the retries
    attempts = [r.attempt for r in executor.requests_for(run) if r.status is not None]
    assert max(attempts) == 2  # two failed attempts of the inference, then success


async def test_custom_retries_1_gives_up_after_two_attempts_and_says_so() -> None:
    effects: collections.Counter[str] = collections.Counter()
    network = flaky_network(failures=5, effects=effects)
    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="deep-research-network",
            trigger=inngest.TriggerEvent(event=RUN_EVENT),
            retries=1,  # TS: { id: "deep-research-network", retries: 1 }
        )
        async def deep_research(ctx: inngest.Context) -> Any:
            return await network.run(ctx.event.data["input"])

        await serve_app(executor, client=client, functions=[deep_research])
        run = await executor.run("deep-research-network", {"input": "q"}, check=False)
    assert run.status == "failed"
    # the runner the function found knows its retries: the error counts its attempts
    assert "gave up after 2 attempts" in run.error["message"]
    assert "Deep Research Agent#1/infer#2" in run.error["message"]
    assert effects == {"pgvector": 1}
