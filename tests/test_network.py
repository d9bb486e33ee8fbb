from __future__ import annotations

from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    Agent,
    AgentResult,
    ConfigurationError,
    InputError,
    Lifecycle,
    Network,
    NetworkRun,
    RouteDecision,
    RoutingAgent,
    State,
    ToolContext,
    ToolResultMessage,
    create_agent,
    create_network,
    create_routing_agent,
    default_routing_agent,
    tool,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call

from .message_helpers import content


def _agent(name: str, model: ScriptedModel | None = None, **kw: Any) -> Agent:
    return create_agent(name=name, description=f"{name} agent", model=model, **kw)


async def test_code_router_runs_agents_until_it_returns_none() -> None:
    model = ScriptedModel([text("first"), text("second")])
    a, b = _agent("A"), _agent("B")
    calls: list[tuple[int, str | None]] = []

    def router(
        *, call_count: int, last_result: AgentResult | None, stack: list[Agent], input: str
    ) -> Agent | None:
        calls.append((call_count, last_result.agent_name if last_result else None))
        assert input == "go" and stack == []
        return [a, b][call_count] if call_count < 2 else None

    run = await create_network(name="N", agents=[a, b], default_model=model, router=router).run(
        "go"
    )
    assert [r.agent_name for r in run.results] == ["A", "B"]
    assert calls == [(0, None), (1, "A"), (2, "B")]
    assert run.output == "second" and run.call_count == 2
    # the second agent saw the question, then the first agent's answer
    assert [m.role for m in model.calls[1].messages] == ["user", "assistant"]


async def test_router_may_return_a_stack_names_and_outside_agents() -> None:
    model = ScriptedModel([text("a"), text("b"), text("c")])
    a, b = _agent("A"), _agent("B")
    outsider = _agent("Outsider")

    def router(*, call_count: int) -> RouteDecision:
        return [a, "B", outsider] if call_count == 0 else None

    run = await create_network(name="N", agents=[a, b], default_model=model, router=router).run("q")
    assert [r.agent_name for r in run.results] == ["A", "B", "Outsider"]


async def test_max_iter_caps_agent_calls() -> None:
    model = ScriptedModel([text(str(i)) for i in range(3)])
    a = _agent("A")
    net: Network[Any] = create_network(
        name="N", agents=[a], default_model=model, router=lambda: a, max_iter=3
    )
    run = await net.run("loop")
    assert run.call_count == 3 and model.remaining == 0


async def test_network_without_any_model_fails_before_any_call() -> None:
    a = _agent("A")
    with pytest.raises(ConfigurationError, match="'A' have no model"):
        await create_network(name="N", agents=[a], router=lambda: a).run("q")
    with pytest.raises(ConfigurationError, match="default routing agent needs a model"):
        await create_network(name="N", agents=[_agent("B", ScriptedModel())]).run("q")
    routing = create_routing_agent(name="R", on_route=lambda **kw: None)
    with pytest.raises(ConfigurationError, match="routing agent 'R' has no model"):
        await create_network(name="N", agents=[_agent("C", ScriptedModel())], router=routing).run(
            "q"
        )


@pytest.mark.parametrize(
    ("router", "message"),
    [
        (lambda: "Nobody", "unknown agent 'Nobody'"),
        (lambda: 42, "router returned int"),
    ],
)
async def test_bad_router_results_are_clear(router: object, message: str) -> None:
    net: Network[Any] = create_network(
        name="N",
        agents=[_agent("A")],
        default_model=ScriptedModel(),
        router=router,  # type: ignore[arg-type]  # deliberately any object: the error under test
    )
    with pytest.raises(ConfigurationError, match=message):
        await net.run("q")


def test_router_signature_and_network_definition_checks() -> None:
    a = _agent("A")
    with pytest.raises(ConfigurationError, match="router parameter 'wat'"):
        create_network(name="N", agents=[a], router=lambda wat: None)
    with pytest.raises(ConfigurationError, match="plain agent"):
        # deliberately a plain agent, not a routing agent: the error under test
        create_network(name="N", agents=[a], router=a)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be a function"):
        create_network(name="N", agents=[a], router=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="two agents named"):
        create_network(name="N", agents=[a, a])
    with pytest.raises(ConfigurationError, match="at least one agent"):
        create_network(name="N", agents=[])
    with pytest.raises(ConfigurationError, match="must be Agent"):
        create_network(name="N", agents=["A"])  # type: ignore[list-item]
    create_network(name="N", agents=[a], router=lambda **everything: None)  # **kwargs is fine


