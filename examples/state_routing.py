"""Deterministic state routing: a planner writes a typed plan, an editor carries it out.

The router reads only the network's typed state, so the order of agents is plain
code you can test, and every Inngest replay takes the same path:

- no plan yet -> the **Planner** explores the repository and records a plan with
  its ``create_plan`` tool (the plan is validated against a pydantic model and
  stored in ``state.data.plan``);
- a plan, not done -> the **Editor** rewrites the files the plan names and calls
  ``finish``, which sets ``state.data.done``;
- done (or too many agent calls) -> stop.

Run it::

    python examples/state_routing.py
    python examples/state_routing.py "average() of an empty list should return 0.0"

Under the Inngest dev server it is the function ``network-code-writing-network``::

    agentkit-inngest send agentkit-inngest/network-code-writing-network \\
        --data '{"input": "average() of an empty list should return 0.0"}'

With ``ANTHROPIC_API_KEY`` (or ``OPENAI_API_KEY``) set it uses that provider;
otherwise an embedded offline model plays both agents.
"""

from __future__ import annotations

import os
import sys

import pydantic

from agentkit_inngest import (
    Model,
    NetworkRun,
    State,
    ToolContext,
    ToolResultMessage,
    create_agent,
    create_network,
    create_tool,
    tool,
)
from agentkit_inngest.models import anthropic, openai
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

ISSUE = "average() raises ZeroDivisionError for an empty list; it should return 0.0."

# A tiny repository to work on (a real app would read a checkout or the GitHub API).
REPOSITORY = {
    "calculator/stats.py": (
        "def average(values: list[float]) -> float:\n    return sum(values) / len(values)\n"
    ),
    "calculator/__init__.py": "from .stats import average\n",
    "README.md": "# calculator\n",
}
MAX_AGENT_CALLS = 6


class Edit(pydantic.BaseModel):
    filename: str = pydantic.Field(description="The file to change")
    idea: str = pydantic.Field(description="What to change in it")
    reasoning: str = pydantic.Field(description="Why this change fixes the issue")


class Plan(pydantic.BaseModel):
    thoughts: str = pydantic.Field(description="Your analysis of the issue")
    plan_details: str = pydantic.Field(description="The plan, step by step")
    edits: list[Edit] = pydantic.Field(min_length=1, description="Every file edit to make")


class CodeState(pydantic.BaseModel):
    """The network's progress, which the router reads."""

    repo: str = "acme/calculator"
    files: list[str] = []
    plan: Plan | None = None
    changes: dict[str, str] = {}
    summary: str | None = None
    done: bool = False


# -- tools -----------------------------------------------------------------------------------


@tool
def list_files(ctx: ToolContext) -> list[str]:
    """List the files of the repository."""
    files = sorted(REPOSITORY)
    ctx.state.data.files = files
    return files


@tool
def read_file(filename: str, ctx: ToolContext) -> str:
    """Read a file of the repository (with the edits made so far)."""
    data: CodeState = ctx.state.data
    if filename in data.changes:
        return data.changes[filename]
    if filename not in REPOSITORY:
        raise FileNotFoundError(f"no file {filename!r}; call list_files to see the files")
    return REPOSITORY[filename]


def _create_plan(plan: Plan, ctx: ToolContext) -> str:
    ctx.state.data.plan = plan
    return f"Plan recorded: {len(plan.edits)} edit(s)."


create_plan = create_tool(
    name="create_plan",
    description="Describe a formal plan to fix the issue: the files to edit and why",
    parameters=Plan,
    handler=_create_plan,
)


@tool
def write_file(filename: str, content: str, ctx: ToolContext) -> str:
    """Replace a file's whole content."""
    data: CodeState = ctx.state.data
    planned = {edit.filename for edit in data.plan.edits} if data.plan else set()
    if filename not in planned:
        raise ValueError(f"{filename!r} is not in the plan; edit only {sorted(planned)}")
    data.changes[filename] = content
    return f"{filename} written ({len(content)} characters)."


@tool
def finish(summary: str, ctx: ToolContext) -> str:
    """Finish: every planned edit is made."""
    ctx.state.data.summary = summary
    ctx.state.data.done = True
    return "Done."


# -- the offline model ---------------------------------------------------------------------

_FIXED = (
    "def average(values: list[float]) -> float:\n"
    "    if not values:\n"
    "        return 0.0\n"
    "    return sum(values) / len(values)\n"
)


