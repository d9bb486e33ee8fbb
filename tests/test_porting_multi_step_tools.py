"""AgentKit docs, advanced-patterns/multi-steps-tools: an Inngest function with
``step.ai.infer`` and parallel ``step.run`` calls, used by an agent as a tool
(issue 15 point 11: a typed helper for ``step.ai.infer`` in your own function)."""

from __future__ import annotations

import functools
from typing import Any

import inngest
import pydantic
import pytest

from agentkit_inngest import (
    InferResult,
    InlineRunner,
    create_agent,
    create_function,
    create_network,
    create_server,
    function_tool,
    infer,
    route_in_order,
)
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.models import openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .message_helpers import content
from .porting_helpers import inngest_dev, point_providers_at

CORPUS = {"pgvector": "pgvector adds HNSW indexes", "pg index": "B-tree indexes sort keys"}


class ResearchInput(pydantic.BaseModel):
    input: str


async def crawl(query: str) -> list[str]:
    return [page for key, page in CORPUS.items() if key in query]


def research_function(client: inngest.Inngest) -> Any:
    @create_function(
        client=client,
        fn_id="research-web-tool",
        input=ResearchInput,
        trigger=inngest.TriggerEvent(event="research-web-tool/run"),
    )
    async def research_web_tool(ctx: inngest.Context, request: ResearchInput) -> dict[str, Any]:
        """Search the web for information."""
        # TS: await step.ai.infer('generate-search-queries', { model: step.ai.models.openai(...) })
        search_queries: InferResult = await infer(
            "generate-search-queries",
            model=openai("gpt-4o"),
            system="You are a helpful assistant that generates search queries. One per line.",
            prompt=f"Generate search queries to find information about: {request.input}",
        )
        queries = search_queries.text.splitlines()
        # TS: await Promise.all(queries.map((query) => step.run('crawl-web', ...)))
        crawls = await ctx.group.parallel(
            tuple(functools.partial(ctx.step.run, "crawl-web", crawl, query) for query in queries)
        )
        pages = [page for found in crawls for page in found]
        summary = await infer(
            "summarize-search-results",
            model=openai("gpt-4o"),
            system="Summarize the search results.",
            prompt="\n".join(pages),
        )
        return {"summary": summary.text, "queries": queries}

    return research_web_tool


@pytest.fixture
def gpt(fake_provider: FakeProvider, provider_url: str, monkeypatch: Any) -> FakeProvider:
    point_providers_at(monkeypatch, provider_url)
    return fake_provider


async def test_the_research_function_offloads_both_inferences_and_crawls_in_parallel(
    gpt: FakeProvider,
) -> None:
    gpt.reply(text("pgvector\npg index"), text("Postgres has HNSW and B-tree indexes."))
    async with inngest_dev("research-app") as (executor, client):
        research = research_function(client)
        await executor.attach(create_server(client=client, functions=[research]))
        run = await executor.run("research-web-tool", {"input": "Postgres indexes"})
    assert run.output == {
        "summary": "Postgres has HNSW and B-tree indexes.",
        "queries": ["pgvector", "pg index"],
    }
    # the Inngest server (the executor) made both model calls: step.ai.infer
    agents = [r.headers.get("user-agent", "") for r in gpt.requests]
    assert len(agents) == 2 and all(a.startswith("python-httpx") for a in agents)
    assert gpt.bodies("openai")[1]["messages"][-1]["content"] == (
        "pgvector adds HNSW indexes\nB-tree indexes sort keys"
    )
    assert executor.executed(run) == ["crawl-web", "crawl-web"]


async def test_the_function_is_an_agents_tool_in_a_network(gpt: FakeProvider) -> None:
    gpt.reply(text("pgvector"), text("pgvector indexes vectors."))
    agent_model = ScriptedModel(
        [tool_call("research-web-tool", {"input": "pgvector"}), text("It indexes vectors.")]
    )
    async with inngest_dev("research-app") as (executor, client):
        research = research_function(client)
        deep_research_agent = create_agent(
            name="Deep Research Agent",
            description="A deep research agent that can search the web",
            system="Use research-web-tool to research, then answer.",
            tools=[function_tool(research)],  # TS: tools: [researchWebTool]
            max_iter=2,
        )
        network = create_network(
            name="Deep Research Network",
            agents=[deep_research_agent],
            default_model=agent_model,
            router=route_in_order(deep_research_agent),
        )
        # TS: createServer({ networks: [network], functions: [researchWebTool] })
        await executor.attach(
            create_server(client=client, networks=[network], functions=[research])
        )
        run = await executor.run("network-deep-research-network", {"input": "pgvector?"})
    assert run.output["output"] == "It indexes vectors."
    result = run.output["results"][0]["tool_calls"][0]
    assert result["content"] == {"summary": "pgvector indexes vectors.", "queries": ["pgvector"]}


async def test_infer_runs_inline_in_plain_python_and_says_what_is_missing() -> None:
    model = ScriptedModel([text("one\ntwo")])
    answer = await infer("queries", model=model, prompt="Postgres", runner=InlineRunner())
    assert answer.text == "one\ntwo" and answer.usage.output_tokens == 5
    assert content(model.calls[0].messages[-1]) == "Postgres"
    with pytest.raises(ConfigurationError, match="give prompt=, system= or messages="):
        await infer("empty", model=model)
    with pytest.raises(ConfigurationError, match="cannot offload"):
        await infer("forced", model=model, prompt="x", offload=True)
