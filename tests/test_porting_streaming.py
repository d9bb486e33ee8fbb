"""AgentKit docs, streaming (overview, usage-guide, events): the server side of a chat
UI in Python (agents with tool_choice and state, a sequence router, the network run in
your own function with history and streaming, the Inngest and token routes) and a
client reading the stream as useAgent's callbacks would (onEvent, onToolResult,
onStreamEnded). The React hooks themselves have no Python port: docs/porting.md names
the chat page (examples/ui) as their equivalent."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import fastapi
import httpx
import inngest
import pydantic

from agentkit_inngest import (
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    create_state,
    create_tool,
    route_in_order,
)
from agentkit_inngest.streaming import BrokerPublisher, MemoryBroker, StreamEvent
from agentkit_inngest.testing import FunctionModel, ModelCall, ScriptedModel, text, tool_call

from .event_data import as_mapping, as_str
from .porting_helpers import collect_until, inngest_dev, tool_results

EVENT_TYPES = ["app/user.signup", "app/order.placed", "app/order.refunded"]


class GenerateSql(pydantic.BaseModel):
    sql: str
    title: str
    reasoning: str


def generate_sql(params: GenerateSql, ctx: ToolContext) -> dict[str, str]:
    ctx.network.state.data["sql"] = params.sql
    return params.model_dump()  # TS: return { sql, title, reasoning }


class SelectEvents(pydantic.BaseModel):
    events: list[str] = pydantic.Field(min_length=1, max_length=6)  # z.array().min(1).max(6)


def select_events(params: SelectEvents, ctx: ToolContext) -> list[str]:
    known = ctx.network.state.data.get("eventTypes", [])
    chosen = [e for e in params.events if e in known]
    ctx.network.state.data["selectedEvents"] = chosen
    return chosen


def summarizer_system(*, network: NetworkRun) -> str:  # TS: system: async ({ network }) => ...
    data = network.state.data
    return f"Summarize. Events: {', '.join(data['selectedEvents'])}. SQL: {data['sql']}"


def answer(call: ModelCall) -> Any:
    done = [r.name for r in tool_results(call)]
    if call.tool_names == ["select_events"] and "select_events" not in done:
        return tool_call("select_events", {"events": ["app/order.placed", "app/unknown"]})
    if call.tool_names == ["generate_sql"] and "generate_sql" not in done:
        sql = "SELECT count(*) FROM events WHERE name = 'app/order.placed'"
        return tool_call("generate_sql", {"sql": sql, "title": "Orders", "reasoning": "count"})
    if call.system.startswith("Summarize"):
        return text("There were 42 orders.")
    return text("ok")


event_matcher = create_agent(
    name="Event matcher",
    description="Picks the relevant event types",
    system="Select the events the question is about.",
    model=FunctionModel(answer),
    tools=[create_tool(name="select_events", parameters=SelectEvents, handler=select_events)],
    tool_choice="select_events",
)
query_writer = create_agent(
    name="Query writer",
    description="Writes the SQL",
    system=lambda *, network: f"Write SQL over {network.state.data['selectedEvents']}.",
    model=FunctionModel(answer),
    tools=[create_tool(name="generate_sql", parameters=GenerateSql, handler=generate_sql)],
    tool_choice="generate_sql",
)
summarizer = create_agent(
    name="Summarizer",
    description="Summarizes",
    system=summarizer_system,
    model=FunctionModel(answer),
)
insights_network = create_network(
    name="Insights network",
    description="Answers questions about events",
    agents=[event_matcher, query_writer, summarizer],
    max_iter=6,
    router=route_in_order(event_matcher, query_writer, summarizer),  # TS: sequenceRouter
)


def run_agent_network(client: inngest.Inngest) -> Any:
    @client.create_function(
        fn_id="run-insights-agent",
        name="Run insights agent",
        trigger=inngest.TriggerEvent(event="insights-agent/chat.requested"),
    )
    async def run_insights_agent(ctx: inngest.Context) -> Any:
        data = ctx.event.data

        async def generate_thread_id() -> str:
            return uuid.uuid4().hex

        thread_id = data.get("threadId") or await ctx.step.run(
            "generate-thread-id", generate_thread_id
        )
        user_message = as_mapping(data["userMessage"])  # TS: { id, content, role }
        state = create_state(
            {"userId": data["userId"], **as_mapping(data.get("state", {}))},
            thread_id=as_str(thread_id),
        )
        return await insights_network.run(as_str(user_message["content"]), state=state)

    return run_insights_agent


async def test_the_insights_network_streams_to_a_client_reading_events() -> None:
    broker = MemoryBroker()

    def owns_thread(request: fastapi.Request, thread_id: str) -> bool:
        return request.headers.get("x-user") == "user-1" and thread_id == "thread-1"

    async with inngest_dev("insights-app") as (executor, client):
        # TS: serve({ client: inngest, functions: [runAgentNetwork] }) (inngest/next)
        url = await executor.attach(
            create_server(
                client=client,
                functions=[run_agent_network(client)],
                broker=broker,
                realtime=True,
                stream_auth=owns_thread,
            )
        )
        base = url.removesuffix("/api/inngest")
        events: list[StreamEvent] = []
        results_by_tool: dict[str, Any] = {}
        ended: list[str] = []
        ready = asyncio.Event()
        headers = {"x-user": "user-1"}
        async with httpx.AsyncClient(timeout=30) as http:

            async def listen() -> None:  # useAgent's transport, as an SSE client
                async with http.stream(
                    "GET", f"{base}/streams/thread-1?until=done", headers=headers
                ) as stream:
                    async for line in stream.aiter_lines():
                        if line == "event: ready":
                            ready.set()
                        if line.startswith("data: ") and '"seq"' in line:
                            event = StreamEvent.model_validate(json.loads(line[6:]))
                            events.append(event)  # onEvent
                            if event.type == "tool.result":  # onToolResult, by tool name
                                results_by_tool[event.data["name"]] = event.data["content"]
                ended.append(events[-1].type)  # the stream closed: onStreamEnded

            listener = asyncio.create_task(listen())
            await asyncio.wait_for(ready.wait(), 30)
            await executor.send(
                {
                    "name": "insights-agent/chat.requested",
                    "data": {
                        "threadId": "thread-1",
                        "userId": "user-1",
                        "userMessage": {"id": "m1", "content": "How many orders?", "role": "user"},
                        "state": {"eventTypes": EVENT_TYPES},
                    },
                }
            )
            await asyncio.wait_for(listener, 60)
            (run,) = executor.runs.values()
            await run.wait()
            # TS's token route: getSubscriptionToken(inngest, { channel, topics }) after auth
            token = await http.get(f"{base}/streams/thread-1/token", headers=headers)
            refused = await http.get(f"{base}/streams/thread-1/token", headers={"x-user": "u2"})
    assert run.output["output"] == "There were 42 orders."
    assert run.output["state"]["data"]["selectedEvents"] == ["app/order.placed"]
    assert results_by_tool["generate_sql"]["title"] == "Orders"
    assert ended == ["run.completed"]
    assert token.status_code == 200 and token.json()["channel"] == "thread-1"
    assert refused.status_code == 403


async def test_a_channel_per_user_is_a_publisher_that_picks_the_channel() -> None:
    # TS: channel((userId) => `user:${userId}`).addTopic(topic("agent_stream")...)
    broker = MemoryBroker()

    class UserChannel:
        def __init__(self, user_id: str) -> None:
            self.user_id = user_id
            self.inner = BrokerPublisher(broker)

        async def publish(self, event: StreamEvent) -> None:
            await self.inner.publish(event.model_copy(update={"channel": f"user:{self.user_id}"}))

    from agentkit_inngest import InlineRunner

    agent = create_agent(name="Helper", model=ScriptedModel([text("hi")]))
    async with broker.subscribe("user:u1") as stream:
        await agent.run("hello", runner=InlineRunner(publisher=UserChannel("u1")))
        seen = [e.type for e in await collect_until(stream, "run.completed")]
    assert seen[0] == "run.started" and seen[-1] == "run.completed"


async def test_a_run_of_your_own_function_that_fails_ends_its_stream_with_run_failed() -> None:
    from agentkit_inngest.errors import ConfigurationError

    def broken(ctx: ToolContext) -> str:
        raise ConfigurationError("the warehouse credentials are missing")

    agent = create_agent(
        name="Broken",
        model=ScriptedModel([tool_call("broken")]),
        tools=[create_tool(name="broken", handler=broken)],
    )
    network = create_network(name="Broken", agents=[agent], router=route_in_order(agent))
    broker = MemoryBroker()
    async with inngest_dev("failing-app") as (executor, client):

        @client.create_function(fn_id="chat", trigger=inngest.TriggerEvent(event="app/chat"))
        async def chat(ctx: inngest.Context) -> Any:
            state: State = create_state({}, thread_id=as_str(ctx.event.data["threadId"]))
            return await network.run(as_str(ctx.event.data["message"]), state=state)

        await executor.attach(create_server(client=client, functions=[chat], broker=broker))
        async with broker.subscribe("thread-x") as stream:
            run = await executor.run("chat", {"threadId": "thread-x", "message": "hi"}, check=False)
            seen = await collect_until(stream)
    assert run.status == "failed"
    assert seen[-1].type == "run.failed"
    assert "warehouse credentials" in seen[-1].data["error"]
