"""Definitions are data: one option list per class, one way to derive a variant.

Each test walks ``dataclasses.fields`` of a definition class, so an option that a
derivation (``replace``, ``with_model``, ``create_*``) drops, or a field added
without being carried, fails here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from agentkit_inngest import (
    Agent,
    Budget,
    ConfigurationError,
    InlineRunner,
    Lifecycle,
    Network,
    NetworkRun,
    RoutingAgent,
    State,
    create_agent,
    create_network,
    create_routing_agent,
    default_routing_agent,
    input_guardrail,
    tool,
)
from agentkit_inngest.history import MemoryStore, last_turns
from agentkit_inngest.models import Price, PriceTable
from agentkit_inngest.testing import ScriptedModel, text, tool_call


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


@tool
def pong() -> str:
    """Answer ping."""
    return "ping"


class _Source:
    """A tool source with no tools (an MCP server without the SDK)."""

    name = "source"

    async def list_tools(self, network: NetworkRun) -> list[Any]:
        return []


def _on_route(**_: object) -> list[str]:
    return []


@input_guardrail(pure=True)
def _polite(ctx: object) -> None:
    return None


_PRICES = PriceTable({"test-model": Price(input=1.0, output=2.0)})


def _controls() -> dict[str, Any]:
    """A value for every run-control option (issue 18), each different from the default."""
    return {
        "output_type": list[int],
        "output_retries": 5,
        "budget": Budget(requests=3, wall_time="1m"),
        "guardrails": (_polite,),
        "prices": _PRICES,
    }


def _agent_values() -> dict[str, Any]:
    """A value for every option of an agent, each different from the default."""
    return {
        "name": "Other",
        "description": "another description",
        "system": "another prompt",
        "model": ScriptedModel([]),
        "tools": (ping, pong),
        "tool_choice": "ping",
        "assistant": "Sure:",
        "lifecycle": Lifecycle(on_finish=lambda **_: None),
        "max_iter": 7,
        "mcp_servers": (_Source(),),
        "history": MemoryStore(),
        "context_window": last_turns(2),
        "fast_turns": True,
        "default_state": State({"y": 2}),
        **_controls(),
    }


def _routing_values() -> dict[str, Any]:
    return {**_agent_values(), "on_route": _on_route, "decided": lambda result: True}


def _network_values(agent: Agent) -> dict[str, Any]:
    return {
        "name": "Other network",
        "description": "another description",
        "agents": (agent,),
        "default_model": ScriptedModel([]),
        "router": lambda: None,
        "max_iter": 9,
        "default_state": State({"x": 1}),
        "history": MemoryStore(),
        "context_window": last_turns(3),
        "fast_turns": True,
        **_controls(),
    }


CASES: list[tuple[type[Any], Callable[[], Any], Callable[[], dict[str, Any]]]] = [
    (Agent, lambda: create_agent(name="A", tools=[ping]), _agent_values),
    (
        RoutingAgent,
        lambda: create_routing_agent(name="R", on_route=_on_route, tools=[ping]),
        _routing_values,
    ),
    (
        Network,
        lambda: create_network(name="N", agents=[create_agent(name="A")]),
        lambda: _network_values(create_agent(name="B")),
    ),
]


@pytest.mark.parametrize(("kind", "build", "values"), CASES)
def test_every_field_has_a_test_value(
    kind: type[Any], build: Callable[[], Any], values: Callable[[], dict[str, Any]]
) -> None:
    # a field added to the class without a value here fails: give it one
    assert {f.name for f in dataclasses.fields(kind)} == set(values())


@pytest.mark.parametrize(("kind", "build", "values"), CASES)
def test_every_field_survives_replace(
    kind: type[Any], build: Callable[[], Any], values: Callable[[], dict[str, Any]]
) -> None:
    original = build()
    for field in dataclasses.fields(kind):
        value = values()[field.name]
        changed = original.replace(**{field.name: value})
        assert type(changed) is type(original)
        assert getattr(changed, field.name) == value, field.name
        for other in dataclasses.fields(kind):  # and nothing else moved
            if other.name != field.name:
                kept = getattr(changed, other.name) == getattr(original, other.name)
                assert kept, f"replace({field.name}=...) changed {other.name}"


@pytest.mark.parametrize(("kind", "build", "values"), CASES)
def test_every_field_reaches_the_definition_and_survives_with_model(
    kind: type[Any], build: Callable[[], Any], values: Callable[[], dict[str, Any]]
) -> None:
    given = values()
    built = kind(**given)
    for field in dataclasses.fields(kind):
        assert getattr(built, field.name) == given[field.name], field.name
    if kind is Network:
        return
    model = ScriptedModel([])
    derived = built.with_model(model)
    assert type(derived) is kind and derived.model is model
    for field in dataclasses.fields(kind):
        if field.name != "model":
            assert getattr(derived, field.name) == getattr(built, field.name), field.name


def test_the_create_spellings_are_the_classes() -> None:
    assert create_agent is Agent
    assert create_routing_agent is RoutingAgent
    assert create_network is Network


async def test_the_default_routing_agent_keeps_its_routing_with_another_model() -> None:
    router_model = ScriptedModel([tool_call("select_agent", {"name": "A"}), tool_call("done")])
    derived = default_routing_agent().with_model(router_model)
    assert isinstance(derived, RoutingAgent) and derived.decided is not None
    a = create_agent(name="A", model=ScriptedModel([text("from A")]))
    run = await create_network(name="N", agents=[a], router=derived).run("q")
    assert [r.agent_name for r in run.results] == ["A"] and run.output == "from A"


async def test_create_routing_agent_takes_every_agent_option() -> None:
    store = MemoryStore()
    window = last_turns(1)
    routing = create_routing_agent(
        name="R",
        on_route=_on_route,
        assistant="Routing:",
        history=store,
        context_window=window,
        fast_turns=True,
        mcp_servers=[_Source()],
    )
    assert routing.assistant == "Routing:" and routing.history is store
    assert routing.context_window is window and routing.fast_turns is True
    assert [s.name for s in routing.mcp_servers] == ["source"]


def test_replace_refuses_an_unknown_option_and_checks_again() -> None:
    agent = create_agent(name="A", tools=[ping])
    with pytest.raises(ConfigurationError, match=r"unknown option.*nme.*known: name"):
        agent.replace(nme="B")
    with pytest.raises(ConfigurationError, match="must not contain"):
        agent.replace(name="a/b")
    with pytest.raises(ConfigurationError, match="tool_choice 'missing'"):
        agent.replace(tool_choice="missing")
    network: Network[Any] = create_network(name="N", agents=[agent])
    with pytest.raises(ConfigurationError, match="needs at least one agent"):
        network.replace(agents=[])


def test_definitions_are_frozen() -> None:
    agent = create_agent(name="A")
    with pytest.raises(dataclasses.FrozenInstanceError):
        agent.name = "B"  # type: ignore[misc]


def test_max_iter_means_the_same_in_both_definitions() -> None:
    assert create_agent(name="A").max_iter == 1
    assert create_agent(name="A", max_iter=0).max_iter == 1  # the old spelling of 1
    assert create_agent(name="A", max_iter=4).max_iter == 4
    agents = [create_agent(name="A")]
    assert create_network(name="N", agents=agents).max_iter is None
    assert create_network(name="N", agents=agents, max_iter=0).max_iter is None  # old spelling
    assert create_network(name="N", agents=agents, max_iter=3).max_iter == 3
    with pytest.raises(ConfigurationError, match="max_iter"):
        create_network(name="N", agents=agents, max_iter=-1)


def test_a_hook_that_returns_the_wrong_type_is_a_clear_error() -> None:
    agent = create_agent(
        name="A",
        model=ScriptedModel([text("hi")]),
        lifecycle=Lifecycle(on_finish=lambda **_: "not a result"),
    )
    with pytest.raises(ConfigurationError, match="on_finish must return an AgentResult"):
        agent.run_sync("q")


async def test_a_routing_agent_routes_alone_and_a_network_finds_agents_by_name() -> None:
    a = create_agent(name="A", model=ScriptedModel([]))
    routing = create_routing_agent(
        name="R",
        model=ScriptedModel([text("A")]),
        on_route=lambda *, result, **_: result.text,
    )
    network: Network[Any] = create_network(name="N", agents=[a], router=routing)
    run = NetworkRun(network=network, state=State(), runner=InlineRunner(), input="q")
    assert await routing.route(run) == [a]
    assert run.routing_usage.total_tokens > 0  # the routing call's tokens count for the run
    assert network.agent("A") is a
    with pytest.raises(KeyError):
        network.agent("B")
