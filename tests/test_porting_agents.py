"""AgentKit docs, concepts/agents: creating and running agents, tools, lifecycle hooks
and system prompts, as a porting user writes them (including hooks and prompts that
take only the keyword arguments they use, as TypeScript destructures them)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    Lifecycle,
    StartResult,
    State,
    TextMessage,
    ToolContext,
    create_agent,
    create_network,
    create_tool,
    default_routing_agent,
)
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.models import openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .message_helpers import content
from .porting_helpers import point_providers_at


@pytest.fixture
def gpt(fake_provider: FakeProvider, provider_url: str, monkeypatch: Any) -> FakeProvider:
    point_providers_at(monkeypatch, provider_url)
    return fake_provider


def code_writer() -> Any:
    return create_agent(
        name="Code writer",
        system=(
            "You are an expert TypeScript programmer. Given a set of asks, you think "
            "step-by-step to plan clean, idiomatic TypeScript code."
        ),
        model=openai("gpt-4o-mini"),
    )


async def test_create_and_run_an_agent(gpt: FakeProvider) -> None:
    gpt.reply(text("```ts\nexport const add = (a: number, b: number) => a + b;\n```"))
    # TS: const { output } = codeWriterAgent.run('Write a typescript function ...')
    output = (await code_writer().run("Write a typescript function that adds two numbers")).output
    assert isinstance(output[0], TextMessage) and "export const add" in output[0].content
    sent = gpt.bodies("openai")[0]
    assert sent["model"] == "gpt-4o-mini"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


class Charge(pydantic.BaseModel):
    user_id: str


class ListCharges(pydantic.BaseModel):
    # TS's parameters are a top-level z.array(...): providers take an object, so the
    # list is its one field
    charges: list[Charge]


async def test_a_tool_gets_the_agent_and_the_network_and_no_step_inside_a_step() -> None:
    seen: dict[str, Any] = {}

    async def list_charges(output: ListCharges, ctx: ToolContext) -> list[dict[str, Any]]:
        # TS: handler: async (output, { network, agent, step }) => ...
        seen["agent"], seen["network"] = ctx.agent.name, ctx.network.name
        # TS's step?.run(...) inside a tool: this tool already is a step, and says so
        with pytest.raises(ConfigurationError, match="uses_steps=True"):
            await ctx.step.run("nested", lambda: None)
        return [{"user_id": c.user_id, "amount": 10} for c in output.charges]

    list_charges_tool = create_tool(
        name="list_charges",
        description="Returns all of a user's charges. Call this whenever you need to find "
        "one or more charges between a date range.",
        parameters=ListCharges,
        handler=list_charges,
    )
    agent = create_agent(
        name="Stripe agent",
        model=ScriptedModel(
            [tool_call("list_charges", {"charges": [{"user_id": "u1"}]}), text("One charge.")]
        ),
        tools=[list_charges_tool],
        max_iter=2,
    )
    result = await agent.run("List u1's charges")
    assert result.tool_calls[0].content == [{"user_id": "u1", "amount": 10}]
    assert seen == {"agent": "Stripe agent", "network": "standalone"}


async def test_on_start_hooks_take_only_the_keywords_they_use() -> None:
    async def on_start(*, prompt: list[Any], network: Any, history: list[Any]) -> StartResult:
        # TS: onStart: async ({ prompt, network: { state }, history }) => ({ prompt, history })
        files = network.state.data.get("files", [])
        prompt = [*prompt, TextMessage(role="user", content=f"Files: {', '.join(files)}")]
        return StartResult(prompt=prompt, history=history)

    model = ScriptedModel([text("done")])
    agent = create_agent(name="Coder", model=model, lifecycle=Lifecycle(on_start=on_start))
    await agent.run("Refactor", state=State({"files": ["a.ts", "b.ts"]}))
    assert [content(m) for m in model.calls[0].messages] == ["Files: a.ts, b.ts", "Refactor"]

    finished: list[str] = []
    agent = agent.replace(
        model=ScriptedModel([text("done")]),
        lifecycle=Lifecycle(on_finish=lambda *, result: finished.append(result.text)),
    )
    await agent.run("again")
    assert finished == ["done"]


async def test_a_system_prompt_function_takes_the_network_as_a_keyword() -> None:
    class AgentState(pydantic.BaseModel):
        files: list[str] = []

    async def system(*, network: Any) -> str:
        # TS: system: async ({ network }) => { const files = network?.state.data.files ... }
        files = network.state.data.files
        return f"You are a code editor. The files are: {', '.join(files)}"

    model = ScriptedModel([text("ok"), text("ok"), text("ok")])
    agent = create_agent(name="Editor", model=model, system=system)
    await agent.run("go", state=State(AgentState(files=["a.ts"])))
    # a positional parameter keeps working, as does a prompt that needs nothing
    await agent.replace(system=lambda run: f"run {run.name}").run("go")
    await agent.replace(system=lambda: "plain").run("go")
    assert [call.system for call in model.calls] == [
        "You are a code editor. The files are: a.ts",
        "run standalone",
        "plain",
    ]


def test_a_system_prompt_asking_for_something_else_is_refused_by_name() -> None:
    def system(*, state: Any) -> str:
        return "?"

    agent = create_agent(name="Editor", model=ScriptedModel([text("ok")]), system=system)
    with pytest.raises(ConfigurationError, match="parameter 'state' is not 'network'"):
        agent.run_sync("go")


async def test_static_system_prompt_and_description_reach_the_models() -> None:
    copy_editor = create_agent(
        name="Copy editor",
        description="An expert copy editor that checks grammar and tone",
        system="You are an expert copy editor. Given a draft article, you provide actionable "
        "improvements for spelling, grammar, punctuation, and formatting.",
        model=ScriptedModel([text("Fixed.")]),
    )
    router_model = ScriptedModel(
        [tool_call("select_agent", {"name": "Copy editor"}), tool_call("done")]
    )
    network = create_network(
        name="Editing", agents=[copy_editor], router=default_routing_agent(model=router_model)
    )
    run = await network.run("Edit my draft")
    assert run.output == "Fixed."
    assert "An expert copy editor that checks grammar and tone" in router_model.calls[0].system
    assert isinstance(copy_editor.model, ScriptedModel)
    assert copy_editor.model.calls[0].system.startswith("You are an expert copy editor.")
