"""Quick start: a DevOps network of two agents that save their answers into typed state.

The "Database administrator" answers the PostgreSQL part of the question, the
"Database Security Expert" the security part; each saves its answer with a
``save_answer`` tool. A code router reads the state: DBA first, then security,
then stop. Each agent also runs on its own (``agent_function``, or
``create_server(agents=[...])``) with the same typed state.

Run it::

    python examples/quick_start.py "How should I scale Postgres for millions of requests?"

With ``ANTHROPIC_API_KEY`` (or ``OPENAI_API_KEY``) set it uses that provider;
otherwise an embedded offline model answers, so the example runs anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pydantic

from agentkit_inngest import (
    Budget,
    Model,
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_network,
    create_tool,
)
from agentkit_inngest.models import from_environment
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, tool_call

QUESTION = (
    "I need to scale PostgreSQL to millions of requests per second, and each organization's "
    "data must stay isolated. What should I do?"
)


class DevOpsState(pydantic.BaseModel):
    """What the network fills in."""

    dba_agent_answer: str | None = None
    security_agent_answer: str | None = None


class Answer(pydantic.BaseModel):
    answer: str = pydantic.Field(description="The complete answer to the user's question")


def _saver(field: str) -> Callable[[Answer, ToolContext], str]:
    def save(params: Answer, ctx: ToolContext) -> str:
        setattr(ctx.state.data, field, params.answer)
        return "saved"

    return save


# -- the offline model ---------------------------------------------------------------------

_OFFLINE_ANSWERS = {
    "database administrator": (
        "Put PgBouncer in front of Postgres, add read replicas for read traffic, partition the "
        "largest tables by organization, and index the columns your hot queries filter on."
    ),
    "security": (
        "Use row-level security keyed on organization_id, give each service its own role with "
        "least privilege, encrypt connections with TLS and enable pgaudit for audit logging."
    ),
}


def _offline(call: ModelCall) -> Reply:
    """Answer from the agent's role (read off its system prompt) and save it."""
    role = "security" if "security expert" in call.system.lower() else "database administrator"
    return tool_call("save_answer", {"answer": _OFFLINE_ANSWERS[role]})


def pick_model() -> tuple[Model, str]:
    """A real provider when a key is set, else the embedded offline model."""
    return from_environment(FunctionModel(_offline, model="offline-devops"))


model, model_description = pick_model()

dba_agent = create_agent(
    name="Database administrator",
    description="Provides expert support for managing PostgreSQL databases",
    system=(
        "You are a PostgreSQL expert database administrator. You only answer questions about "
        "Postgres schema design, indexes, extensions, replication and scaling. When you have "
        "your answer, save it with the save_answer tool."
    ),
    model=model,
    tools=[
        create_tool(
            name="save_answer",
            description="Save the answer to the questions",
            parameters=Answer,
            handler=_saver("dba_agent_answer"),
        )
    ],
    default_state=State(DevOpsState()),  # its typed state when it runs on its own
)

security_agent = create_agent(
    name="Database Security Expert",
    description="Guides PostgreSQL security: access control, audit logging and compliance",
    system=(
        "You are a PostgreSQL security expert. You only answer questions about security: "
        "encryption, access control, audit logging and compliance. When you have your answer, "
        "save it with the save_answer tool."
    ),
    model=model,
    tools=[
        create_tool(
            name="save_answer",
            description="Save the answer to the questions",
            parameters=Answer,
            handler=_saver("security_agent_answer"),
        )
    ],
    default_state=State(DevOpsState()),
)


def devops_router(*, network: NetworkRun) -> object:
    """DBA first, then security, then stop: the state says who has answered."""
    data: DevOpsState = network.state.data
    if data.dba_agent_answer is None:
        return dba_agent
    if data.security_agent_answer is None:
        return security_agent
    return None


network = create_network(
    name="DevOps team",
    description="Answers PostgreSQL scaling and security questions",
    agents=[dba_agent, security_agent],
    router=devops_router,
    default_state=State(DevOpsState()),
    # the router waits for save_answer: a model that answers in text instead would make
    # it call the agent again and again; the budget stops the run at 8 model requests
    budget=Budget(requests=8),
)


def main(argv: list[str]) -> int:
    question = " ".join(argv) or QUESTION
    print(f"Model: {model_description}\n")
    print(f"Question: {question}\n")
    run = network.run_sync(question)
    for result in run.results:
        print(f"- {result.agent_name} ({result.id}) called {[t.name for t in result.tool_calls]}")
    data: DevOpsState = run.state.data
    print(f"\nDatabase administrator:\n  {data.dba_agent_answer}")
    print(f"\nSecurity expert:\n  {data.security_agent_answer}")
    cost = run.to_json()["cost"]
    shown = (
        "unknown (no price for this model)"
        if cost["cost_usd"] is None
        else (f"~${cost['cost_usd']:.4f}")
    )
    print(f"\nTokens: {run.usage.input_tokens} in, {run.usage.output_tokens} out · cost {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