async def test_default_routing_agent_selects_then_finishes() -> None:
    router_model = ScriptedModel(
        [
            tool_call("select_agent", {"name": "Writer", "reason": "needs prose"}),
            tool_call("done", {}),
        ]
    )
    writer = _agent("Writer", ScriptedModel([text("A poem.")]))
    net: Network[Any] = create_network(
        name="N", agents=[writer, _agent("Idle", ScriptedModel())], default_model=router_model
    )
    run = await net.run("write a poem")
    assert [r.agent_name for r in run.results] == ["Writer"]
    first = router_model.calls[0]
    assert first.tool_choice == "any" and set(first.tool_names) == {"select_agent", "done"}
    assert "<name>Writer</name>" in first.system and "<name>Idle</name>" in first.system
    # routing inferences count toward usage but are not stored as results
    assert run.usage.total_tokens == 45 and len(run.state.results) == 1


async def test_default_router_reports_unknown_agents_to_the_model() -> None:
    router_model = ScriptedModel(
        [
            tool_call("select_agent", {"name": "Ghost"}),
            tool_call("select_agent", {"name": "A"}),
            tool_call("done"),
        ]
    )
    a = _agent("A", ScriptedModel([text("did it")]))
    run = await create_network(name="N", agents=[a], default_model=router_model).run("q")
    assert [r.agent_name for r in run.results] == ["A"]
    retry = router_model.calls[1].messages[-1]
    assert isinstance(retry, ToolResultMessage)
    assert retry.kind == "tool_result" and retry.is_error
    assert "no available agent named 'Ghost'" in str(retry.content)


async def test_default_router_gives_up_after_its_attempts() -> None:
    router_model = ScriptedModel([tool_call("select_agent", {"name": "Ghost"})] * 2)
    a = _agent("A", ScriptedModel())
    router = default_routing_agent(model=router_model, max_attempts=2)
    run = await create_network(name="N", agents=[a], router=router).run("q")
    assert run.results == [] and len(router_model.calls) == 2


async def test_disabled_agents_are_not_offered_to_the_router() -> None:
    router_model = ScriptedModel([tool_call("select_agent", {"name": "Off"}), tool_call("done")])
    off = _agent("Off", ScriptedModel(), lifecycle=Lifecycle(enabled=lambda **kw: False))
    on = _agent("On", ScriptedModel())
    run = await create_network(name="N", agents=[off, on], default_model=router_model).run("q")
    assert run.results == []
    assert "<name>Off</name>" not in router_model.calls[0].system
    with pytest.raises(ConfigurationError, match="no agent is enabled"):
        await create_network(name="N", agents=[off], default_model=router_model).run("q")


async def test_custom_routing_agent_with_on_route() -> None:
    def on_route(*, agent: RoutingAgent, network: NetworkRun, result: AgentResult) -> str | None:
        name = result.text.strip()
        return None if name == "STOP" else name

    supervisor = create_routing_agent(
        name="Supervisor", model=ScriptedModel([text("B"), text("STOP")]), on_route=on_route
    )
    b = _agent("B", ScriptedModel([text("b did it")]))
    run = await create_network(name="N", agents=[b], router=supervisor).run("q")
    assert [r.agent_name for r in run.results] == ["B"]
    bad = create_routing_agent(
        name="Bad",
        model=ScriptedModel([text("x")]),
        on_route=lambda **kw: [1],  # deliberately not names: under test
    )
    with pytest.raises(ConfigurationError, match="must return agent names"):
        await create_network(name="N", agents=[b], router=bad).run("q")
    with pytest.raises(ConfigurationError, match="needs an on_route"):
        create_routing_agent(name="X", on_route=None)  # type: ignore[arg-type]


# -- the documented patterns ------------------------------------------------------------


async def test_classifier_writer_code_router() -> None:
    @tool
    def classify(topic: str, ctx: ToolContext) -> str:
        """Record the topic."""
        ctx.state.kv.set("topic", topic)
        return topic

    classifier = _agent(
        "Classifier", ScriptedModel([tool_call("classify", {"topic": "poetry"})]), tools=[classify]
    )
    writer = _agent("Writer", ScriptedModel([text("Roses are red.")]))

    def router(*, network: NetworkRun, call_count: int) -> Agent | None:
        if call_count == 0:
            return classifier
        if call_count == 1 and network.state.kv.get("topic") == "poetry":
            return writer
        return None

    run = await create_network(name="Content", agents=[classifier, writer], router=router).run(
        "write"
    )
    assert [r.agent_name for r in run.results] == ["Classifier", "Writer"]
    assert run.output == "Roses are red." and run.state.kv.get("topic") == "poetry"


