"""Threads across runs (the flow, with the in-memory store) and context windows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentkit_inngest import (
    Message,
    Network,
    State,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolResultMessage,
    create_agent,
    create_network,
    create_server,
    route_in_order,
)
from agentkit_inngest.history import (
    MemoryStore,
    last_messages,
    last_turns,
    thread_id_for,
    token_budget,
)
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text

from .message_helpers import content


def _network(store: MemoryStore, model: ScriptedModel) -> Network[Any]:
    agent = create_agent(name="Chat", model=model)
    return create_network(name="Chat", agents=[agent], router=route_in_order(agent), history=store)


async def test_second_run_on_a_thread_sees_the_first() -> None:
    store = MemoryStore()
    model = ScriptedModel(
        [text("Hi Ada."), lambda call: text(f"You said: {content(call.messages[0])}")]
    )
    network = _network(store, model)
    first = await network.run("I am Ada.")
    thread_id = first.state.thread_id
    assert thread_id is not None and uuid.UUID(thread_id)
    second = await network.run("Who am I?", state=State(thread_id=thread_id))
    assert [content(m) for m in model.calls[1].messages] == ["I am Ada.", "Hi Ada.", "Who am I?"]
    assert second.output == "You said: I am Ada."
    assert [content(m) for m in await store.load(thread_id)] == [
        "I am Ada.",
        "Hi Ada.",
        "Who am I?",
        "You said: I am Ada.",
    ]


async def test_client_authoritative_history_is_not_read() -> None:
    store = MemoryStore()
    await store.create_thread("t1", metadata={})
    await store.append("t1", [("m0", TextMessage(role="user", content="stored"), None)])
    model = ScriptedModel([text("ok")])
    sent: State[Any] = State(
        messages=[TextMessage(role="user", content="from the client")], thread_id="t1"
    )
    await _network(store, model).run("next", state=sent)
    assert not any(c.startswith("load") for c in store.calls)
    assert [content(m) for m in model.calls[0].messages] == ["from the client", "next"]


async def test_durable_runs_write_each_message_once_and_create_threads_in_a_step() -> None:
    store = MemoryStore()
    model = ScriptedModel([text("first answer"), text("second answer")])
    network = _network(store, model)
    async with LocalExecutor() as executor:
        client = executor.client("hist")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-chat", {"input": "hello"})
        thread_id = run.output["state"]["thread_id"]
        assert thread_id == thread_id_for(run.id)
        assert executor.executed(run) == [
            "history/create",
            "history/append-user",
            "Chat#1/infer",
            "history/append-results",
        ]
        second = await executor.run("network-chat", {"input": "again", "thread_id": thread_id})
        assert executor.executed(second)[0] == "history/load"
        stored = [content(m) for m in await store.load(thread_id)]
        assert stored == ["hello", "first answer", "again", "second answer"]
        # replays re-ran the network code many times; each store call happened once per step
        assert sum(c.startswith("load") for c in store.calls) == 2  # one step + the check above
        assert sum(c.startswith("append") for c in store.calls) == 4


def _conversation() -> list[Message]:
    call = ToolCallMessage(tools=(ToolCall(id="c1", name="t"),))
    return [
        TextMessage(role="user", content="q1"),
        TextMessage(role="assistant", content="a1" * 40),
        call,
        ToolResultMessage(tool_call_id="c1", name="t", content="r"),
        TextMessage(role="user", content="q2"),
    ]


def test_context_windows_keep_tool_pairs_whole() -> None:
    conversation = _conversation()
    assert last_messages(2)(conversation) == conversation[-1:]  # the orphaned result is dropped
    assert last_messages(3)(conversation) == conversation[-3:]
    budget = token_budget(20)(conversation)
    assert content(budget[-1]) == "q2" and all(
        m.kind != "tool_result" or any(x.kind == "tool_call" for x in budget) for m in budget
    )
    assert token_budget(10_000)(conversation) == conversation
    with pytest.raises(ValueError, match="at least 1"):
        last_messages(0)
    with pytest.raises(ValueError, match="at least 1"):
        token_budget(0)


async def test_context_window_caps_what_the_model_sees() -> None:
    model = ScriptedModel([text("ok")])
    history: list[Message] = [TextMessage(role="user", content=f"old {i}") for i in range(10)]
    agent = create_agent(name="A", model=model, context_window=last_messages(3))
    await agent.run("new", state=State(messages=history))
    assert [content(m) for m in model.calls[0].messages] == ["old 8", "old 9", "new"]


async def test_standalone_agents_keep_threads_too() -> None:
    store = MemoryStore()
    model = ScriptedModel([text("one"), lambda call: text(str(len(call.messages)))])
    agent = create_agent(name="Solo", model=model, history=store)
    state: State[Any] = State()
    await agent.run("first", state=state)
    assert state.thread_id is not None
    result = await agent.run("second", state=State(thread_id=state.thread_id))
    assert result.text == "3"


def test_last_turns_cuts_at_user_messages() -> None:
    conversation = [
        TextMessage(role="user", content="q0"),
        TextMessage(role="assistant", content="a0"),
        *_conversation(),
    ]
    # turns: [q0 a0] [q1 a1 call result] [q2]
    assert last_turns(1)(conversation) == conversation[-1:]
    assert last_turns(2)(conversation) == conversation[2:]
    assert last_turns(3)(conversation) == conversation
    assert last_turns(9)(conversation) == conversation
    # last_messages(4) would start on the assistant's answer to a question it dropped
    assert last_messages(4)(conversation)[0].role == "assistant"
    assert all(window[0].role == "user" for window in (last_turns(n)(conversation) for n in (1, 2)))
    with pytest.raises(ValueError, match="at least 1"):
        last_turns(0)


async def test_a_load_limit_bounds_what_a_run_loads_and_starts_at_a_turn() -> None:
    store = MemoryStore(load_limit=3)
    model = ScriptedModel([text(f"answer {i}") for i in range(4)])
    network = _network(store, model)
    first = await network.run("q0")
    thread_id = first.state.thread_id
    assert thread_id is not None
    for i in (1, 2):
        await network.run(f"q{i}", state=State(thread_id=thread_id))
    # six stored messages; the newest three are [answer 1, q2, answer 2]: the loaded
    # history starts at the turn's user message rather than on a dangling answer
    await network.run("q3", state=State(thread_id=thread_id))
    assert [content(m) for m in model.calls[3].messages] == ["q2", "answer 2", "q3"]
    assert len(await store.load(thread_id)) == 8
    assert [content(m) for m in await store.load(thread_id, limit=2)] == ["q3", "answer 3"]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="load_limit must be a whole number"):
            MemoryStore(load_limit=bad)  # type: ignore[arg-type]


async def test_a_cut_load_with_no_user_message_drops_orphans() -> None:
    store = MemoryStore(load_limit=2)
    call = ToolCallMessage(tools=(ToolCall(id="c1", name="t"),))
    await store.append(
        "t",
        [
            ("u", TextMessage(role="user", content="q"), None),
            ("c", call, "A"),
            ("r", ToolResultMessage(tool_call_id="c1", name="t", content="r"), "A"),
            ("a", TextMessage(role="assistant", content="done"), "A"),
            ("a", TextMessage(role="assistant", content="a repeated id is skipped"), "A"),
        ],
    )
    model = ScriptedModel([text("ok")])
    await _network(store, model).run("next", state=State(thread_id="t"))
    # the newest two were [tool result, answer]: the result's call was cut, so it goes
    assert [content(m) for m in model.calls[0].messages] == ["done", "next"]
