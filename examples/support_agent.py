"""Support agent with a human in the loop.

A ticket arrives (the event ``app/support.ticket.created`` with ``data.ticketId``).
The Inngest function ``support-agent-workflow`` loads the ticket in a step (a
missing ticket fails the run at once, without retries) and hands it to the
"Support Network":

- the **Supervisor**, a routing agent, sends critical tickets to "Technical
  Support" and everything else to "Customer Support", and calls ``done`` once an
  agent has answered;
- **Customer Support** searches the knowledge base and updates the ticket;
- **Technical Support** searches the release notes and, when it needs a
  developer, calls ``ask_developer``: the run then sleeps (holding no compute) for
  up to 4 hours until ``app/support.ticket.developer-response`` arrives with the
  same ``data.ticketId`` as the ticket event.

Run it in plain Python (a canned developer reply answers the wait, or type one
when you run it in a terminal)::

    python examples/support_agent.py            # critical ticket T-1001
    python examples/support_agent.py T-1002     # a billing question

Under the Inngest dev server, send the ticket event and then the developer's reply::

    agentkit-inngest send app/support.ticket.created --data '{"ticketId": "T-1001"}'
    agentkit-inngest send app/support.ticket.developer-response \\
        --data '{"ticketId": "T-1001", "answer": "Roll back to 2.4.1", "timestamp": "..."}'

With ``ANTHROPIC_API_KEY`` (or ``OPENAI_API_KEY``) set the agents use that
provider; otherwise an embedded offline model plays every role.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Literal

import inngest
import pydantic

from agentkit_inngest import (
    AgentKitError,
    AgentResult,
    EventWait,
    InlineRunner,
    InngestRunner,
    InputError,
    Model,
    NetworkRun,
    StepRunner,
    TextMessage,
    ToolCallMessage,
    ToolContext,
    ToolResultMessage,
    create_agent,
    create_human_tool,
    create_network,
    create_routing_agent,
    create_tool,
    to_inngest_error,
)
from agentkit_inngest.models import from_environment
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

TICKET_CREATED = "app/support.ticket.created"
DEVELOPER_RESPONSE = "app/support.ticket.developer-response"
APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-inngest")

# -- the ticket system (an in-memory stand-in for yours) -----------------------------------


class Ticket(pydantic.BaseModel):
    id: str
    title: str
    description: str
    customer: str
    priority: Literal["low", "medium", "high", "critical"]
    status: Literal["open", "pending", "resolved"] = "open"
    notes: list[str] = []


class TicketDesk:
    """Tickets by id, and a log of every update (so tests can count them)."""

    def __init__(self, tickets: Sequence[Ticket]) -> None:
        self.tickets = {ticket.id: ticket for ticket in tickets}
        self.updates: list[dict[str, Any]] = []

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def update(self, ticket_id: str, *, priority: str, status: str, note: str) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise KeyError(f"there is no ticket {ticket_id!r}")
        changed = ticket.model_copy(
            update={"priority": priority, "status": status, "notes": [*ticket.notes, note]}
        )
        self.tickets[ticket_id] = Ticket.model_validate(changed.model_dump())
        self.updates.append({"ticketId": ticket_id, "priority": priority, "status": status})
        return self.tickets[ticket_id]


desk = TicketDesk(
    [
        Ticket(
            id="T-1001",
            title="Dashboard is down for every user since this morning's release",
            description="Since 09:00 UTC every dashboard page returns HTTP 500. Our whole "
            "team is blocked.",
            customer="Acme Corp",
            priority="critical",
        ),
        Ticket(
            id="T-1002",
            title="How do I download last month's invoice?",
            description="I need the March invoice as a PDF for our accountant.",
            customer="Globex",
            priority="low",
        ),
    ]
)

KNOWLEDGE_BASE = [
    {
        "title": "Downloading invoices",
        "content": "Invoices are under Settings > Billing > Invoices; each has a PDF button.",
    },
    {
        "title": "Resetting your password",
        "content": "Use 'Forgot password' on the sign-in page; the link is valid for 1 hour.",
    },
]

RELEASE_NOTES = [
    {
        "title": "2.5.0: new dashboard query engine",
        "content": "The dashboard now uses the new query engine. Known issue: accounts with "
        "more than 50 widgets can hit HTTP 500 on dashboard pages.",
    },
    {"title": "2.4.1: faster exports", "content": "CSV exports are twice as fast."},
]


def _search(entries: list[dict[str, str]], query: str) -> list[dict[str, str]]:
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 3]
    return [e for e in entries if any(w in (e["title"] + e["content"]).lower() for w in words)]


# -- tools -----------------------------------------------------------------------------------


class SearchQuery(pydantic.BaseModel):
    query: str = pydantic.Field(description="Words to look for")


class TicketUpdate(pydantic.BaseModel):
    ticketId: str = pydantic.Field(description="The ticket's id, e.g. T-1002")
    priority: Literal["low", "medium", "high", "critical"]
    status: Literal["open", "pending", "resolved"]
    note: str = pydantic.Field(description="What was done, for the ticket's history")


class RouteTo(pydantic.BaseModel):
    agent: str = pydantic.Field(description="The name of the agent that takes the ticket")


search_knowledge_base = create_tool(
    name="search_knowledge_base",
    description="Search the help-center articles",
    parameters=SearchQuery,
    handler=lambda params, ctx: _search(KNOWLEDGE_BASE, params.query),
)

search_latest_release_notes = create_tool(
    name="search_latest_release_notes",
    description="Search the release notes of the latest versions",
    parameters=SearchQuery,
    handler=lambda params, ctx: _search(RELEASE_NOTES, params.query),
)


def _update_ticket(params: TicketUpdate, ctx: ToolContext) -> str:
    desk.update(params.ticketId, priority=params.priority, status=params.status, note=params.note)
    return f"Ticket {params.ticketId} updated: {params.status}, {params.priority} priority"


update_ticket = create_tool(
    name="update_ticket",
    description="Update a ticket's priority and status and add a note",
    parameters=TicketUpdate,
    handler=_update_ticket,
)

# Waits for the developer's reply event; `match` pairs it with the ticket event that
# started the run (same data.ticketId). A timeout reaches the model as a tool error.
ask_developer = create_human_tool(
    name="ask_developer",
    description="Ask a developer for input on a technical issue and wait for the answer",
    event=DEVELOPER_RESPONSE,
    match="data.ticketId",
    timeout="4h",
    reply=lambda event: {
        "developerResponse": event["data"].get("answer"),
        "responseTime": event["data"].get("timestamp"),
    },
)


def _route_to_agent(params: RouteTo, ctx: ToolContext) -> str:
    assert ctx.network is not None
    if params.agent not in ctx.network.agents:
        raise ValueError(
            f"unknown agent {params.agent!r}; choose one of {list(ctx.network.agents)}"
        )
    return params.agent


route_to_agent = create_tool(
    name="route_to_agent",
    description="Hand the ticket to an agent",
    parameters=RouteTo,
    handler=_route_to_agent,
    pure=True,
)
done = create_tool(
    name="done",
    description="Finish: an agent has answered the customer or updated the ticket",
    handler=lambda ctx: "done",
    pure=True,
)

# -- the offline model ---------------------------------------------------------------------


def _results(call: ModelCall, tool: str) -> list[ToolResultMessage]:
    return [m for m in call.messages if isinstance(m, ToolResultMessage) and m.name == tool]


def _offline(call: ModelCall) -> Reply:
    """Play each role from its system prompt, deciding from the conversation so far."""
    system = call.system.lower()
    ticket = next(
        (m.content for m in call.messages if isinstance(m, TextMessage) and m.role == "user"), ""
    )
    found = re.search(r"T-\d+", ticket)
    ticket_id = found[0] if found else "unknown"
    if "support supervisor" in system:
        if any(isinstance(m, TextMessage) and m.role == "assistant" for m in call.messages):
            return tool_call("done")
        target = "Technical Support" if "critical" in ticket.lower() else "Customer Support"
        return tool_call("route_to_agent", {"agent": target})
    if "technical support" in system:
        if not _results(call, "search_latest_release_notes"):
            return tool_call("search_latest_release_notes", {"query": "dashboard 500 release"})
        asked = _results(call, "ask_developer")
        if not asked:
            return tool_call(
                "ask_developer",
                {
                    "question": f"Ticket {ticket_id}: dashboards return HTTP 500 since 2.5.0. "
                    "Is this the known widget-limit issue, and what is the workaround?",
                    "context": "Release notes of 2.5.0 mention HTTP 500 for large dashboards.",
                },
            )
        if asked[-1].is_error:
            return text(
                "I could not reach a developer in time. The 2.5.0 release notes describe this "
                "exact failure; I have escalated the ticket and will update you shortly."
            )
        reply = asked[-1].content.get("developerResponse")
        return text(f"Our developers confirmed the cause (release 2.5.0). Workaround: {reply}")
    if not _results(call, "search_knowledge_base"):
        return tool_call("search_knowledge_base", {"query": "invoice download"})
    if not _results(call, "update_ticket"):
        return tool_call(
            "update_ticket",
            {
                "ticketId": ticket_id,
                "priority": "low",
                "status": "resolved",
                "note": "Pointed the customer to Settings > Billing > Invoices.",
            },
        )
    return text(
        "You can download every invoice as a PDF under Settings > Billing > Invoices. "
        "I have marked your ticket as resolved."
    )


def pick_model() -> tuple[Model, str]:
    """A real provider when a key is set, else the embedded offline model."""
    return from_environment(FunctionModel(_offline, model="offline-support"))


model, model_description = pick_model()

# -- agents and the network ------------------------------------------------------------------

customer_support = create_agent(
    name="Customer Support",
    description="Helps customers with account, billing and how-to questions",
    system=(
        "You are a helpful, professional and courteous customer support agent. Search the "
        "knowledge base, update the ticket (status, priority and a note) and then answer the "
        "customer thoroughly."
    ),
    tools=[search_knowledge_base, update_ticket],
    max_iter=4,
)

technical_support = create_agent(
    name="Technical Support",
    description="Resolves critical and technical tickets",
    system=(
        "You are a technical support specialist resolving critical tickets. Diagnose the "
        "problem, search the latest release notes, and use ask_developer when you need a "
        "developer's input. Then give the customer a clear answer with a solution."
    ),
    tools=[search_latest_release_notes, ask_developer],
    max_iter=4,
)

supervisor = create_routing_agent(
    name="Supervisor",
    description="I am a support supervisor.",
    system=(
        "You are a support supervisor. Route critical tickets to 'Technical Support' and "
        "ticket updates or non-critical tickets to 'Customer Support' with route_to_agent. "
        "Think step by step. Once an agent has answered the customer or updated the ticket, "
        "call done."
    ),
    tools=[route_to_agent, done],
    tool_choice="any",
    on_route=lambda *, agent, network, result: _chosen(result),
)


def _chosen(result: AgentResult) -> list[str]:
    """The supervisor's decision: the agent it routed to, or nothing (done)."""
    for message in result.tool_calls:
        if message.name == "route_to_agent" and not message.is_error:
            return [str(message.content)]
        if message.name == "done":
            return []
    return []


