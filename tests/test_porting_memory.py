"""AgentKit docs, concepts/memory: memory tools that send events (``step.sendEvent``
with one event), a function that stores them, and memory-aware agents and networks."""

from __future__ import annotations

import asyncio
from typing import Any

import inngest
import pydantic

from agentkit_inngest import (
    Lifecycle,
    NetworkRun,
    StartResult,
    State,
    TextMessage,
    ToolContext,
    create_agent,
    create_function,
    create_network,
    create_server,
    create_tool,
    route_in_order,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call

from .message_helpers import content
from .porting_helpers import inngest_dev

MEM0: list[str] = []  # stands in for the Mem0 client of the page


class CreateMemories(pydantic.BaseModel):
    statements: list[str] = pydantic.Field(description="Statements to remember")


async def create_memories(params: CreateMemories, ctx: ToolContext) -> str:
    # TS: await step?.sendEvent("send-create-memories-event", { name, data }): one event
    await ctx.step.send_event(
        "send-create-memories-event",
        {"name": "app/memories.create", "data": {"statements": params.statements}},
    )
    return f"I have scheduled the creation of {len(params.statements)} new memories."


create_memories_tool = create_tool(
    name="create_memories",
    description="Save new statements to memory",
    parameters=CreateMemories,
    handler=create_memories,
    uses_steps=True,  # it starts a step of its own
)


class RecallMemories(pydantic.BaseModel):
    queries: list[str]


def recall_memories(params: RecallMemories, ctx: ToolContext) -> list[str]:
    return [m for m in MEM0 if any(q.lower() in m.lower() for q in params.queries)]


recall_memories_tool = create_tool(
    name="recall_memories",
    description="Recall memories matching the queries",
    parameters=RecallMemories,
    handler=recall_memories,
)


class Statements(pydantic.BaseModel):
    statements: list[str]


async def test_a_memory_tool_sends_one_event_and_a_function_stores_it() -> None:
    MEM0.clear()
    agent = create_agent(
        name="Memory assistant",
        model=ScriptedModel(
            [tool_call("create_memories", {"statements": ["Alice likes tea"]}), text("Noted.")]
        ),
        tools=[create_memories_tool, recall_memories_tool],
        max_iter=2,
    )
    stored = asyncio.Event()
    async with inngest_dev("memory-app") as (executor, client):

        @create_function(
            client=client,
            fn_id="add-memories",
            input=Statements,
            trigger=inngest.TriggerEvent(event="app/memories.create"),
        )
        async def add_memories(ctx: inngest.Context, request: Statements) -> int:
            async def add_to_mem0() -> None:
                MEM0.extend(request.statements)

            added: object = await ctx.step.run("add-to-mem0", add_to_mem0)
            stored.set()
            return len(request.statements) if added is None else 0

        await executor.attach(
            create_server(client=client, agents=[agent], functions=[add_memories])
        )
        run = await executor.run("agent-memory-assistant", {"input": "I like tea"})
        await asyncio.wait_for(stored.wait(), 30)
    assert run.output["output"] == "Noted."
    assert MEM0 == ["Alice likes tea"]
    sent = [e for e in executor.events if e["name"] == "app/memories.create"]
    assert [e["data"]["statements"] for e in sent] == [["Alice likes tea"]]


class ManageMemories(pydantic.BaseModel):
    creations: list[str] | None = None  # TS: .optional()
    updates: list[str] | None = None
    deletions: list[str] | None = None


async def test_one_tool_manages_memories_with_three_optional_lists() -> None:
    sent: list[list[dict[str, Any]]] = []

    async def manage(params: ManageMemories, ctx: ToolContext) -> str:
        for kind in ("creations", "updates", "deletions"):
            items = getattr(params, kind)
            if items:
                await ctx.step.send_event(
                    f"send-{kind}", {"name": f"app/memories.{kind}", "data": {kind: items}}
                )
        return "scheduled"

    from agentkit_inngest import InlineRunner

    async def send(events: list[dict[str, Any]]) -> list[str]:
        sent.append(events)
        return [f"evt-{len(sent)}"]

    tool = create_tool(
        name="manage_memories", parameters=ManageMemories, handler=manage, uses_steps=True
    )
    agent = create_agent(
        name="Manager",
        model=ScriptedModel(
            [tool_call("manage_memories", {"creations": ["a"], "deletions": ["b"]}), text("ok")]
        ),
        tools=[tool],
        max_iter=2,
    )
    await agent.run("update memory", runner=InlineRunner(on_send_event=send))
    assert sent == [
        [{"name": "app/memories.creations", "data": {"creations": ["a"]}}],
        [{"name": "app/memories.deletions", "data": {"deletions": ["b"]}}],
    ]


class MemoryState(pydantic.BaseModel):  # TS: interface NetworkState { memoriesRetrieved?, ... }
    memories_retrieved: bool = False
    assistant_responded: bool = False


async def test_a_memory_network_in_order_and_on_state_with_lifecycle_hooks() -> None:
    MEM0[:] = ["Alice likes tea"]
    finished: list[str] = []

    async def on_start(*, input: str, prompt: list[Any], history: list[Any]) -> StartResult:
        # TS: onStart: async ({ input, prompt }) => { prompt.push(...memories); return {...} }
        memories = [m for m in MEM0 if "tea" in input]
        extra = [TextMessage(role="user", content=f"Memories: {'; '.join(memories)}")]
        return StartResult(prompt=[*prompt, *extra], history=history)

    def on_finish(*, result: Any, network: NetworkRun) -> None:
        finished.append(result.agent_name)  # TS schedules memory work here (use a tool/step)

    retrieval = create_agent(name="Retrieval", model=ScriptedModel([text("found")]))
    assistant = create_agent(
        name="Assistant",
        model=ScriptedModel([text("You like tea.")]),
        lifecycle=Lifecycle(on_start=on_start, on_finish=on_finish),
    )
    updater = create_agent(name="Updater", model=ScriptedModel([text("updated")]))
    network = create_network(
        name="Memory network",
        agents=[retrieval, assistant, updater],
        router=route_in_order(retrieval, assistant, updater),  # TS: ({ callCount }) => ...
        default_state=State(MemoryState()),
    )
    run = await network.run("Do I like tea?")
    assert [r.agent_name for r in run.results] == ["Retrieval", "Assistant", "Updater"]
    assert finished == ["Assistant"]
    assert isinstance(assistant.model, ScriptedModel)
    prompt = assistant.model.calls[0].messages
    assert any(content(m) == "Memories: Alice likes tea" for m in prompt)

    def on_state(*, network: NetworkRun) -> Any:  # TS: router on network.state.data
        data: MemoryState = network.state.data
        if not data.memories_retrieved:
            data.memories_retrieved = True
            return retrieval.replace(model=ScriptedModel([text("found")]))
        if not data.assistant_responded:
            data.assistant_responded = True
            return assistant.replace(model=ScriptedModel([text("yes")]), lifecycle=None)
        return None

    run = await network.replace(router=on_state).run("Do I like tea?")
    assert [r.agent_name for r in run.results] == ["Retrieval", "Assistant"]
