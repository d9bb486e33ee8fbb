"""AgentKit docs, concepts/state and reference/state: typed state with
``create_state`` (issue 15 point 12), tools writing it, the message types, and how
the deprecated ``kv`` compares."""

from __future__ import annotations

import pydantic

from agentkit_inngest import (
    AgentResult,
    Message,
    State,
    TextMessage,
    ToolCallMessage,
    ToolContext,
    ToolResultMessage,
    create_agent,
    create_network,
    create_state,
    create_tool,
    route_in_order,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call


class NetworkState(pydantic.BaseModel):  # TS: interface NetworkState { username?: string }
    username: str | None = None


def test_create_state_is_typed_and_assignable() -> None:
    # TS: const state = createState<NetworkState>({ username: "default-username" })
    state = create_state(NetworkState(username="default-username"))
    assert state.data.username == "default-username"
    state.data.username = "Alice"
    assert state.to_json()["data"] == {"username": "Alice"}
    # with the options of createState(data, { messages, threadId })
    history: list[Message] = [TextMessage(role="user", content="Hi")]
    threaded = create_state({"userId": "u1"}, messages=history, thread_id="thread-456")
    assert isinstance(threaded, State) and threaded.thread_id == "thread-456"
    assert threaded.messages == history and threaded.data == {"userId": "u1"}


class File(pydantic.BaseModel):
    filename: str
    content: str


class WriteFiles(pydantic.BaseModel):
    files: list[File]


class CodeState(pydantic.BaseModel):
    files: dict[str, str] = {}


async def test_a_tool_merges_files_into_typed_state() -> None:
    def write_files(output: WriteFiles, ctx: ToolContext) -> str:
        # TS: const files = network.state.data.files || {}; ...; network.state.data.files = files
        files = dict(ctx.network.state.data.files)
        for file in output.files:
            files[file.filename] = file.content
        ctx.network.state.data.files = files
        return "written"

    write_files_tool = create_tool(
        name="write_files",
        description="Write code with the given filenames",
        parameters=WriteFiles,
        handler=write_files,
    )
    coder = create_agent(
        name="Coder",
        model=ScriptedModel(
            [
                tool_call("write_files", {"files": [{"filename": "a.ts", "content": "1"}]}),
                tool_call("write_files", {"files": [{"filename": "b.ts", "content": "2"}]}),
                text("done"),
            ]
        ),
        tools=[write_files_tool],
        max_iter=3,
    )
    network = create_network(
        name="Coding",
        agents=[coder],
        router=route_in_order(coder),
        default_state=create_state(CodeState()),
    )
    run = await network.run("Write two files")
    assert run.state.data.files == {"a.ts": "1", "b.ts": "2"}


async def test_a_state_passed_to_run_comes_back_with_results_and_messages() -> None:
    # TS: network.run("<query>", { state }); reference/state's InferenceResult fields
    agent = create_agent(
        name="Greeter",
        model=ScriptedModel([tool_call("lookup", {}), text("Hi Alice")]),
        tools=[create_tool(name="lookup", handler=lambda ctx: ctx.state.data.username)],
        max_iter=2,
    )
    network = create_network(name="Greet", agents=[agent], router=route_in_order(agent))
    state = create_state(NetworkState(username="Alice"))
    run = await network.run("Hello", state=state)
    assert run.state is state
    result: AgentResult = state.results[-1]
    assert result.agent_name == "Greeter" and result.text == "Hi Alice"
    kinds = [type(m).__name__ for m in state.messages]
    assert kinds == ["TextMessage", "ToolCallMessage", "ToolResultMessage", "TextMessage"]
    call = state.messages[1]
    assert isinstance(call, ToolCallMessage) and call.tools[0].name == "lookup"
    reply = state.messages[2]
    assert isinstance(reply, ToolResultMessage) and reply.content == "Alice"


def test_kv_is_its_own_store_not_a_view_of_the_data() -> None:
    # TS (deprecated kv): new State({ foo: 'bar' }).kv.get('foo') === 'bar' (a copy of
    # the initial data). Here data and kv are separate: read the data, or seed kv.
    state = State({"foo": "bar"})
    assert state.data["foo"] == "bar" and state.kv.get("foo") is None
    seeded = create_state({"foo": "bar"}, kv={"foo": "bar"})
    seeded.kv.set("foo", "baz")
    assert seeded.kv.get("foo") == "baz" and seeded.data["foo"] == "bar"  # as in TS
    assert seeded.kv.all() == {"foo": "baz"} and seeded.kv.has("foo")
    assert seeded.kv.delete("foo") and not seeded.kv.has("foo")