async def test_hybrid_router_code_first_then_llm() -> None:
    classifier = _agent("Classifier", ScriptedModel([text("it is about databases")]))
    expert = _agent("Expert", ScriptedModel([text("use an index")]))
    llm = ScriptedModel([tool_call("select_agent", {"name": "Expert"}), tool_call("done")])
    routing = default_routing_agent()

    def hybrid(*, call_count: int) -> Agent:
        return classifier if call_count == 0 else routing

    run = await create_network(
        name="Hybrid", agents=[classifier, expert], default_model=llm, router=hybrid
    ).run("slow query")
    assert [r.agent_name for r in run.results] == ["Classifier", "Expert"]
    assert "it is about databases" in str(llm.calls[0].messages)


class Edit(pydantic.BaseModel):
    filename: str
    idea: str


class Plan(pydantic.BaseModel):
    thoughts: str
    edits: list[Edit]


class CodeState(pydantic.BaseModel):
    plan: Plan | None = None
    done: bool = False


async def test_planner_editor_state_routing() -> None:
    @tool
    def create_plan(plan: Plan, ctx: ToolContext) -> str:
        """Write the plan into state."""
        ctx.state.data.plan = plan
        return "planned"

    @tool
    def finish(ctx: ToolContext) -> str:
        """Mark the edits as done."""
        ctx.state.data.done = True
        return "done"

    plan = {"thoughts": "small fix", "edits": [{"filename": "a.py", "idea": "rename"}]}
    planner = _agent(
        "Planner", ScriptedModel([tool_call("create_plan", plan)]), tools=[create_plan]
    )
    editor = _agent("Editor", ScriptedModel([tool_call("finish")]), tools=[finish])

    def router(*, network: NetworkRun) -> RouteDecision:
        data: CodeState = network.state.data
        if data.done:
            return None
        return editor if data.plan else planner

    net = create_network(
        name="Code", agents=[planner, editor], router=router, default_state=State(CodeState())
    )
    run = await net.run("fix the bug")
    assert [r.agent_name for r in run.results] == ["Planner", "Editor"]
    assert run.state.data == CodeState(plan=Plan.model_validate(plan), done=True)
    assert net.default_state.data == CodeState()  # each run works on a copy


async def test_state_from_json_and_router_override() -> None:
    model = ScriptedModel([text("hello again")])
    a = _agent("A")
    net: Network[Any] = create_network(
        name="N", agents=[a], default_model=model, router=lambda: None
    )
    run = await net.run(
        "second turn",
        state={
            "kv": {"seen": 1},
            "messages": [{"kind": "text", "role": "user", "content": "first turn"}],
        },
        router=lambda call_count: a if call_count == 0 else None,
    )
    assert run.state.kv.get("seen") == 1 and run.output == "hello again"
    assert [content(m) for m in model.calls[0].messages] == ["first turn", "second turn"]
    with pytest.raises(InputError, match="state must be"):
        await net.run("q", state=[1])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="input must be a string"):
        await net.run(5)  # type: ignore[arg-type]


async def test_reusing_state_across_runs_keeps_the_conversation_in_order() -> None:
    model = ScriptedModel([text("r1"), text("r2")])
    a = _agent("A")
    net: Network[Any] = create_network(
        name="N",
        agents=[a],
        default_model=model,
        router=lambda call_count: a if call_count == 0 else None,
    )
    state = net.new_state()
    await net.run("q1", state=state)
    run = await net.run("q2", state=state)
    assert [content(m) for m in model.calls[1].messages] == ["q1", "r1", "q2"]
    assert [r.text for r in run.results] == ["r2"] and len(state.results) == 2
    assert run.to_json()["usage"]["total_tokens"] == 15


def test_run_sync_and_repr() -> None:
    a = _agent("A", ScriptedModel([text("ok")]))
    net: Network[Any] = create_network(
        name="N", agents=[a], router=lambda call_count: a if call_count == 0 else None
    )
    assert net.run_sync("q").output == "ok"
    assert "A" in repr(net) and "A" in repr(a)
