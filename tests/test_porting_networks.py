"""AgentKit docs, concepts/networks: networks, their models, routers, limits and
default state, as a porting user writes them."""

from __future__ import annotations

from typing import Any

import pytest

from agentkit_inngest import (
    AgentResult,
    State,
    TextMessage,
    create_agent,
    create_network,
)
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.models import anthropic, openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .porting_helpers import point_providers_at


@pytest.fixture
def providers(fake_provider: FakeProvider, provider_url: str, monkeypatch: Any) -> FakeProvider:
    point_providers_at(monkeypatch, provider_url)
    return fake_provider


def search_and_summary(summary_model: Any = None) -> tuple[Any, Any]:
    search_agent = create_agent(
        name="Search", description="Searches the web", system="You search the web."
    )
    summary_agent = create_agent(
        name="Summary", description="Summarizes", system="You summarize.", model=summary_model
    )
    return search_agent, summary_agent


async def test_a_network_runs_on_its_default_model(providers: FakeProvider) -> None:
    search_agent, summary_agent = search_and_summary()
    network = create_network(  # TS: createNetwork({ agents, defaultModel }); Python names it
        name="Super Bowl", agents=[search_agent, summary_agent], default_model=openai("gpt-4o")
    )
    providers.reply(
        tool_call("select_agent", {"name": "Search"}),
        text("The Chiefs won."),
        tool_call("done", {}),
    )
    run = await network.run("What happened in the 2024 Super Bowl?")
    assert run.output == "The Chiefs won."
    assert {b["model"] for b in providers.bodies("openai")} == {"gpt-4o"}


def test_a_network_without_models_fails_before_any_call() -> None:
    search_agent, summary_agent = search_and_summary()
    network = create_network(name="No model", agents=[search_agent, summary_agent])
    with pytest.raises(ConfigurationError, match="default_model"):
        network.run_sync("q")
    with pytest.raises(TypeError):
        create_network(agents=[search_agent])  # type: ignore[call-arg]  # a name is required


async def test_agents_keep_their_own_model(providers: FakeProvider) -> None:
    search_agent, summary_agent = search_and_summary(anthropic("claude-3-5-sonnet"))
    network = create_network(
        name="Two models",
        agents=[search_agent, summary_agent],
        default_model=openai("gpt-4o"),
        router=lambda *, call_count: (
            [search_agent, summary_agent][call_count] if call_count < 2 else None
        ),
    )
    providers.reply(text("Found it."), text("Summary."))
    run = await network.run("q")
    assert [r.agent_name for r in run.results] == ["Search", "Summary"]
    assert [r.provider for r in providers.requests] == ["openai", "anthropic"]
    assert providers.bodies("anthropic")[0]["model"] == "claude-3-5-sonnet"


async def test_a_function_router_on_call_count_and_the_last_result() -> None:
    classifier = create_agent(name="Classifier", model=ScriptedModel([text("a question")]))
    writer = create_agent(name="Writer", model=ScriptedModel([text("An answer.")]))

    def router(*, last_result: AgentResult | None, call_count: int) -> Any:
        # TS: router: ({ lastResult, callCount }) => { ... }
        if call_count == 0:
            return classifier
        if call_count == 1 and last_result is not None and last_result.output:
            last_message = last_result.output[-1]
            if isinstance(last_message, TextMessage) and "question" in last_message.content:
                return writer
        return None

    network = create_network(name="Router", agents=[classifier, writer], router=router)
    run = await network.run("Tell me about the weather")
    assert [r.agent_name for r in run.results] == ["Classifier", "Writer"]


async def test_max_iter_caps_agent_calls() -> None:
    looper = create_agent(name="Looper", model=ScriptedModel([text(f"{i}") for i in range(20)]))
    network = create_network(name="Capped", agents=[looper], router=lambda: looper, max_iter=10)
    run = await network.run("go")
    assert len(run.results) == 10


async def test_default_state_is_copied_for_each_run() -> None:
    agent = create_agent(name="A", model=ScriptedModel([text("x"), text("y")]))
    network = create_network(
        name="Stateful",
        agents=[agent],
        router=lambda *, call_count: agent if call_count == 0 else None,
        default_state=State({"foo": "bar"}),  # TS: defaultState: new State({ foo: 'bar' })
    )
    first = await network.run("one")
    first.state.data["foo"] = "changed"
    second = await network.run("two")
    assert second.state.data == {"foo": "bar"}
