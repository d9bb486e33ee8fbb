"""AgentKit docs, advanced-patterns/human-in-the-loop: a tool that waits for a
developer's reply event, a support network, and the network run inside your own
Inngest function (issue 15 points 1, 2, 3 and 12, written as a porting user would)."""

from __future__ import annotations

import datetime
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pydantic
import pytest

from agentkit_inngest import (
    AgentKitMiddleware,
    EventWait,
    InlineRunner,
    Lifecycle,
    ToolContext,
    create_agent,
    create_client,
    create_network,
    create_routing_agent,
    create_tool,
)
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.testing import ModelCall, ScriptedModel, text, tool_call

from .event_data import as_str
from .porting_helpers import inngest_dev, serve_app, tool_results

REPLY_EVENT = "app/support.ticket.developer-response"


class AskDeveloper(pydantic.BaseModel):
    question: str = pydantic.Field(description="The technical question for the developer")
    context: str = pydantic.Field(description="Additional context about the issue")


async def ask_developer_handler(params: AskDeveloper, ctx: ToolContext) -> dict[str, Any]:
    # TS's `if (!step)` needs no port: in plain Python the wait asks the runner's
    # on_wait_for_event (or fails saying so); ctx.step.durable says which it is
    developer_response = await ctx.step.wait_for_event(
        "developer.response",
        event=REPLY_EVENT,
        timeout="4h",  # issue 15 point 1: a duration string, as in TypeScript
        match="data.ticketId",  # issue 15 points 1 and 12: AgentKit's match
    )
    if developer_response is None:
        return {"error": "No developer response provided"}
    return {
        "developerResponse": developer_response["data"]["answer"],
        "responseTime": developer_response["data"]["timestamp"],
    }


def ask_developer_tool() -> Any:
    return create_tool(
        name="ask_developer",
        description="Ask a developer for input on a technical issue",
        parameters=AskDeveloper,
        handler=ask_developer_handler,
        uses_steps=True,
    )


def support_network(model: ScriptedModel, router_model: ScriptedModel) -> Any:
    customer_support = create_agent(
        name="Customer Support",
        description="Answers customer questions",
        system="You are a helpful customer support agent.",
        model=model,
        tools=[ask_developer_tool()],
        max_iter=3,
    )
    technical_support = create_agent(
        name="Technical Support",
        description="Handles technical issues",
        system="You are a technical support specialist.",
        model=model,
    )

    def on_route(*, result: Any) -> list[str]:  # TS: onRoute: ({ result }) => ...
        chosen = result.text.strip()
        return [chosen] if chosen in ("Customer Support", "Technical Support") else []

    supervisor = create_routing_agent(
        name="Supervisor",
        description="Routes the ticket",
        system="Name the agent that should handle the ticket next, or say done.",
        model=router_model,
        lifecycle=Lifecycle(on_route=on_route),  # issue 15 point 12: TS's lifecycle.onRoute
    )
    return create_network(
        name="Support Network",
        agents=[customer_support, technical_support],
        default_model=model,
        router=supervisor,
    )


def asks_then_answers() -> ScriptedModel:
    def answer(call: ModelCall) -> Any:
        reply = tool_results(call)[-1].content
        return text(f"The developer says: {reply['developerResponse']}")

    return ScriptedModel(
        [
            tool_call("ask_developer", {"question": "Why does login fail?", "context": "T-1"}),
            answer,
        ]
    )


async def test_the_ask_developer_tool_waits_4h_on_the_ticket_id_in_plain_python() -> None:
    waits: list[EventWait] = []

    async def developer(wait: EventWait) -> dict[str, Any]:
        waits.append(wait)
        return {"data": {"ticketId": "T-1", "answer": "Clear the cache", "timestamp": 1}}

    agent = create_agent(
        name="Customer Support", model=asks_then_answers(), tools=[ask_developer_tool()]
    )
    result = await agent.run(
        "Login fails", runner=InlineRunner(on_wait_for_event=developer), max_iter=2
    )
    assert result.text == "The developer says: Clear the cache"
    assert [w.timeout for w in waits] == [datetime.timedelta(hours=4)]
    assert waits[0].if_exp == "async.data.ticketId == event.data.ticketId"
    assert waits[0].step_id == "Customer Support#1/tool/ask_developer/developer.response"


async def test_step_waits_refuse_match_and_if_exp_together_and_bad_paths() -> None:
    async def both(params: AskDeveloper, ctx: ToolContext) -> Any:
        return await ctx.step.wait_for_event(
            "w", event=REPLY_EVENT, timeout="4h", match="data.ticketId", if_exp="true"
        )

    tool = create_tool(name="both", parameters=AskDeveloper, handler=both, uses_steps=True)
    agent = create_agent(
        name="A",
        model=ScriptedModel([tool_call("both", {"question": "q", "context": "c"}), text("ok")]),
        tools=[tool],
    )

    async def never(wait: EventWait) -> None:
        raise AssertionError("must not wait")

    # code to fix, not a tool error the model would read and work around
    with pytest.raises(ConfigurationError, match="pass match= or if_exp=, not both"):
        await agent.run("q", runner=InlineRunner(on_wait_for_event=never), max_iter=2)

    async def bad_path(params: AskDeveloper, ctx: ToolContext) -> Any:
        return await ctx.step.wait_for_event("w", event=REPLY_EVENT, timeout="4h", match="a == b")

    tool = create_tool(name="bad", parameters=AskDeveloper, handler=bad_path, uses_steps=True)
    agent = agent.replace(
        tools=[tool],
        model=ScriptedModel([tool_call("bad", {"question": "q", "context": "c"}), text("ok")]),
    )
    with pytest.raises(ConfigurationError, match="match must be a field path"):
        await agent.run("q", runner=InlineRunner(on_wait_for_event=never), max_iter=2)


