"""AgentKit docs, advanced-patterns/ui-streaming and legacy-ui-streaming: a tool
publishes its own typed messages to the thread's channel, delivered once per step
over SSE and Realtime, typed on the client side (issue 15 point 4), and the chat
function that runs a network with history and streaming in your own function."""

from __future__ import annotations

import collections
import subprocess
from pathlib import Path
from typing import Any, Literal

import httpx
import inngest
import jsonschema
import pydantic
import pytest

from agentkit_inngest import (
    State,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    create_state,
    create_tool,
    route_in_order,
)
from agentkit_inngest.errors import InputError
from agentkit_inngest.history import SQLiteStore
from agentkit_inngest.streaming import (
    CallbackPublisher,
    MemoryBroker,
    StreamEvent,
    Topic,
    stream_schema,
    typescript_types,
)
from agentkit_inngest.testing import FunctionModel, ModelCall, ScriptedModel, text, tool_call

from .event_data import as_str
from .message_helpers import content
from .porting_helpers import collect_until, inngest_dev, tool_results


class ChatMessage(pydantic.BaseModel):  # TS: topic("messages").schema(z.object({ message, id }))
    message: str
    id: str


class Status(pydantic.BaseModel):  # TS: topic("status").schema(z.enum([...]))
    status: Literal["running", "completed", "error"]


MESSAGES = Topic("messages", ChatMessage)
STATUS = Topic("status", Status)


class DatabaseState(pydantic.BaseModel):
    dba_agent_answer: str | None = None


class ProvideAnswer(pydantic.BaseModel):
    answer: str


async def provide_answer(params: ProvideAnswer, ctx: ToolContext) -> str:
    ctx.network.state.data.dba_agent_answer = params.answer
    # TS: await publish(createChannel(threadId).messages({ message: ..., id: crypto.randomUUID() }))
    await ctx.publish(MESSAGES, {"message": f"answer: {params.answer}", "id": ctx.call.id})
    return "saved"


def answer_then_stop(call: ModelCall) -> Any:
    if tool_results(call):
        return text("The answer is saved.")
    return tool_call("provide_answer", {"answer": "Add an index"}, id="call-answer")


def database_network(effects: collections.Counter[str]) -> Any:
    async def counted(params: ProvideAnswer, ctx: ToolContext) -> str:
        effects["provide_answer"] += 1
        return await provide_answer(params, ctx)

    dba = create_agent(
        name="Database administrator",
        model=FunctionModel(answer_then_stop),
        tools=[create_tool(name="provide_answer", parameters=ProvideAnswer, handler=counted)],
        max_iter=2,
    )

    def on_finish(*, network: Any) -> None:
        return None  # hooks publish too: network.publish(STATUS, ...)

    return create_network(
        name="Database network",
        agents=[dba],
        router=route_in_order(dba),
        default_state=State(DatabaseState()),
    )


async def test_a_tool_publishes_typed_messages_once_over_sse_and_realtime() -> None:
    effects: collections.Counter[str] = collections.Counter()
    network = database_network(effects)
    broker = MemoryBroker()
    async with inngest_dev("realtime-app") as (executor, client), executor.subscribe() as rt:

        @client.create_function(
            fn_id="database-agent", trigger=inngest.TriggerEvent(event="database-agent/run")
        )
        async def database_agent(ctx: inngest.Context) -> Any:
            return await network.run(ctx.event.data["query"])

        # TS: new Inngest({ id, middleware: [realtimeMiddleware()] }): here the app streams
        url = await executor.attach(
            create_server(client=client, functions=[database_agent], broker=broker, realtime=True)
        )
        async with broker.subscribe("thread-1") as via_sse:
            run = await executor.run(
                "database-agent", {"threadId": "thread-1", "query": "Slow query?"}
            )
            sse = await collect_until(via_sse, "run.completed")
        realtime = [rt.get_nowait() for _ in range(rt.qsize())]
        async with httpx.AsyncClient(timeout=30) as http:
            token = await http.get(url.removesuffix("/api/inngest") + "/streams/thread-1/token")
    assert run.output["state"]["data"] == {"dba_agent_answer": "Add an index"}
    assert effects["provide_answer"] == 1
    custom = [e for e in sse if e.type == "custom"]
    assert [(e.agent, e.data) for e in custom] == [
        (
            "Database administrator",
            {
                "topic": "messages",
                "data": {"message": "answer: Add an index", "id": "call-answer"},
                "tool_call_id": "call-answer",
            },
        )
    ]
    # typed on a Python client
    assert MESSAGES.parse(custom[0]) == ChatMessage(
        message="answer: Add an index", id="call-answer"
    )
    assert STATUS.parse(custom[0]) is None
    # the same events on Realtime, once each, the custom one on the "custom" topic
    events = [StreamEvent.model_validate(data) for _, _, data in realtime]
    assert events == sse
    assert [topic for _, topic, _ in realtime].count("custom") == 1
    assert "custom" in token.json()["topics"]
    # every event fits the schema a browser client gets
    schema = stream_schema([MESSAGES, STATUS])
    for event in sse:
        jsonschema.validate(event.model_dump(mode="json"), schema)
    # and declares every field a built-in event carries (the run's cost included)
    declared = {
        branch["properties"]["type"]["const"]: branch["properties"]["data"]["properties"]
        for branch in schema["oneOf"]
    }
    undeclared = {
        (e.type, key)
        for e in sse
        if e.type != "custom"
        for key in e.data
        if key not in declared[e.type]
    }
    assert not undeclared