def _offline(call: ModelCall) -> Reply:
    """Plan or edit, step by step, from what the conversation shows."""
    seen = {m.name for m in call.messages if isinstance(m, ToolResultMessage) and not m.is_error}
    if "create_plan" in call.tool_names:
        if "list_files" not in seen:
            return tool_call("list_files")
        if "read_file" not in seen:
            return tool_call("read_file", {"filename": "calculator/stats.py"})
        if "create_plan" not in seen:
            return tool_call(
                "create_plan",
                {
                    "thoughts": "average() divides by len(values), which is 0 for [].",
                    "plan_details": "Return 0.0 early when the list is empty.",
                    "edits": [
                        {
                            "filename": "calculator/stats.py",
                            "idea": "Guard the empty list before dividing",
                            "reasoning": "len([]) == 0 causes the ZeroDivisionError",
                        }
                    ],
                },
            )
        return text("The plan is ready.")
    if "write_file" not in seen:
        return tool_call("write_file", {"filename": "calculator/stats.py", "content": _FIXED})
    if "finish" not in seen:
        return tool_call("finish", {"summary": "average([]) now returns 0.0."})
    return text("The fix is in place.")


def pick_model() -> tuple[Model, str]:
    """A real provider when a key is set, else the embedded offline model."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return (
            anthropic("claude-3-5-sonnet-latest", default_parameters={"max_tokens": 4096}),
            "Anthropic claude-3-5-sonnet-latest (ANTHROPIC_API_KEY is set)",
        )
    if os.environ.get("OPENAI_API_KEY"):
        return openai("gpt-4o"), "OpenAI gpt-4o (OPENAI_API_KEY is set)"
    return (
        FunctionModel(_offline, model="offline-coder"),
        "the embedded offline model (set ANTHROPIC_API_KEY or OPENAI_API_KEY for a real one)",
    )


model, model_description = pick_model()

# -- agents, router, network -------------------------------------------------------------------


def planner_system(network: NetworkRun) -> str:
    """The planner's prompt names the repository from the state."""
    return (
        f"You are an expert Python programmer working on the repository "
        f"{network.state.data.repo}. Investigate the issue and the code: list the files and "
        "read the ones that matter (find the classes and functions involved). You MUST then "
        "call create_plan with a thorough, step-by-step plan naming every file to edit."
    )


planner = create_agent(
    name="Planner",
    description="Plans the code to write and which files to edit",
    system=planner_system,
    tools=[list_files, read_file, create_plan],
    max_iter=5,
)

editor = create_agent(
    name="Editor",
    description="Carries out the plan: rewrites the planned files",
    system=lambda network: (
        "You are an expert Python programmer. Carry out this plan exactly, rewriting each "
        "planned file with write_file (read it first if needed), then call finish.\n\n"
        f"Plan:\n{network.state.data.plan.model_dump_json(indent=2)}"
    ),
    tools=[read_file, write_file, finish],
    max_iter=5,
)


def code_router(*, network: NetworkRun, call_count: int) -> object:
    """Plan first, then edit, then stop; never more than MAX_AGENT_CALLS agent calls."""
    data: CodeState = network.state.data
    if data.done or call_count >= MAX_AGENT_CALLS:
        return None
    if data.plan is None:
        return planner
    return editor


network = create_network(
    name="Code writing network",
    description="Plans and makes code changes for an issue",
    agents=[planner, editor],
    default_model=model,
    router=code_router,
    default_state=State(CodeState()),
)


def main(argv: list[str]) -> int:
    issue = " ".join(argv) or ISSUE
    print(f"Model: {model_description}\n")
    print(f"Issue: {issue}\n")
    run = network.run_sync(issue)
    for result in run.results:
        print(f"- {result.id} called {[t.name for t in result.tool_calls]}")
    data: CodeState = run.state.data
    if data.plan is not None:
        print(f"\nPlan: {data.plan.plan_details}")
        for edit in data.plan.edits:
            print(f"  - {edit.filename}: {edit.idea}")
    for filename, content in data.changes.items():
        print(f"\n--- {filename} (new)\n{content}")
    print(f"Done: {data.done}  ({data.summary})")
    print(f"Tokens: {run.usage.input_tokens} in, {run.usage.output_tokens} out")
    return 0 if data.done else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