async def test_the_support_workflow_runs_the_network_in_your_own_function_and_waits() -> None:
    model, router_model = (
        asks_then_answers(),
        ScriptedModel([text("Customer Support"), text("done")]),
    )
    network = support_network(model, router_model)
    tickets = {"T-1": {"ticketId": "T-1", "title": "Login fails after the update"}}

    async with inngest_dev("my-agentkit-network") as (executor, client):

        @client.create_function(
            fn_id="support-agent-workflow",
            trigger=inngest.TriggerEvent(event="app/support.ticket.created"),
        )
        async def support_agent_workflow(ctx: inngest.Context) -> dict[str, Any]:
            ticket_id = as_str(ctx.event.data["ticketId"])

            async def get_ticket_details() -> dict[str, str] | None:
                return tickets.get(ticket_id)

            ticket = await ctx.step.run("get_ticket_details", get_ticket_details)
            if not ticket:
                raise inngest.NonRetriableError("Ticket not found")
            response = await network.run(ticket["title"])  # no runner: point 2
            return {"response": response, "ticket": ticket}  # the run itself: point 3

        await serve_app(executor, client=client, functions=[support_agent_workflow])
        run = executor.start(
            "support-agent-workflow",
            event={"name": "app/support.ticket.created", "data": {"ticketId": "T-1"}},
        )
        pause = await executor.wait_for_pause(run)
        assert pause.if_exp == "async.data.ticketId == event.data.ticketId"
        assert pause.name == "Customer Support#1/tool/ask_developer/developer.response"
        # another ticket's reply does not resume this run
        await executor.send({"name": REPLY_EVENT, "data": {"ticketId": "T-2", "answer": "no"}})
        await executor.send(
            {
                "name": REPLY_EVENT,
                "data": {"ticketId": "T-1", "answer": "Clear the cache", "timestamp": 7},
            }
        )
        done = await run.wait()

    assert done.status == "completed", done.error
    assert done.output["ticket"] == tickets["T-1"]
    response = done.output["response"]
    assert response["output"] == "The developer says: Clear the cache"
    assert response["network"] == "Support Network"
    assert [r["agent_name"] for r in response["results"]] == ["Customer Support"]
    assert executor.executed(done) == [
        "get_ticket_details",
        "Supervisor#1/infer",
        "Customer Support#1/infer",
        "Customer Support#1/infer#2",
        "Supervisor#2/infer",
    ]
    # the model answered twice and the router twice: every inference ran once
    assert len(model.calls) == 2 and len(router_model.calls) == 2


async def test_a_function_without_the_middleware_fails_saying_what_to_pass() -> None:
    network = support_network(ScriptedModel([]), ScriptedModel([]))
    async with inngest_dev("plain-app") as (executor, _):
        client = inngest.Inngest(
            app_id="plain-app",
            api_base_url=executor.api_url,
            event_api_base_url=executor.api_url,
            is_production=False,
        )

        @client.create_function(
            fn_id="support-agent-workflow",
            trigger=inngest.TriggerEvent(event="app/support.ticket.created"),
            retries=0,
        )
        async def workflow(ctx: inngest.Context) -> Any:
            return (await network.run("Login fails")).to_json()

        app = fastapi.FastAPI()
        inngest.fast_api.serve(app, client, [workflow])  # served without create_server
        await executor.attach(app)
        run = await executor.run("support-agent-workflow", {"ticketId": "T-1"}, check=False)
    assert run.status == "failed"
    message = str(run.error)
    assert "runner=InngestRunner(ctx)" in message and "AgentKitMiddleware" in message


async def test_the_inngest_client_of_the_page_carries_the_middleware() -> None:
    client = create_client("my-agentkit-network", is_production=False)
    assert client.app_id == "my-agentkit-network"
    assert AgentKitMiddleware in client.middleware
    own = inngest.Inngest(app_id="my-agentkit-network", middleware=[AgentKitMiddleware])
    assert own.middleware.count(AgentKitMiddleware) == 1


def test_a_plain_agent_cannot_take_on_route() -> None:
    with pytest.raises(ConfigurationError, match="for routing agents"):
        create_agent(name="A", lifecycle=Lifecycle(on_route=lambda **_: []))
    with pytest.raises(ConfigurationError, match="needs an on_route function"):
        create_routing_agent(name="R")