async def test_published_data_is_checked_before_it_goes_anywhere() -> None:
    published: list[StreamEvent] = []

    async def publish_bad(params: ProvideAnswer, ctx: ToolContext) -> str:
        await ctx.publish(STATUS, {"status": "sleeping"})
        return "unreachable"

    async def publish_untyped(params: ProvideAnswer, ctx: ToolContext) -> str:
        await ctx.publish("progress", {"percent": 50})  # a topic without a model: any JSON
        await ctx.publish("progress", b"bytes")  # not JSON: refused
        return "unreachable"

    from agentkit_inngest import InlineRunner

    for handler, expected in [
        (publish_bad, "custom event 'status': status: Input should be"),
        (publish_untyped, "custom event 'progress': the data is not JSON"),
    ]:
        tool = create_tool(name="t", parameters=ProvideAnswer, handler=handler)
        agent = create_agent(
            name="A",
            model=ScriptedModel([tool_call("t", {"answer": "x"}), text("ok")]),
            tools=[tool],
            max_iter=2,
        )

        async def keep(event: StreamEvent) -> None:
            published.append(event)

        result = await agent.run("q", runner=InlineRunner(publisher=CallbackPublisher(keep)))
        assert result.tool_calls[0].is_error
        assert expected in result.tool_calls[0].content["message"]
    assert [e.data["data"] for e in published if e.type == "custom"] == [{"percent": 50}]
    with pytest.raises(InputError, match="use 1-64 letters"):
        Topic("no spaces allowed", ChatMessage)


def test_typescript_types_narrow_custom_topics_and_tool_calls() -> None:
    tool = create_tool(name="provide_answer", parameters=ProvideAnswer, handler=provide_answer)
    declared = typescript_types([MESSAGES, STATUS], tools=[tool])
    assert 'export type ChatMessage = { "message": string; "id": string };' in declared
    assert '"status": "running" | "completed" | "error"' in declared
    assert 'data: { topic: "messages"; data: ChatMessage; tool_call_id: string | null }' in declared
    assert 'name: "provide_answer"; arguments: ToolArguments["provide_answer"]' in declared
    assert 'export type ToolArguments = { "provide_answer": { "answer": string } };' in declared


def test_the_generated_types_compile_with_typescript(tmp_path: Path) -> None:
    tsc = _tsc()
    tool = create_tool(name="provide_answer", parameters=ProvideAnswer, handler=provide_answer)
    (tmp_path / "events.ts").write_text(
        typescript_types([MESSAGES, STATUS], tools=[tool])
        + """
export function show(event: AgentKitEvent): string {
  if (event.type === "custom" && event.data.topic === "messages") {
    return event.data.data.message;
  }
  if (event.type === "tool.call" && event.data.name === "provide_answer") {
    return event.data.arguments.answer;
  }
  if (event.type === "usage") {
    return `${event.data.model ?? "?"}: ${event.data.cost_usd ?? "unpriced"}`;
  }
  if (event.type === "run.completed") {
    return JSON.stringify([event.data.output, event.data.cost, event.data.answer]);
  }
  return event.type;
}
"""
    )
    done = subprocess.run(
        [tsc, "--strict", "--noEmit", "--target", "es2020", str(tmp_path / "events.ts")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _tsc() -> str:
    found = Path(__file__).resolve().parent / ".tools" / "node_modules" / ".bin" / "tsc"
    if not found.exists():
        pytest.skip("TypeScript is not installed (tests/.tools: npm install typescript)")
    return str(found)


async def test_the_chat_function_streams_a_thread_with_history_from_your_own_function(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(str(tmp_path / "chat.db"))  # the page's PostgresHistoryAdapter
    model = ScriptedModel([text("Hello, how can I help?"), text("Your order ships today.")])
    support = create_agent(name="Customer support", model=model)
    network = create_network(
        name="Support", agents=[support], router=route_in_order(support), history=store
    )
    broker = MemoryBroker()
    async with inngest_dev("chat-app") as (executor, client):

        @client.create_function(
            fn_id="run-agent-chat", trigger=inngest.TriggerEvent(event="agent/chat.requested")
        )
        async def run_agent_chat(ctx: inngest.Context) -> Any:
            data = ctx.event.data
            # TS: createState({ customerId }, { messages: history, threadId })
            state = create_state({"customerId": data["userId"]}, thread_id=as_str(data["threadId"]))
            return await network.run(as_str(data["message"]), state=state)

        await executor.attach(
            create_server(client=client, functions=[run_agent_chat], broker=broker)
        )
        for message in ["Hi", "Where is my order?"]:
            async with broker.subscribe("thread-9") as stream:
                await executor.send(
                    {
                        "name": "agent/chat.requested",
                        "data": {"userId": "u1", "threadId": "thread-9", "message": message},
                    }
                )
                types = [e.type for e in await collect_until(stream, "run.completed")]
            assert types[0] == "run.started" and "text.delta" in types
    # the second turn saw the first one: the thread's history came from the store
    assert [content(m) for m in model.calls[1].messages] == [
        "Hi",
        "Hello, how can I help?",
        "Where is my order?",
    ]
    saved = await store.load("thread-9", limit=10)
    assert [content(m) for m in saved][-1] == "Your order ships today."
