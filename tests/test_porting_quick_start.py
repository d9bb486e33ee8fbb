"""AgentKit docs, getting-started (quick-start, local-development) and overview: the
DevOps team of the quick start, served on its own and as a network (issue 15
point 6: standalone agents with typed state), as a porting user writes it."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    create_tool,
    default_routing_agent,
)
from agentkit_inngest.models import anthropic, openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .porting_helpers import inngest_dev, point_providers_at


class NetworkState(pydantic.BaseModel):  # TS: interface NetworkState { ... }
    dba_agent_answer: str | None = None
    security_agent_answer: str | None = None


class Answer(pydantic.BaseModel):
    answer: str = pydantic.Field(description="The answer to the questions")


def save_answer_tool(field: str) -> Any:
    def handler(params: Answer, ctx: ToolContext) -> None:
        # TS: network.state.data.dba_agent_answer = answer;
        setattr(ctx.network.state.data, field, params.answer)

    return create_tool(
        name="save_answer",
        description="Save the answer to the questions",
        parameters=Answer,
        handler=handler,
    )


def devops_team() -> tuple[Any, Any, Any]:
    dba_agent = create_agent(
        name="Database administrator",
        description="Provides expert support for managing PostgreSQL databases",
        system="You are a PostgreSQL expert database administrator. Save your answer.",
        model=anthropic("claude-3-5-haiku-latest", default_parameters={"max_tokens": 4096}),
        tools=[save_answer_tool("dba_agent_answer")],
        default_state=State(NetworkState()),  # point 6: its typed state when served alone
    )
    security_agent = create_agent(
        name="Database Security Expert",
        description="Provides expert guidance on PostgreSQL security",
        system="You are a PostgreSQL security expert. Save your answer.",
        model=anthropic("claude-3-5-haiku-latest", default_parameters={"max_tokens": 4096}),
        tools=[save_answer_tool("security_agent_answer")],
        default_state=State(NetworkState()),
    )

    def router(*, network: NetworkRun) -> Any:  # TS: router: async ({ network }) => ...
        if network.state.data.security_agent_answer is None:
            return security_agent
        if network.state.data.dba_agent_answer is None:
            return dba_agent
        return None

    dev_ops_network = create_network(
        name="DevOps team",
        agents=[dba_agent, security_agent],
        router=router,
        default_state=State(NetworkState()),
    )
    return dba_agent, security_agent, dev_ops_network


@pytest.fixture
def claude(fake_provider: FakeProvider, provider_url: str, monkeypatch: Any) -> FakeProvider:
    point_providers_at(monkeypatch, provider_url)
    return fake_provider


async def test_the_dba_agent_sends_the_quick_start_parameters(claude: FakeProvider) -> None:
    dba_agent, _, _ = devops_team()
    claude.reply(tool_call("save_answer", {"answer": "Add read replicas"}), text("Saved."))
    result = await dba_agent.run("How do I scale Postgres?", max_iter=2)
    assert result.text == "Saved."
    body = claude.bodies("anthropic")[0]
    assert body["model"] == "claude-3-5-haiku-latest" and body["max_tokens"] == 4096
    assert "PostgreSQL expert" in str(body["system"])


async def test_the_quick_start_agents_are_served_on_their_own_with_typed_state(
    claude: FakeProvider,
) -> None:
    dba_agent, security_agent, network = devops_team()
    claude.reply(tool_call("save_answer", {"answer": "Use PgBouncer"}))
    async with inngest_dev("agent-kit") as (executor, client):
        # TS: createServer({ agents: [dbaAgent, securityAgent], networks: [devOpsNetwork] })
        server = create_server(
            client=client, agents=[dba_agent, security_agent], networks=[network]
        )
        await executor.attach(server)
        run = await executor.run(
            "agent-database-administrator", {"input": "How do I scale Postgres?"}
        )
    assert run.output["state"]["data"] == {
        "dba_agent_answer": "Use PgBouncer",
        "security_agent_answer": None,
    }
    assert run.output["result"]["tool_calls"][0]["is_error"] is False
    assert sorted(executor.functions) == [
        "agent-kit-agent-database-administrator",
        "agent-kit-agent-database-security-expert",
        "agent-kit-network-devops-team",
    ]


async def test_the_devops_network_routes_on_typed_state_durably(claude: FakeProvider) -> None:
    _, _, network = devops_team()
    claude.reply(  # one inference per agent call (max_iter 1, TS's default too)
        tool_call("save_answer", {"answer": "Enable RLS"}),
        tool_call("save_answer", {"answer": "Add replicas"}),
    )
    async with inngest_dev("agent-kit") as (executor, client):
        await executor.attach(create_server(client=client, networks=[network]))
        # TS: the dev server's "Invoke" with { "data": { "input": "..." } }
        await executor.send(
            {"name": "agent-kit/network-devops-team", "data": {"input": "Scale Postgres"}}
        )
        (run,) = executor.runs.values()
        done = await run.wait()
    assert done.status == "completed", done.error
    assert done.output["state"]["data"] == {
        "dba_agent_answer": "Add replicas",
        "security_agent_answer": "Enable RLS",
    }
    assert [r["agent_name"] for r in done.output["results"]] == [
        "Database Security Expert",
        "Database administrator",
    ]


async def test_local_development_serves_my_network_by_its_event() -> None:
    network = create_network(
        name="My Network",
        agents=[create_agent(name="Helper", model=ScriptedModel([text("hello")]))],
        default_model=ScriptedModel(
            [tool_call("select_agent", {"name": "Helper"}), tool_call("done")]
        ),
    )
    async with inngest_dev("agentkit") as (executor, client):
        await executor.attach(create_server(client=client, networks=[network]))
        await executor.send({"name": "agentkit/network-my-network", "data": {"input": "hi"}})
        (run,) = executor.runs.values()
        done = await run.wait()
    assert done.output["output"] == "hello"


async def test_the_overview_network_runs_with_the_default_routing_agent(
    claude: FakeProvider,
) -> None:
    search_agent = create_agent(name="Search", description="Searches the web", tools=[])
    summary_agent = create_agent(
        name="Summarizer", description="Summarizes", model=openai("gpt-3.5-turbo")
    )
    network = create_network(
        name="Overview", agents=[search_agent, summary_agent], default_model=openai("gpt-4o")
    )
    claude.reply(
        tool_call("select_agent", {"name": "Search"}),  # the default routing agent
        text("Found three articles."),  # Search, on the network's default model
        tool_call("select_agent", {"name": "Summarizer"}),
        text("In short: ..."),  # Summarizer, on its own model
        tool_call("done", {}),
    )
    # TS: network.run(input, ({ network }) => defaultRoutingAgent)
    run = await network.run("What happened?", router=lambda *, network: default_routing_agent())
    assert [r.agent_name for r in run.results] == ["Search", "Summarizer"]
    assert [b["model"] for b in claude.bodies("openai")] == [
        "gpt-4o",
        "gpt-4o",
        "gpt-4o",
        "gpt-3.5-turbo",
        "gpt-4o",
    ]