def support_router(*, network: NetworkRun) -> object:
    """An agent that stopped in the middle of its tools continues; otherwise the
    supervisor decides (a code router handing over to a routing agent)."""
    last = network.state.results[-1] if network.state.results else None
    if last is not None and last.output and isinstance(last.output[-1], ToolCallMessage):
        return last.agent_name
    return supervisor


support_network = create_network(
    name="Support Network",
    description="Answers support tickets, asking a developer when needed",
    agents=[customer_support, technical_support],
    default_model=model,
    router=support_router,
    max_iter=8,
)

# -- the workflow: one code path for plain Python and Inngest --------------------------------


class TicketNotFound(InputError):
    """The event names a ticket that does not exist (retrying cannot help)."""


def ticket_prompt(ticket: Ticket) -> str:
    return (
        f"Ticket {ticket.id} from {ticket.customer} ({ticket.priority} priority): "
        f"{ticket.title}\n\n{ticket.description}"
    )


async def handle_ticket(ticket_id: str, *, runner: StepRunner) -> dict[str, Any]:
    """Load the ticket in a step, then run the support network on it."""

    async def load() -> dict[str, Any] | None:
        ticket = desk.get(ticket_id)
        return None if ticket is None else ticket.model_dump(mode="json")

    found = await runner.run("get_ticket_details", load)
    if found is None:
        raise TicketNotFound(
            f"ticket {ticket_id!r} does not exist; check data.ticketId of the "
            f"{TICKET_CREATED} event"
        )
    ticket = Ticket.model_validate(found)
    run = await support_network.run(ticket_prompt(ticket), runner=runner)
    return {
        "response": run.output,
        "ticket": found,
        "agents": [result.agent_name for result in run.results],
        "usage": run.usage.model_dump(),
    }


