"""AgentKit docs, concepts/routers and reference/network-router: code routers, routing
agents with ``lifecycle.onRoute`` (issue 15 point 12), hybrids and state routing."""

from __future__ import annotations

from typing import Any

import pydantic

from agentkit_inngest import (
    AgentResult,
    Lifecycle,
    NetworkRun,
    State,
    TextMessage,
    ToolContext,
    create_agent,
    create_network,
    create_routing_agent,
    default_routing_agent,
    tool,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call


def classifier_and_writer() -> tuple[Any, Any]:
    classifier = create_agent(name="Classifier", model=ScriptedModel([text("A question.")]))
    writer = create_agent(name="Writer", model=ScriptedModel([text("The answer.")]))
    return classifier, writer


async def test_a_router_may_ask_for_every_router_argument() -> None:
    classifier, writer = classifier_and_writer()
    seen: list[dict[str, Any]] = []

    def router(
        *,
        input: str,
        network: NetworkRun,
        stack: list[Any],
        call_count: int,
        last_result: AgentResult | None,
    ) -> Any:  # TS: ({ input, network, stack, callCount, lastResult }) => ...
        seen.append(
            {
                "input": input,
                "calls": call_count,
                "stack": list(stack),
                "last": last_result.agent_name if last_result else None,
                "agents": sorted(network.agents),
            }
        )
        return [classifier, writer] if call_count == 0 else None  # a list runs in order

    network = create_network(name="Routed", agents=[classifier, writer], router=router)
    run = await network.run("Is it raining?")
    assert [r.agent_name for r in run.results] == ["Classifier", "Writer"]
    assert seen[0] == {
        "input": "Is it raining?",
        "calls": 0,
        "stack": [],
        "last": None,
        "agents": ["Classifier", "Writer"],
    }
    # after each agent call: the scheduled rest of the list is the stack
    assert [(s["calls"], s["last"], [a.name for a in s["stack"]]) for s in seen[1:]] == [
        (1, "Classifier", ["Writer"]),
        (2, "Writer", []),
    ]


async def test_a_routing_agent_with_lifecycle_on_route() -> None:
    classifier, writer = classifier_and_writer()

    def on_route(*, result: AgentResult, network: NetworkRun) -> list[str] | None:
        # TS: onRoute: ({ result, network }) => { const agent = result.output[0].content;
        #   if (network.agents.has(agent)) return [agent]; }
        first = result.output[0] if result.output else None
        if isinstance(first, TextMessage) and first.content in network.agents:
            return [first.content]
        return None

    router_model = ScriptedModel([text("Classifier"), text("Writer"), text("nobody")])
    routing_agent = create_routing_agent(
        name="Custom routing agent",
        description="Selects agents based on the current state and request",
        lifecycle=Lifecycle(on_route=on_route),
        model=router_model,
    )
    network = create_network(
        name="Routing agent", agents=[classifier, writer], router=routing_agent
    )
    run = await network.run("Is it raining?")
    assert [r.agent_name for r in run.results] == ["Classifier", "Writer"]
    assert len(router_model.calls) == 3
    # on_route may ask for agent too (reference: { result, agent, network }), and the
    # routing agent has its own model or the network's default (reference: model)
    named: list[str] = []

    def by_agent(*, agent: Any, result: AgentResult) -> list[str]:
        named.append(agent.name)
        return ["Writer"] if len(named) == 1 else []

    by_agent_router = create_routing_agent(name="R2", on_route=by_agent)
    network = create_network(
        name="Default model",
        agents=[classifier_and_writer()[1]],
        router=by_agent_router,
        default_model=ScriptedModel([text("route"), text("route")]),
    )
    assert (await network.run("q")).output == "The answer." and named == ["R2", "R2"]


async def test_a_hybrid_router_hands_over_to_the_default_routing_agent() -> None:
    classifier, writer = classifier_and_writer()
    router_model = ScriptedModel([tool_call("select_agent", {"name": "Writer"}), tool_call("done")])

    def router(*, call_count: int) -> Any:
        # TS: router: ({ callCount }) => callCount === 0 ? classifier : getDefaultRoutingAgent()
        return classifier if call_count == 0 else default_routing_agent()

    network = create_network(
        name="Hybrid", agents=[classifier, writer], router=router, default_model=router_model
    )
    run = await network.run("Is it raining?")
    assert [r.agent_name for r in run.results] == ["Classifier", "Writer"]


class MathState(pydantic.BaseModel):
    solution: str | None = None


async def test_routing_on_state_stops_when_a_solution_is_saved() -> None:
    @tool
    def save_solution(solution: str, ctx: ToolContext) -> str:
        """Save the solution."""
        ctx.state.data.solution = solution
        return "saved"

    context_agent = create_agent(name="Context", model=ScriptedModel([text("It is algebra.")]))
    math_agent = create_agent(
        name="Math",
        model=ScriptedModel([tool_call("save_solution", {"solution": "x = 2"})]),
        tools=[save_solution],
    )

    def router(*, network: NetworkRun, last_result: AgentResult | None) -> Any:
        # TS: if (network.state.data.solution) return; ... pick by the last text
        if network.state.data.solution:
            return None
        if last_result is None:
            return context_agent
        return math_agent if "algebra" in last_result.text else context_agent

    network = create_network(
        name="Math network",
        agents=[context_agent, math_agent],
        router=router,
        default_state=State(MathState()),
    )
    run = await network.run("Solve x + 2 = 4")
    assert run.state.data.solution == "x = 2"
    assert [r.agent_name for r in run.results] == ["Context", "Math"]
