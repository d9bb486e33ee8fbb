"""Hostile values in threads: NUL, lone surrogates, numbers and nesting PostgreSQL and
SQLite treat differently. Both stores must store a message and give back its JSON
form, or refuse it with the same clear, non-retriable error (docs/history.md).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit_inngest import (
    InputError,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolResultMessage,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest.history import HistoryStore, PostgresStore, SQLiteStore, StoredMessage
from agentkit_inngest.messages import Message, dump_history, load_history
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call

from .test_history_stores import Backend, backend, postgres_dsn, postgres_server

__all__ = ["backend", "postgres_dsn", "postgres_server"]  # fixtures used here

EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def json_form(messages: list[Message]) -> list[Message]:
    """What a message is after JSON, as every step memo holds it."""
    return load_history(json.loads(json.dumps(dump_history(messages))))


def nest(depth: int, leaf: Any = "bottom") -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def _result(content: Any, call_id: str = "c1") -> ToolResultMessage:
    return ToolResultMessage(tool_call_id=call_id, name="lookup", content=content)


# -- through the app -----------------------------------------------------------------------


def _echo_network(store: HistoryStore) -> Any:
    @tool
    def lookup(q: str) -> dict[str, Any]:
        """Look a query up (it echoes NUL back, as a tool reading a binary file would)."""
        return {"found\x00key": f"{q}\x00and more", "bytes": "\x00\x01\x02"}

    def respond(call: ModelCall) -> Any:
        if isinstance(call.last, ToolResultMessage):
            return text("answered")
        return tool_call("lookup", {"q": "x\x00y"})

    agent = create_agent(name="Chat", model=FunctionModel(respond), tools=[lookup], max_iter=3)
    return create_network(name="Chat", agents=[agent], router=route_in_order(agent), history=store)


async def test_a_nul_in_a_message_is_stored_and_in_a_thread_id_is_refused_at_once(
    backend: Backend,
) -> None:
    store = backend.make()
    async with LocalExecutor() as executor:
        client = executor.client("nul")
        await executor.attach(create_server(client=client, networks=[_echo_network(store)]))
        stored = await executor.run(
            "network-chat", {"input": "hi\x00there", "thread_id": "t-nul"}, check=False
        )
        refused = await executor.run(
            "network-chat", {"input": "hi", "thread_id": "t\x00nul"}, check=False
        )
        refused_requests = executor.requests_for(refused)
    assert stored.status == "completed", stored.error
    loaded = await store.load("t-nul")
    assert [type(m).__name__ for m in loaded] == [
        "TextMessage",
        "ToolCallMessage",
        "ToolResultMessage",
        "TextMessage",
    ]
    assert loaded[0].content == "hi\x00there"
    assert loaded[1].tools[0].arguments == {"q": "x\x00y"}
    assert loaded[2].content == {"found\x00key": "x\x00y\x00and more", "bytes": "\x00\x01\x02"}
    # the thread id: refused at its first step, not retried
    assert refused.status == "failed"
    assert refused.error["message"] == (
        "step 'history/load' failed: InputError: a thread id must not contain NUL "
        "(\\x00) or lone surrogates: 't\\x00nul'"
    )
    assert max(r.attempt for r in refused_requests) == 0


# -- straight to the stores ----------------------------------------------------------------

CASES: dict[str, list[Message] | str] = {
    "NUL in text": [TextMessage(role="user", content="a\x00b")],
    "NUL in tool JSON keys and values": [_result({"k\x00": ["\x00", {"\x00": "\x00"}]})],
    "NUL in tool-call arguments": [
        ToolCallMessage(tools=(ToolCall(id="c\x00", name="t", arguments={"a": "\x00"}),))
    ],
    "lone surrogates": [TextMessage(role="user", content="\ud800 \udfff"), _result("\udc00")],
    "a literal backslash-u0000": [TextMessage(role="user", content="\\u0000 is not NUL")],
    "floats PostgreSQL would turn into integers": [_result([1e308, -1.234e25, 1e16, 0.1])],
    "NaN and infinity (JSON has neither: null)": [_result([math.nan, math.inf, -math.inf])],
    "a 4,000-digit integer": [_result(10**4000)],
    "nesting 250 deep": [_result(nest(250))],
    "a 2 MB string": [_result("x" * 2_000_000)],
    "private-use and astral characters": [TextMessage(role="user", content="\ue000\U0001f600")],
    "a 5,000-digit integer": "message m0: its content cannot be stored as JSON",
    "nesting 300 deep": "message m0: its content cannot be stored as JSON",
}


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_messages_are_stored_alike_or_refused_alike(
    backend: Backend, case: str
) -> None:
    store = backend.make()
    expected = CASES[case]
    if isinstance(expected, str):
        content = 10**5000 if "digit" in case else nest(300)
        with pytest.raises(InputError, match=expected) as caught:
            await store.append("t", [("m0", _result(content), None)])
        assert not caught.value.retriable
        assert await store.load("t") == []
        return
    rows: list[StoredMessage] = [(f"m{i}", m, None) for i, m in enumerate(expected)]
    await store.append("t", rows)
    await store.append("t", rows)  # idempotent, as ever
    assert await store.load("t") == json_form(expected)
    assert await store.load("t", limit=1) == json_form(expected)[-1:]


async def test_plain_messages_stay_plain_json_in_the_database(backend: Backend) -> None:
    store = backend.make()
    await store.append("t", [("plain", TextMessage(role="user", content="hello"), None)])
    await store.append("t", [("nul", TextMessage(role="user", content="a\x00b"), None)])
    (_, _, _, plain), (_, _, _, escaped) = await backend.rows("t")
    assert json.loads(plain) == {"kind": "text", "role": "user", "content": "hello"} | {
        "stop_reason": None
    }
    # a message PostgreSQL's jsonb cannot hold is kept as its JSON text, escaped
    assert json.loads(escaped) == {
        "$agentkit": "json-text",
        "json": '{"kind":"text","role":"user","content":"a\\u0000b","stop_reason":null}',
    }


@pytest.mark.parametrize(
    ("thread_id", "message"),
    [
        ("t\x00", "must not contain NUL"),
        ("t\ud800", "must not contain NUL (\\x00) or lone surrogates"),
        ("t" * 257, "at most 256 characters"),
    ],
)
async def test_thread_ids_that_a_store_cannot_key_are_refused_alike(
    backend: Backend, thread_id: str, message: str
) -> None:
    store = backend.make()
    for call in (
        store.create_thread(thread_id, metadata={}),
        store.load(thread_id),
        store.append(thread_id, [("m", TextMessage(role="user", content="x"), None)]),
    ):
        with pytest.raises(InputError, match=re.escape(message)):
            await call
    with pytest.raises(InputError, match="message id must not contain NUL"):
        await store.append("t", [("m\x00", TextMessage(role="user", content="x"), None)])
    with pytest.raises(InputError, match="agent name must not contain NUL"):
        await store.append("t", [("m", TextMessage(role="user", content="x"), "A\x00")])
    await store.create_thread("t", metadata={"note": "\x00", "float": 1e308})  # escaped too
    with pytest.raises(InputError, match="metadata must be JSON-serializable"):
        await store.create_thread("t", metadata={"nan": math.nan})


# -- generated ------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec=None), max_size=12),  # lone surrogates, NUL
    st.sampled_from(["\x00", "\\u0000", "\ud83d", "\ue000", "$agentkit", '{"$agentkit": 1}']),
    st.integers(0, 300_000).map(lambda n: "h" * n),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    hostile_text,
)
contents = st.one_of(
    st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3)
        ),
        max_leaves=10,
    ),
    st.integers(1, 320).map(nest),
    st.integers(4200, 4400).map(lambda digits: 10**digits),
)
hostile_messages = st.one_of(
    st.builds(TextMessage, role=st.sampled_from(["user", "assistant"]), content=hostile_text),
    st.builds(ToolResultMessage, tool_call_id=hostile_text, name=hostile_text, content=contents),
    st.builds(
        lambda call_id, args: ToolCallMessage(
            tools=(ToolCall(id=call_id, name="t", arguments=args),)
        ),
        hostile_text,
        st.dictionaries(hostile_text, contents, max_size=2),
    ),
)


@pytest.fixture
def stores(
    tmp_path: Path, postgres_dsn: str
) -> Iterator[tuple[asyncio.AbstractEventLoop, dict[str, HistoryStore]]]:
    loop = asyncio.new_event_loop()
    made: dict[str, HistoryStore] = {
        "sqlite": SQLiteStore(tmp_path / "hostile.db"),
        "postgres": PostgresStore(postgres_dsn),
    }
    try:
        yield loop, made
    finally:
        for store in made.values():
            loop.run_until_complete(store.close())
        loop.close()


TRIED = 150


def test_any_hostile_message_reads_back_as_its_json_form_or_is_refused_alike(
    stores: tuple[asyncio.AbstractEventLoop, dict[str, HistoryStore]],
) -> None:
    loop, made = stores
    counter = iter(range(10**9))

    @settings(
        max_examples=TRIED * 10 if EXPLORE else TRIED,
        derandomize=not EXPLORE,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(messages=st.lists(hostile_messages, min_size=1, max_size=3))
    def check(messages: list[Message]) -> None:
        thread = f"t{next(counter)}"
        rows: list[StoredMessage] = [(f"m{i}", m, "Agent") for i, m in enumerate(messages)]
        outcomes = {
            name: loop.run_until_complete(_try(store, thread, rows)) for name, store in made.items()
        }
        sqlite, postgres = outcomes["sqlite"], outcomes["postgres"]
        assert sqlite == postgres, (sqlite, postgres)
        if sqlite[0] == "stored":
            assert sqlite[1] == json_form(messages)
        else:
            assert sqlite[0] == "refused", sqlite  # not retriable
            assert sqlite[1].startswith("message m") and "cannot be stored as JSON" in sqlite[1]

    check()


async def _try(store: HistoryStore, thread: str, rows: list[StoredMessage]) -> tuple[str, Any]:
    try:
        await store.append(thread, rows)
    except InputError as err:
        return "refused" if not err.retriable else "refused, retriable", str(err)
    return "stored", await store.load(thread)


async def test_a_data_error_from_postgresql_itself_is_not_retried(postgres_dsn: str) -> None:
    backend = Backend("postgres", postgres_dsn)
    store = backend.make()
    await store.create_thread("t", metadata={})
    await backend.query(
        "CREATE FUNCTION refuse_data() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'character not in repertoire' USING ERRCODE = '22021'; END $$"
    )
    await backend.query(
        "CREATE TRIGGER refuse_data BEFORE INSERT ON agentkit_messages "
        "FOR EACH ROW EXECUTE FUNCTION refuse_data()"
    )
    try:
        with pytest.raises(InputError, match="refused the data to append to thread 't'") as caught:
            await store.append("t", [("m", TextMessage(role="user", content="x"), None)])
    finally:
        await store.close()
    assert not caught.value.retriable
