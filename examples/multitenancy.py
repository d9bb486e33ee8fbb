"""Multi-tenancy and retries: flow control on your own network function.

Wrap ``network.run`` in your own Inngest function to control how it runs for many
users at once:

- **concurrency**: at most 10 runs at once *per user* (``event.data.user_id``),
  so one busy tenant cannot starve the others;
- **throttling**: each user starts at most 20 runs per minute (more are queued,
  not dropped);
- **retries**: each step is retried once (Inngest's default is 4), so a failing
  provider fails the run quickly.

The event's ``data`` is validated first (``input`` and ``user_id`` are required);
the user id goes into the network's typed state, and the tools read the tenant
from the state, never from the model, so one user's run cannot see another's data.

Run it::

    python examples/multitenancy.py                       # as user-a
    python examples/multitenancy.py user-b "What did we decide about pricing?"

Under the Inngest dev server (``agentkit-inngest functions`` shows the limits)::

    agentkit-inngest send deep-research-network/run \\
        --data '{"user_id": "user-a", "input": "What did we decide about pricing?"}'

With ``ANTHROPIC_API_KEY`` (or ``OPENAI_API_KEY``) set it uses that provider;
otherwise an embedded offline model answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

import inngest
import pydantic

from agentkit_inngest import (
    Model,
    NetworkRun,
    State,
    StepRunner,
    ToolContext,
    ToolResultMessage,
    create_agent,
    create_function,
    create_network,
    tool,
)
from agentkit_inngest.models import from_environment
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-inngest")
RUN_EVENT = "deep-research-network/run"

# Each tenant's documents (a real app would query its own store, scoped the same way).
WORKSPACES: dict[str, list[str]] = {
    "user-a": [
        "2024-05 pricing meeting: we keep the free tier and raise Pro to $20/month.",
        "2024-06 roadmap: SSO ships in Q3.",
    ],
    "user-b": [
        "Board notes: pricing stays flat this year; focus on enterprise deals.",
    ],
}


class ResearchState(pydantic.BaseModel):
    user_id: str
    findings: list[str] = []
    report: str | None = None


# -- tools (scoped to the tenant in the state) ---------------------------------------------


@tool
def search_workspace(query: str, ctx: ToolContext) -> list[str]:
    """Search the user's workspace documents."""
    data: ResearchState = ctx.state.data
    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 3}
    hits = [doc for doc in WORKSPACES.get(data.user_id, []) if words & set(doc.lower().split())]
    data.findings.extend(hit for hit in hits if hit not in data.findings)
    return hits


@tool
def save_report(report: str, ctx: ToolContext) -> str:
    """Save the final report for the user."""
    ctx.state.data.report = report
    return "Report saved."


# -- the offline model ---------------------------------------------------------------------


def _offline(call: ModelCall) -> Reply:
    """Search the workspace, then save a report from what was found."""
    results = [m for m in call.messages if isinstance(m, ToolResultMessage)]
    if not results:
        return tool_call("search_workspace", {"query": "pricing decisions"})
    if results[-1].name == "search_workspace":
        found = results[-1].content or []
        report = " ".join(found) if found else "Nothing in your workspace mentions this."
        return tool_call("save_report", {"report": report})
    return text("Your report is saved.")


def pick_model() -> tuple[Model, str]:
    """A real provider when a key is set, else the embedded offline model."""
    return from_environment(FunctionModel(_offline, model="offline-analyst"))


model, model_description = pick_model()

researcher = create_agent(
    name="Researcher",
    description="Answers questions from the user's own workspace",
    system=(
        "You answer questions from the user's workspace. Search it with search_workspace, "
        "then save a short report with save_report, quoting what you found."
    ),
    model=model,
    tools=[search_workspace, save_report],
    max_iter=4,
)


def until_reported(*, network: NetworkRun, call_count: int) -> object:
    """Run the researcher until it saved a report (at most three calls)."""
    data: ResearchState = network.state.data
    return researcher if data.report is None and call_count < 3 else None


network = create_network(
    name="Deep research network",
    description="Answers from each user's own workspace",
    agents=[researcher],
    router=until_reported,
    default_state=State(ResearchState(user_id="anonymous")),
)


async def research_for(
    user_id: str, question: str, *, runner: StepRunner | None = None
) -> dict[str, Any]:
    """Run the network for one user: their id goes into the state the tools read."""
    run = await network.run(question, state=State(ResearchState(user_id=user_id)), runner=runner)
    data: ResearchState = run.state.data
    return {
        "user_id": user_id,
        "report": data.report,
        "findings": data.findings,
        "usage": run.usage.model_dump(),
    }


# -- the Inngest function with flow control ----------------------------------------------------


class ResearchRequest(pydantic.BaseModel):
    input: str = pydantic.Field(min_length=1, description="The user's question")
    user_id: str = pydantic.Field(min_length=1, description="The tenant the run belongs to")


inngest_client = inngest.Inngest(app_id=APP_ID)


@create_function(
    client=inngest_client,
    fn_id="deep-research-network",
    name="Deep research network",
    input=ResearchRequest,
    trigger=inngest.TriggerEvent(event=RUN_EVENT),
    concurrency=[{"key": "event.data.user_id", "limit": 10}],
    throttle={"key": "event.data.user_id", "limit": 20, "period": "1m"},
    retries=1,
)
async def deep_research(ctx: inngest.Context, request: ResearchRequest) -> dict[str, Any]:
    """Answer a question from the user's workspace."""
    # no runner: inside an Inngest function the run uses the function's steps
    return await research_for(request.user_id, request.input)


def main(argv: list[str]) -> int:
    user_id = argv[0] if argv else "user-a"
    question = " ".join(argv[1:]) or "What did we decide about pricing?"
    print(f"Model: {model_description}\n")
    print(f"User {user_id} asks: {question}\n")
    outcome = asyncio.run(research_for(user_id, question))
    print(f"Findings: {outcome['findings']}")
    print(f"\nReport:\n  {outcome['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
