"""A multi-step tool: an Inngest function that an agent calls as a tool.

``research-web-tool`` is an ordinary Inngest function with three kinds of steps:

1. **generate-queries**: an inference turns the topic into search queries;
2. **crawl-web/N**: one step per query, run in parallel;
3. **summarize**: an inference condenses what the crawl found.

The "Deep Research Agent" gets it as a tool (``function_tool``): calling the tool
invokes the function (``step.invoke``), so each of its steps is retried on its own
and memoized, and the dev server shows it as a run of its own. With a real
provider both inferences are offloaded to Inngest (``step.ai.infer``): the Inngest
server makes the provider call, not your app.

Run it in plain Python (the function runs inline when the tool invokes it)::

    python examples/multi_step_tool.py "How do Postgres indexes work?"

Under the Inngest dev server::

    agentkit-inngest send agentkit-inngest/network-research-network \\
        --data '{"input": "How do Postgres indexes work?"}'
    agentkit-inngest send research-web-tool/run --data '{"input": "pgvector"}'

The "web" here is a small embedded corpus; replace ``crawl`` with your search API.
With ``OPENAI_API_KEY`` (or ``ANTHROPIC_API_KEY``) set it uses that provider;
otherwise an embedded offline model answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import inngest
import pydantic

from agentkit_inngest import (
    ConfigurationError,
    InlineRunner,
    InngestRunner,
    Invocation,
    Model,
    StepRunner,
    TextMessage,
    ToolResultMessage,
    create_agent,
    create_function,
    create_network,
    function_tool,
    infer,
    route_in_order,
)
from agentkit_inngest.models import anthropic, openai
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-inngest")
RESEARCH_EVENT = "research-web-tool/run"
MAX_QUERIES = 3

# -- "the web" (an embedded corpus standing in for a search API) ---------------------------

CORPUS = [
    {
        "url": "https://example.com/postgres/btree",
        "text": "Postgres B-tree indexes keep keys sorted, serving equality and range queries.",
    },
    {
        "url": "https://example.com/postgres/gin",
        "text": "GIN indexes map each element (word, array item, JSON key) to the rows with it.",
    },
    {
        "url": "https://example.com/postgres/pgvector",
        "text": "pgvector adds a vector type with HNSW and IVFFlat indexes for similarity search.",
    },
    {
        "url": "https://example.com/postgres/partial",
        "text": "Partial indexes cover only rows matching a WHERE clause, so they stay small.",
    },
]


def crawl(query: str) -> list[dict[str, str]]:
    """Pages whose text mentions a word of ``query``."""
    words = {w for w in re.findall(r"[a-z0-9-]+", query.lower()) if len(w) > 3}
    return [page for page in CORPUS if words & set(re.findall(r"[a-z0-9-]+", page["text"].lower()))]


# -- the models ----------------------------------------------------------------------------

QUERY_PROMPT = (
    f"You write web search queries. Answer with at most {MAX_QUERIES} short queries for the "
    "user's topic, one per line, nothing else."
)
SUMMARY_PROMPT = "Summarize what these pages say about the user's topic in two or three sentences."


_FILLER = {"how", "do", "does", "what", "is", "are", "the", "a", "an", "work", "of", "to"}


def _offline_research(call: ModelCall) -> Reply:
    """The research function's inferences: queries for a topic, then a summary."""
    prompt = call.messages[-1].content if isinstance(call.messages[-1], TextMessage) else ""
    if "search queries" in call.system:
        words = [w for w in re.findall(r"[a-z0-9-]+", prompt.lower()) if w not in _FILLER]
        base = " ".join(words[:4]) or prompt
        return text(f"{base}\n{base} internals\n{base} best practices")
    found = re.findall(r"^- (.*)$", prompt, re.M)
    return text(" ".join(found) if found else "The crawl found nothing on this topic.")


def _offline_agent(call: ModelCall) -> Reply:
    """The agent: research first, then answer from the research."""
    done = [m for m in call.messages if isinstance(m, ToolResultMessage)]
    if not done:
        users = [m for m in call.messages if isinstance(m, TextMessage) and m.role == "user"]
        return tool_call("research_web", {"input": users[-1].content})
    if done[-1].is_error:
        return text(f"The research failed: {done[-1].content_text()}")
    return text(f"Here is what I found: {done[-1].content['summary']}")


