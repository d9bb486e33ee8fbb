"""AgentKit docs, guided tour (ai-workflows, agentic-workflows, ai-agents): the Code
Assistant v1 (one agent), v2 (a network on kv state with a code router) and v3
(tools and a routing agent that picks the next agent with a tool), ported."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    Agent,
    AgentResult,
    Lifecycle,
    NetworkRun,
    TextMessage,
    ToolContext,
    create_agent,
    create_network,
    create_routing_agent,
    create_server,
    create_tool,
    tool,
)
from agentkit_inngest.models import anthropic
from agentkit_inngest.testing import FunctionModel, ModelCall, ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .porting_helpers import inngest_dev, point_providers_at, tool_results

EXAMPLE_TS = "export function add(a, b) { return a + b }\n"  # TS: readFileSync(...)


async def test_v1_one_agent_answers_about_a_file(
    fake_provider: FakeProvider, provider_url: str, monkeypatch: Any
) -> None:
    point_providers_at(monkeypatch, provider_url)
    code_assistant = create_agent(
        name="code_assistant",
        system="An AI assistant that helps answer questions about code files.",
        # TS (pre-0.4): anthropic({ model, max_tokens: 4096 }): max_tokens is a parameter
        model=anthropic("claude-3-5-sonnet-latest", default_parameters={"max_tokens": 4096}),
    )
    fake_provider.reply(text("It adds two numbers."))
    prompt = f"Please explain this code:\n\n{EXAMPLE_TS}"
    output = (await code_assistant.run(prompt)).output
    last_message = output[-1]
    # TS: const { lastMessage } = ...; lastMessage({ type: "text" }).content
    content = last_message.content if isinstance(last_message, TextMessage) else ""
    assert content == "It adds two numbers."
    assert fake_provider.bodies("anthropic")[0]["max_tokens"] == 4096


# -- v2: agentic workflows ------------------------------------------------------------------


@tool
def save_suggestions(suggestions: list[str], ctx: ToolContext) -> str:
    """Save the suggestions made by other agents into the state."""
    saved = ctx.network.state.kv.get("suggestions") or []
    ctx.network.state.kv.set("suggestions", [*saved, *suggestions])
    return "Suggestions saved!"


@tool
def read_file(filename: str, ctx: ToolContext) -> str:
    """Read a file from the project."""
    ctx.network.state.kv.set("code", EXAMPLE_TS)
    return EXAMPLE_TS


@tool
def generate_plan(plan: list[str], ctx: ToolContext) -> str:
    """Generate the plan: the names of the agents to run, in order."""
    ctx.network.state.kv.set("plan", plan)
    return "Plan generated!"


@tool
def save_summary(summary: str, ctx: ToolContext) -> str:
    """Save a summary of the suggestions."""
    ctx.network.state.kv.set("summary", summary)
    return "Saved!"


def v2_model(call: ModelCall) -> Any:
    done = [r.name for r in tool_results(call)]
    if call.system.startswith("An AI assistant that"):
        if "read_file" not in done:
            return tool_call("read_file", {"filename": "files/example.ts"})
        if "generate_plan" not in done:
            return tool_call("generate_plan", {"plan": ["documentation_agent", "analysis_agent"]})
        return text("Planned.")
    if call.system.startswith("You are an expert"):
        kind = "docs" if "documentation" in call.system else "analysis"
        return tool_call("save_suggestions", {"suggestions": [f"{kind} suggestion"]})
    return tool_call("save_summary", {"summary": "Two suggestions."})


def code_assistant_system(*, network: NetworkRun) -> str:
    # TS: ({ network }) => agents except the assistant and the summarizer, with their system
    agents = []
    for a in network.agents.values():
        assert isinstance(a, Agent)  # NetworkRun.agents types its values as AgentView: no system
        if a.name not in ("code_assistant_agent", "summarization_agent"):
            agents.append(f"{a.name}: {a.system}")
    return "An AI assistant that plans which agents review a file. Agents:\n" + "\n".join(agents)


def v2_network(model: Any) -> Any:
    documentation_agent = create_agent(
        name="documentation_agent",
        system="You are an expert at generating documentation for code.",
        tools=[save_suggestions],
    )
    analysis_agent = create_agent(
        name="analysis_agent",
        system="You are an expert at analyzing code and suggesting improvements.",
        tools=[save_suggestions],
    )
    code_assistant_agent = create_agent(
        name="code_assistant_agent",
        system=code_assistant_system,
        tools=[read_file, generate_plan],
        max_iter=3,
    )
    summarization_agent = create_agent(
        name="summarization_agent",
        system=lambda *, network: (
            "Summarize: " + "; ".join(network.state.kv.get("suggestions") or [])
        ),
        tools=[save_summary],
    )

    def router(*, network: NetworkRun) -> Any:
        # TS: the code assistant until code and plan exist; then pop the plan; then summarize
        kv = network.state.kv
        if not kv.has("code") or not kv.has("plan"):
            return network.agents["code_assistant_agent"]
        plan = list(kv.get("plan"))
        if plan:
            name = plan.pop(0)
            kv.set("plan", plan)
            return network.agents[name]
        if not kv.has("summary"):
            return network.agents["summarization_agent"]
        return None

    return create_network(
        name="code-assistant-v2",
        agents=[code_assistant_agent, documentation_agent, analysis_agent, summarization_agent],
        default_model=model,
        router=router,
    )


async def test_v2_the_network_plans_reviews_and_summarizes_on_kv_state() -> None:
    network = v2_network(FunctionModel(v2_model))
    # TS: const { state: { kv } } = await network.run("Analyze the files/example.ts file ...")
    kv = (
        await network.run("Analyze the files/example.ts file by suggesting improvements")
    ).state.kv
    assert kv.get("summary") == "Two suggestions."
    assert kv.get("suggestions") == ["docs suggestion", "analysis suggestion"]


async def test_v2_the_router_that_changes_kv_replays_identically() -> None:
    network = v2_network(FunctionModel(v2_model))
    async with inngest_dev("tour-app") as (executor, client):
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-code-assistant-v2", {"input": "Analyze example.ts"})
    assert run.output["state"]["kv"]["summary"] == "Two suggestions."
    assert [r["agent_name"] for r in run.output["results"]] == [
        "code_assistant_agent",
        "documentation_agent",
        "analysis_agent",
        "summarization_agent",
    ]


# -- v3: agents with tools and a routing agent ----------------------------------------------

FILES: dict[str, str] = {"src/add.ts": EXAMPLE_TS}


@tool
def write_file_tool(path: str, content: str) -> str:
    """Write a file."""
    FILES[path] = content
    return "File written"


@tool
def read_file_tool(path: str) -> str:
    """Read a file."""
    if path not in FILES:
        raise FileNotFoundError(f"File {path} not found")  # TS: throw new Error(...)
    return FILES[path]


@tool
def search_code(query: str) -> list[str]:
    """Search the code for a query."""
    return [path for path, content in FILES.items() if query in content]


class SelectAgent(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")  # TS: z.object({ name }).strict()
    name: str = pydantic.Field(description="The name of the agent, or 'finished'")


def select_agent(params: SelectAgent, ctx: ToolContext) -> str | None:
    if params.name == "finished":
        return None
    if params.name not in ctx.network.agents:
        raise ValueError(f"Agent {params.name} not found")
    return params.name


async def router_system(*, network: NetworkRun) -> str:
    available = await network.available_agents()  # TS: await network.availableAgents()
    return "Pick the next agent: " + ", ".join(a.name for a in available)


def on_route(*, result: AgentResult) -> list[str] | None:
    # TS: const tool = result.toolCalls[0]; const agentName = tool.content.data ...
    if not result.tool_calls or result.tool_calls[0].is_error:
        return None
    name = result.tool_calls[0].content
    return [name] if isinstance(name, str) else None


async def test_v3_a_routing_agent_selects_agents_with_a_tool() -> None:
    planner = create_agent(
        name="planner",
        description="Plans the changes",
        tools=[search_code],
        model=ScriptedModel([tool_call("search_code", {"query": "add"}), text("Edit add.ts.")]),
        max_iter=2,
    )
    editor = create_agent(
        name="editor",
        description="Edits files",
        tools=[write_file_tool, read_file_tool],
        model=ScriptedModel(
            [
                tool_call("read_file_tool", {"path": "src/missing.ts"}),  # an Error: to the model
                tool_call("write_file_tool", {"path": "src/add.ts", "content": "// typed"}),
                text("Done."),
            ]
        ),
        max_iter=3,
    )
    routing_agent = create_routing_agent(
        name="Code Assistant routing agent",
        system=router_system,
        tools=[create_tool(name="select_agent", parameters=SelectAgent, handler=select_agent)],
        tool_choice="select_agent",
        lifecycle=Lifecycle(on_route=on_route),
        model=ScriptedModel(
            [
                tool_call("select_agent", {"name": "planner"}),
                tool_call("select_agent", {"name": "editor"}),
                tool_call("select_agent", {"name": "finished"}),
            ]
        ),
    )
    network = create_network(
        name="code-assistant-v3", agents=[planner, editor], router=routing_agent
    )
    run = await network.run("Add types to add.ts")
    assert [r.agent_name for r in run.results] == ["planner", "editor"]
    assert run.results[1].tool_calls[0].is_error
    assert "File src/missing.ts not found" in str(run.results[1].tool_calls[0].content)
    assert FILES["src/add.ts"] == "// typed"
    assert isinstance(routing_agent.model, ScriptedModel)
    assert routing_agent.model.calls[0].system == "Pick the next agent: planner, editor"


def test_v3_a_strict_select_agent_refuses_extra_fields() -> None:
    tool = create_tool(name="select_agent", parameters=SelectAgent, handler=select_agent)
    with pytest.raises(pydantic.ValidationError):
        tool.validate({"name": "planner", "extra": 1})
