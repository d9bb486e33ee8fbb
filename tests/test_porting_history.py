"""AgentKit docs, concepts/history: a history adapter on your own database, threads
(explicit, created, server- or client-authoritative) and the best practices, which
the package builds in (each store call a step, idempotent writes)."""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Any

from agentkit_inngest import (
    State,
    TextMessage,
    create_agent,
    create_network,
    create_server,
    create_state,
    route_in_order,
)
from agentkit_inngest.history import HistoryStore, StoredMessage
from agentkit_inngest.messages import Message
from agentkit_inngest.testing import ModelCall, ScriptedModel, text

from .porting_helpers import inngest_dev


class Database:
    """The page's ``db`` client: threads and messages tables in memory."""

    def __init__(self) -> None:
        self.threads: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.queries: collections.Counter[str] = collections.Counter()


class DatabaseHistory(HistoryStore):
    """TS: const conversationHistoryAdapter: HistoryConfig = { createThread, get,
    appendUserMessage, appendResults } on a database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        self.db.queries["upsert thread"] += 1
        self.db.threads.setdefault(thread_id, {"metadata": dict(metadata)})  # an upsert

    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        self.db.queries["select messages"] += 1  # an unknown thread: no rows, []
        rows = [r for r in self.db.messages if r["thread_id"] == thread_id]
        return [r["message"] for r in rows][-(limit or len(rows) or 1) :] if rows else []

    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        self.db.queries["insert messages"] += 1
        known = {r["id"] for r in self.db.messages}
        for message_id, message, agent_name in messages:
            if message_id not in known:  # TS best practice: a unique message id
                known.add(message_id)
                self.db.messages.append(
                    {
                        "id": message_id,
                        "thread_id": thread_id,
                        "message": message,
                        "agent_name": agent_name or "user",
                    }
                )


def echo(call: ModelCall) -> Any:
    said = [m.content for m in call.messages if isinstance(m, TextMessage) and m.role == "user"]
    return text(f"You said: {' / '.join(said)}")


async def test_an_agent_continues_its_thread_from_your_database() -> None:
    db = Database()
    chat_agent = create_agent(
        name="Chat agent",
        system="You are a helpful assistant.",
        model=ScriptedModel([echo, echo]),
        history=DatabaseHistory(db),
    )
    # TS: chatAgent.run("Hello!", { state: createState({ userId }, { threadId }) })
    first = await chat_agent.run(
        "Hello!", state=create_state({"userId": "user-123"}, thread_id="thread-456")
    )
    second = await chat_agent.run(
        "And again", state=create_state({"userId": "user-123"}, thread_id="thread-456")
    )
    assert first.text == "You said: Hello!"
    assert second.text == "You said: Hello! / And again"  # the thread came from the db
    assert [(r["agent_name"], r["message"].content) for r in db.messages] == [
        ("user", "Hello!"),
        ("Chat agent", "You said: Hello!"),
        ("user", "And again"),
        ("Chat agent", "You said: Hello! / And again"),
    ]
    assert list(db.threads) == ["thread-456"]


async def test_a_network_without_a_thread_id_creates_one_and_returns_it() -> None:
    db = Database()
    agent = create_agent(name="Chat agent", model=ScriptedModel([echo]))
    network = create_network(
        name="Chat", agents=[agent], router=route_in_order(agent), history=DatabaseHistory(db)
    )
    run = await network.run("Hello!")
    assert run.state.thread_id in db.threads
    assert db.threads[run.state.thread_id]["metadata"]["created_by_run"].startswith("inline-")
    assert await DatabaseHistory(db).load("unknown-thread") == []  # get() on nothing: []


async def test_client_authoritative_history_skips_the_load_but_still_appends() -> None:
    db = Database()
    agent = create_agent(name="Chat agent", model=ScriptedModel([echo]))
    network = create_network(
        name="Chat", agents=[agent], router=route_in_order(agent), history=DatabaseHistory(db)
    )
    previous: list[Message] = [TextMessage(role="user", content="Earlier")]
    state: State = create_state({}, thread_id="thread-1", messages=previous)
    run = await network.run("Now", state=state)
    assert run.output == "You said: Earlier / Now"
    assert db.queries["select messages"] == 0 and db.queries["upsert thread"] == 1
    assert [r["message"].content for r in db.messages] == ["Now", "You said: Earlier / Now"]


async def test_each_store_call_is_a_step_and_replays_never_write_twice() -> None:
    db = Database()
    agent = create_agent(name="Chat agent", model=ScriptedModel([echo, echo]))
    network = create_network(
        name="Chat", agents=[agent], router=route_in_order(agent), history=DatabaseHistory(db)
    )
    async with inngest_dev("history-app") as (executor, client):
        await executor.attach(create_server(client=client, networks=[network]))
        # an explicit thread: upsert, then load (server-authoritative)
        run = await executor.run("network-chat", {"input": "Hello!", "thread_id": "thread-7"})
        second = await executor.run("network-chat", {"input": "Again", "thread_id": "thread-7"})
    assert executor.executed(run) == [
        "history/load",  # the upsert (createThread) and the load (get) in one step
        "history/append-user",
        "Chat agent#1/infer",
        "history/append-results",
    ]
    assert second.output["output"] == "You said: Hello! / Again"
    # each request replayed the steps before it from their memos: each write ran once
    assert [r["message"].content for r in db.messages] == [
        "Hello!",
        "You said: Hello!",
        "Again",
        "You said: Hello! / Again",
    ]
    assert db.queries["insert messages"] == 4 and db.queries["upsert thread"] == 2