def pick_models() -> tuple[Model, Model, str]:
    """The agent's model and the research function's (offloaded to Inngest with a real
    provider), or the embedded offline models."""
    if os.environ.get("OPENAI_API_KEY"):
        return (
            openai("gpt-4o"),
            openai("gpt-4o-mini", inference="offload"),
            "OpenAI gpt-4o, research with gpt-4o-mini offloaded (OPENAI_API_KEY is set)",
        )
    if os.environ.get("ANTHROPIC_API_KEY"):
        params = {"max_tokens": 1000}
        return (
            anthropic("claude-3-5-haiku-latest", default_parameters=params),
            anthropic("claude-3-5-haiku-latest", default_parameters=params, inference="offload"),
            "Anthropic claude-3-5-haiku-latest, research offloaded (ANTHROPIC_API_KEY is set)",
        )
    return (
        FunctionModel(_offline_agent, model="offline-researcher"),
        FunctionModel(_offline_research, model="offline-research-tool"),
        "the embedded offline models (set OPENAI_API_KEY or ANTHROPIC_API_KEY for a real one)",
    )


model, research_model, model_description = pick_models()

# -- the research pipeline: one code path for plain Python and Inngest ---------------------


async def _ask(runner: StepRunner, step_id: str, system: str, prompt: str) -> str:
    # AgentKit's step.ai.infer: offloaded to the Inngest server when the model can be
    answer = await infer(step_id, model=research_model, system=system, prompt=prompt, runner=runner)
    return answer.text


async def research_web(topic: str, *, runner: StepRunner) -> dict[str, Any]:
    """Generate queries, crawl them in parallel steps, summarize."""
    listed = await _ask(runner, "generate-queries", QUERY_PROMPT, topic)
    queries = [q.strip(" -*0123456789.") for q in listed.splitlines() if q.strip()][:MAX_QUERIES]

    def crawl_step(number: int, query: str) -> Callable[[], Awaitable[list[dict[str, str]]]]:
        async def fetch() -> list[dict[str, str]]:
            return crawl(query)

        async def step() -> list[dict[str, str]]:
            pages: list[dict[str, str]] = await runner.run(f"crawl-web/{number}", fetch)
            return pages

        return step

    crawls = [crawl_step(number, query) for number, query in enumerate(queries, 1)]
    found = await runner.parallel(crawls)
    pages = {page["url"]: page for batch in found for page in batch}
    listing = "\n".join(f"- {page['text']}" for page in pages.values())
    summary = await _ask(runner, "summarize", SUMMARY_PROMPT, f"{topic}\n\nPages:\n{listing}")
    return {"summary": summary, "queries": queries, "sources": list(pages)}


class ResearchRequest(pydantic.BaseModel):
    input: str = pydantic.Field(min_length=1, description="The topic or question to research")


inngest_client = inngest.Inngest(app_id=APP_ID)


@create_function(
    client=inngest_client,
    fn_id="research-web-tool",
    name="Research the web",
    input=ResearchRequest,
    trigger=inngest.TriggerEvent(event=RESEARCH_EVENT),
)
async def research_web_tool(ctx: inngest.Context, request: ResearchRequest) -> dict[str, Any]:
    """Research a topic on the web; returns a summary, the queries and the sources."""
    return await research_web(request.input, runner=InngestRunner(ctx))


# -- the agent and its network ------------------------------------------------------------

research_agent = create_agent(
    name="Deep Research Agent",
    description="Researches a topic and answers from what it found",
    system=(
        "You are a researcher. Call research_web with the user's topic, then answer the user "
        "from its summary and cite the sources."
    ),
    model=model,
    tools=[function_tool(research_web_tool, name="research_web")],
    max_iter=2,
)

network = create_network(
    name="Research network",
    description="One research agent with a multi-step research tool",
    agents=[research_agent],
    router=route_in_order(research_agent),
)

# -- plain Python --------------------------------------------------------------------------


async def run_inline(invocation: Invocation) -> Any:
    """Run an invoked function in this process (the plain-Python stand-in for ``step.invoke``)."""
    if invocation.function_id != research_web_tool.local_id:
        raise ConfigurationError(f"no function {invocation.function_id!r} to run inline")
    request = ResearchRequest.model_validate(dict(invocation.data))
    return await research_web(request.input, runner=InlineRunner())


def inline_runner() -> InlineRunner:
    """A plain-Python runner that can run the research function when the tool invokes it."""
    return InlineRunner(on_invoke=run_inline)


def main(argv: list[str]) -> int:
    topic = " ".join(argv) or "How do Postgres indexes work?"
    print(f"Model: {model_description}\n")
    print(f"Topic: {topic}\n")
    run = asyncio.run(network.run(topic, runner=inline_runner()))
    research = run.results[0].tool_calls[0].content if run.results[0].tool_calls else {}
    if isinstance(research, dict) and "queries" in research:
        print(f"Queries: {research['queries']}")
        print(f"Sources: {research['sources']}\n")
    print(f"Answer:\n  {run.output}")
    print(f"\nTokens (agent): {run.usage.input_tokens} in, {run.usage.output_tokens} out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
