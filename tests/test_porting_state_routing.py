"""AgentKit docs, advanced-patterns/routing (deterministic state routing): typed state,
a planner that records a plan with a tool, an editor, and a router that reads only
the state, run in plain Python and durably."""

from __future__ import annotations

from typing import Any

import pydantic

from agentkit_inngest import (
    AgentResult,
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    create_tool,
    tool,
)
from agentkit_inngest.testing import FunctionModel, ModelCall, text, tool_call

from .porting_helpers import inngest_dev, tool_results


class Edit(pydantic.BaseModel):
    filename: str
    idea: str
    reasoning: str


class Plan(pydantic.BaseModel):
    thoughts: str
    plan_details: str
    edits: list[Edit]


class AgentState(pydantic.BaseModel):  # TS: interface AgentState { files?, plan?, done }
    repo: str = "calculator"
    files: list[str] | None = None
    plan: Plan | None = None
    done: bool = False


@tool
def list_files(ctx: ToolContext) -> list[str]:
    """List the repository's files."""
    data: AgentState = ctx.state.data
    data.files = ["stats.py", "README.md"]
    return data.files


def record_plan(plan: Plan, ctx: ToolContext) -> str:
    # TS: await opts.step?.run("plan created", () => plan); network.state.data.plan = plan
    # (this tool already is a step: its change to the state is recorded in it)
    ctx.network.state.data.plan = plan
    return "Plan created"


create_plan = create_tool(
    name="create_plan", description="Create a plan", parameters=Plan, handler=record_plan
)


@tool
def apply_edits(ctx: ToolContext) -> str:
    """Apply the plan's edits."""
    ctx.state.data.done = True
    return f"Applied {len(ctx.state.data.plan.edits)} edit(s)"


def planner_system(*, network: NetworkRun) -> str:
    # TS: system: ({ network }) => `...${network.state.data.repo}...`
    return f"You are a planner for the {network.state.data.repo} repository."


def offline(call: ModelCall) -> Any:
    done = [r.name for r in tool_results(call)]
    if call.system.startswith("You are a planner"):
        if "list_files" not in done:
            return tool_call("list_files")
        if "create_plan" not in done:
            return tool_call(
                "create_plan",
                {
                    "thoughts": "average() divides by zero",
                    "plan_details": "guard the empty list",
                    "edits": [{"filename": "stats.py", "idea": "return 0.0", "reasoning": "x"}],
                },
            )
        return text("Planned.")
    return tool_call("apply_edits") if "apply_edits" not in done else text("Edited.")


planning_agent = create_agent(
    name="Planner",
    description="Plans the code to write",
    system=planner_system,
    tools=[list_files, create_plan],
    model=FunctionModel(offline),
    max_iter=3,
)
editing_agent = create_agent(
    name="Editor",
    description="Edits code",
    system="You are an editor.",
    tools=[apply_edits],
    model=FunctionModel(offline),
    max_iter=2,
)


def router(*, network: NetworkRun, call_count: int, last_result: AgentResult | None) -> Any:
    # TS: router: ({ network }) => done ? undefined : plan === undefined ? planner : editor
    data: AgentState = network.state.data
    if data.done or call_count > 4:
        return None
    return planning_agent if data.plan is None else editing_agent


network = create_network(
    name="Code writing network",
    agents=[planning_agent, editing_agent],  # TS's placeholder agents: [] is refused here
    router=router,
    default_state=State(AgentState()),
)


async def test_the_router_reads_only_typed_state() -> None:
    run = await network.run("average() of an empty list should return 0.0")
    data: AgentState = run.state.data
    assert [r.agent_name for r in run.results] == ["Planner", "Editor"]
    assert data.done and data.files == ["stats.py", "README.md"]
    assert data.plan is not None and data.plan.edits[0].filename == "stats.py"


async def test_the_same_path_durably() -> None:
    async with inngest_dev("routing-app") as (executor, client):
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-code-writing-network", {"input": "fix average"})
    assert run.output["state"]["data"]["done"] is True
    assert executor.executed(run) == [
        "Planner#1/infer",
        "Planner#1/tool/list_files",
        "Planner#1/infer#2",
        "Planner#1/tool/create_plan",
        "Planner#1/infer#3",
        "Editor#1/infer",
        "Editor#1/tool/apply_edits",
        "Editor#1/infer#2",
    ]