inngest_client = inngest.Inngest(app_id=APP_ID)


@inngest_client.create_function(
    fn_id="support-agent-workflow",
    name="Support agent workflow",
    trigger=inngest.TriggerEvent(event=TICKET_CREATED),
)
async def support_agent_workflow(ctx: inngest.Context) -> dict[str, Any]:
    ticket_id = ctx.event.data.get("ticketId")
    if not isinstance(ticket_id, str) or not ticket_id:
        raise inngest.NonRetriableError(f"{TICKET_CREATED} needs data.ticketId (a string)")
    try:
        return await handle_ticket(ticket_id, runner=InngestRunner(ctx))
    except AgentKitError as err:
        mapped = to_inngest_error(err)
        if mapped is err:
            raise
        raise mapped from err


# -- plain Python --------------------------------------------------------------------------

CANNED_REPLY = "Known issue in 2.5.0 with more than 50 widgets. Roll back to 2.4.1; fix in 2.5.1."


def developer_reply(ticket_id: str, *, interactive: bool) -> Any:
    """Answers the ``ask_developer`` wait in plain Python: typed in, or a canned reply."""

    async def answer(wait: EventWait) -> dict[str, Any]:
        print(f"\n[{wait.step_id}] the agent waits for {wait.event} ({wait.if_exp})")
        reply = CANNED_REPLY
        if interactive:
            typed = (await asyncio.to_thread(input, "Developer, your answer: ")).strip()
            reply = typed or reply
        else:
            print(f"  canned developer reply: {reply}")
        return {
            "name": wait.event,
            "data": {"ticketId": ticket_id, "answer": reply, "timestamp": "2025-01-01T12:00:00Z"},
        }

    return answer


def main(argv: list[str]) -> int:
    ticket_id = argv[0] if argv else "T-1001"
    print(f"Model: {model_description}\n")
    runner = InlineRunner(
        on_wait_for_event=developer_reply(ticket_id, interactive=sys.stdin.isatty())
    )
    try:
        outcome = asyncio.run(handle_ticket(ticket_id, runner=runner))
    except TicketNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"\nTicket {ticket_id}: {outcome['ticket']['title']}")
    print(f"Handled by: {', '.join(outcome['agents'])}")
    print(f"\nResponse:\n  {outcome['response']}")
    print(f"\nTicket updates: {desk.updates or 'none'}")
    usage = outcome["usage"]
    print(f"Tokens: {usage['input_tokens']} in, {usage['output_tokens']} out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
