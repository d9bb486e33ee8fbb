"""The SQLite and PostgreSQL thread stores, on real databases.

Every test here runs on both stores. PostgreSQL comes from ``AGENTKIT_TEST_POSTGRES_DSN``
(``.ci/run`` starts a throwaway server and sets it) or, without it, from a throwaway
cluster this module starts itself when Debian's PostgreSQL binaries are installed;
only when neither is possible are the PostgreSQL cases skipped, saying why.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import glob
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from agentkit_inngest import (
    ConfigurationError,
    HistoryStoreError,
    InputError,
    State,
    TextMessage,
    create_agent,
    create_network,
    create_server,
    route_in_order,
)
from agentkit_inngest.history import (
    HistoryStore,
    PostgresStore,
    SQLiteStore,
    StoredMessage,
    thread_id_for,
)
from agentkit_inngest.messages import Message
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ScriptedModel, text
from agentkit_inngest.testing.models import ModelCall

T = TypeVar("T")
DSN_VARIABLE = "AGENTKIT_TEST_POSTGRES_DSN"
ROOT = Path(__file__).resolve().parents[1]

# -- a PostgreSQL server -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_INITDB = ("--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[str]:
    """initdb + pg_ctl start in a temp dir, as an unprivileged user, on 127.0.0.1."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    pg_ctl = found[-1] if found else shutil.which("pg_ctl")
    if pg_ctl is None:
        pytest.skip(
            f"PostgreSQL store not tested: {DSN_VARIABLE} is not set and no PostgreSQL "
            "server binaries are installed (apt-get install postgresql, or run .ci/run)"
        )
    bin_dir = Path(pg_ctl).parent
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as `postgres`
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(
                f"PostgreSQL store not tested: running as root, {DSN_VARIABLE} is not set "
                "and there is no `postgres` user to own a throwaway cluster"
            )
        prefix = ["runuser", "-u", "postgres", "--"]
    home = tempfile.mkdtemp(prefix="agentkit-pg-")
    if owner is not None:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    data, port = f"{home}/data", _free_port()
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", data, "-U", "postgres", *_INITDB],
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={home} "
            "-c fsync=off"
        )
        start = ["-D", data, "-l", f"{home}/log", "-w", "-o", options, "start"]
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), *start],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server (skips, saying why, when none can be had)."""
    given = os.environ.get(DSN_VARIABLE)
    if given:
        yield given
        return
    with _throwaway_cluster() as dsn:
        yield dsn


def _with_settings(dsn: str, **settings: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query) + list(settings.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _aside(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on an event loop of its own (from sync fixture code)."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work()).result()


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN whose tables live in a schema of their own, dropped after the test."""
    schema = f"agentkit_test_{uuid.uuid4().hex[:12]}"
    _aside(lambda: _execute(postgres_server, f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_settings(postgres_server, search_path=schema)
    finally:
        _aside(lambda: _execute(postgres_server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


# -- both stores behind one face -----------------------------------------------------------


@dataclasses.dataclass
class Backend:
    """A store kind on a fresh database: new stores on it, and direct SQL to check them."""

    kind: str
    target: str  # the file path or the DSN
    stores: list[HistoryStore] = dataclasses.field(default_factory=list)

    def make(self, **options: Any) -> Any:
        store: HistoryStore
        if self.kind == "sqlite":
            store = SQLiteStore(self.target, **options)
        else:
            store = PostgresStore(self.target, **options)
        self.stores.append(store)
        return store

    async def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a query run on a connection of its own (``?`` placeholders)."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.target)) as connection:
                return [tuple(row) for row in connection.execute(sql, args).fetchall()]
        for index in range(len(args)):
            sql = sql.replace("?", f"${index + 1}", 1)
        pg = await asyncpg.connect(self.target)
        try:
            return [tuple(row) for row in await pg.fetch(sql, *args)]
        finally:
            await pg.close()

    async def rows(self, thread_id: str) -> list[tuple[int, str, str | None, str]]:
        """``(seq, message_id, agent_name, message JSON)`` of a thread, by seq."""
        found = await self.query(
            "SELECT seq, message_id, agent_name, message FROM agentkit_messages "
            "WHERE thread_id = ? ORDER BY seq",
            thread_id,
        )
        return [(int(seq), str(mid), agent, str(message)) for seq, mid, agent, message in found]

    async def tables(self) -> set[str]:
        if self.kind == "sqlite":
            found = await self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            found = await self.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return {name for (name,) in found}


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        made = Backend("sqlite", str(tmp_path / "threads.db"))
    else:
        made = Backend("postgres", request.getfixturevalue("postgres_dsn"))
    try:
        yield made
    finally:
        for store in made.stores:
            await store.close()


class Recording(HistoryStore):
    """A real store seen through a layer that records the calls, and can lose the
    answer of chosen calls after they went through (as a crash or a dropped
    connection would)."""

    def __init__(self, inner: HistoryStore, *, lose_answer_of: Sequence[str] = ()) -> None:
        self.inner = inner
        self.load_limit = inner.load_limit
        self.calls: list[str] = []
        self.lose = set(lose_answer_of)

    def _after(self, call: str) -> None:
        self.calls.append(call)
        if call in self.lose:
            self.lose.discard(call)
            raise ConnectionResetError(f"the answer of {call} was lost after it committed")

    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        await self.inner.create_thread(thread_id, metadata=metadata)
        self._after("create_thread")

    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        loaded = await self.inner.load(thread_id, limit=limit)
        self._after("load")
        return loaded

    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        await self.inner.append(thread_id, messages)
        self._after(f"append:{messages[0][0].rsplit(':', 1)[-1]}")


def _chat(store: HistoryStore, model: Any, **options: Any) -> Any:
    agent = create_agent(name="Chat", model=model)
    return create_network(
        name="Chat", agents=[agent], router=route_in_order(agent), history=store, **options
    )


def _echo(call: ModelCall) -> str:
    """Answers the newest user message, so concurrent runs can be told apart."""
    asked = [m for m in call.messages if isinstance(m, TextMessage) and m.role == "user"]
    return f"answer to {asked[-1].content}"


def _contents(messages: Sequence[Message]) -> list[Any]:
    return [getattr(m, "content", None) for m in messages]


# -- the tests -----------------------------------------------------------------------------


async def test_the_schema_is_created_on_first_use_by_many_at_once(backend: Backend) -> None:
    assert "agentkit_messages" not in await backend.tables()
    stores = [backend.make() for _ in range(3)]  # three processes starting together
    await asyncio.gather(*(s.create_thread(f"t{i}", metadata={}) for i, s in enumerate(stores)))
    assert {"agentkit_threads", "agentkit_messages"} <= await backend.tables()
    assert len(await backend.query("SELECT thread_id FROM agentkit_threads")) == 3
    if backend.kind == "sqlite":
        assert await backend.query("PRAGMA journal_mode") == [("wal",)]
    # a second start on an existing schema changes nothing
    await backend.make().create_thread("t0", metadata={"ignored": True})
    assert await backend.query("SELECT metadata FROM agentkit_threads WHERE thread_id = 't0'") == [
        ("{}",)
    ]


async def test_messages_are_stored_as_json_with_agent_name_and_time(backend: Backend) -> None:
    store = backend.make()
    run = await _chat(store, ScriptedModel([text("Hello Ada.")])).run("I am Ada.")
    thread_id = run.state.thread_id
    rows = await backend.rows(thread_id)
    assert [(seq, agent) for seq, _, agent, _ in rows] == [(1, None), (2, "Chat")]
    assert [json.loads(message)["content"] for *_, message in rows] == ["I am Ada.", "Hello Ada."]
    assert json.loads(rows[1][3])["kind"] == "text"
    stamps = await backend.query(
        "SELECT created_at FROM agentkit_messages WHERE thread_id = ?", thread_id
    )
    assert all(stamp is not None for (stamp,) in stamps) and len(stamps) == 2
    metadata = await backend.query(
        "SELECT metadata FROM agentkit_threads WHERE thread_id = ?", thread_id
    )
    assert json.loads(metadata[0][0])["created_by_run"] == run.runner.run_id


async def test_a_second_run_on_a_thread_sees_the_first(backend: Backend) -> None:
    model = ScriptedModel([text("Hi Ada."), lambda call: text(f"{len(call.messages)} seen")])
    first = await _chat(backend.make(), model).run("I am Ada.")
    thread_id = first.state.thread_id
    assert thread_id is not None
    # the next message comes to another process: a store of its own on the same database
    second = await _chat(backend.make(), model).run("Who am I?", state=State(thread_id=thread_id))
    assert _contents(model.calls[1].messages) == ["I am Ada.", "Hi Ada.", "Who am I?"]
    assert second.output == "3 seen"
    assert _contents(await backend.make().load(thread_id)) == [
        "I am Ada.",
        "Hi Ada.",
        "Who am I?",
        "3 seen",
    ]


async def test_standalone_agents_continue_threads_in_the_store(backend: Backend) -> None:
    model = ScriptedModel([text("one"), lambda call: text(f"{len(call.messages)} seen")])
    agent = create_agent(name="Solo", model=model, history=backend.make())
    state: State[Any] = State()
    await agent.run("first", state=state)
    result = await agent.run("second", state=State(thread_id=state.thread_id))
    assert result.text == "3 seen"
    assert state.thread_id is not None
    assert [agent for _, _, agent, _ in await backend.rows(state.thread_id)] == [
        None,
        "Solo",
        None,
        "Solo",
    ]


async def test_durable_runs_write_each_message_exactly_once(backend: Backend) -> None:
    # every store call's answer is lost once after it committed: the step fails, the
    # executor retries it, the store sees the same message ids again and skips them
    store = Recording(
        backend.make(),
        lose_answer_of=["create_thread", "load", "append:user", "append:0"],
    )
    network = _chat(store, FunctionModel(_echo))
    async with LocalExecutor() as executor:
        client = executor.client("stores")
        await executor.attach(create_server(client=client, networks=[network]))
        first = await executor.run("network-chat", {"input": "hello"})
        thread_id = first.output["state"]["thread_id"]
        assert thread_id == thread_id_for(first.id)
        second = await executor.run("network-chat", {"input": "again", "thread_id": thread_id})
        assert executor.executed(second)[0] == "history/load"
        assert second.output["output"] == "answer to again"
        # checkpointed (the default): one request per run, plus two per lost answer (the
        # retry, which runs its step without checkpoints, then a fresh request); the store
        # was called once per step attempt, and each lost answer cost exactly one more attempt
        assert len(executor.requests_for(first)) == 1 + 2 * 3
        assert len(executor.requests_for(second)) == 1 + 2 * 1
        assert collections.Counter(store.calls) == {
            "create_thread": 4,  # run 1: history/create twice; run 2: inside history/load twice
            "load": 2,
            "append:user": 3,  # run 1 twice, run 2 once
            "append:0": 3,  # run 1 twice, run 2 once
        }
    rows = await backend.rows(thread_id)
    assert [json.loads(message)["content"] for *_, message in rows] == [
        "hello",
        "answer to hello",
        "again",
        "answer to again",
    ]
    assert [seq for seq, *_ in rows] == [1, 2, 3, 4]
    assert [message_id for _, message_id, _, _ in rows] == [
        f"{first.id}:user",
        f"{first.id}:Chat#1:0",
        f"{second.id}:user",
        f"{second.id}:Chat#1:0",
    ]


async def test_concurrent_runs_on_one_thread_keep_every_message(backend: Backend) -> None:
    thread_id = f"busy-{uuid.uuid4()}"
    network = _chat(backend.make(), FunctionModel(_echo))
    async with LocalExecutor() as executor:
        client = executor.client("stores")
        await executor.attach(create_server(client=client, networks=[network]))
        runs = [
            executor.start("network-chat", {"input": f"q{i}", "thread_id": thread_id})
            for i in range(20)
        ]
        finished = await asyncio.gather(*(run.wait(120) for run in runs))
    assert {run.status for run in finished} == {"completed"}
    rows = await backend.rows(thread_id)
    assert [seq for seq, *_ in rows] == list(range(1, 41))
    contents = [json.loads(message)["content"] for *_, message in rows]
    for i in range(20):  # each question once, before its own answer
        assert contents.count(f"q{i}") == 1 == contents.count(f"answer to q{i}")
        assert contents.index(f"q{i}") < contents.index(f"answer to q{i}")
    assert _contents(await backend.make().load(thread_id)) == contents


async def test_concurrent_appends_from_many_tasks_and_stores_lose_nothing(
    backend: Backend,
) -> None:
    stores = [backend.make(), backend.make()]  # two processes
    thread_id = "shared"

    async def append(index: int) -> None:
        store = stores[index % 2]
        batch: list[StoredMessage] = [
            (f"m{index}", TextMessage(role="user", content=f"m{index}"), None),
            (f"n{index}", TextMessage(role="assistant", content=f"n{index}"), "A"),
            ("twice", TextMessage(role="user", content="twice"), None),  # in every batch
        ]
        await store.append(thread_id, batch)

    await asyncio.gather(*(append(i) for i in range(60)))
    rows = await backend.rows(thread_id)
    assert [seq for seq, *_ in rows] == list(range(1, 122))
    ids = [message_id for _, message_id, _, _ in rows]
    assert len(set(ids)) == 121 and ids.count("twice") == 1
    for i in range(60):  # a batch is written whole, in order, with nothing in between
        assert ids.index(f"m{i}") + 1 == ids.index(f"n{i}")
    assert [m.content for m in await stores[0].load(thread_id)] == ids


async def test_client_authoritative_history_is_not_read(backend: Backend) -> None:
    inner = backend.make()
    await inner.append("t1", [("old", TextMessage(role="user", content="stored"), None)])
    store = Recording(inner)
    model = FunctionModel(_echo)
    network = _chat(store, model)
    sent: State[Any] = State(messages=[TextMessage(role="user", content="from the client")])
    async with LocalExecutor() as executor:
        client = executor.client("stores")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run(
            "network-chat", {"input": "next", "thread_id": "t1", "state": sent.to_json()}
        )
    assert "load" not in store.calls
    assert executor.executed(run)[0] == "history/upsert"
    assert run.output["output"] == "answer to next"
    # the new messages are still kept in the thread
    assert _contents(await inner.load("t1")) == ["stored", "next", "answer to next"]


async def test_an_unknown_thread_loads_empty_and_is_not_created(backend: Backend) -> None:
    store = backend.make()
    assert await store.load("never-seen") == []
    assert await store.load("never-seen", limit=5) == []
    assert await backend.query("SELECT thread_id FROM agentkit_threads") == []


async def test_load_limits_take_the_newest_messages(backend: Backend) -> None:
    store = backend.make()
    await store.append(
        "t", [(f"m{i}", TextMessage(role="user", content=f"m{i}"), None) for i in range(10)]
    )
    assert _contents(await store.load("t", limit=3)) == ["m7", "m8", "m9"]
    assert len(await store.load("t", limit=50)) == 10
    with pytest.raises(ValueError, match="limit must be a whole number"):
        await store.load("t", limit=0)
    # a run with a load limit sends the model only the newest turn of a long thread
    model = ScriptedModel([text("a1"), text("a2"), text("a3")])
    limited = _chat(backend.make(load_limit=3), model)
    first = await limited.run("q1")
    for question in ("q2", "q3"):
        await limited.run(question, state=State(thread_id=first.state.thread_id))
    assert _contents(model.calls[2].messages) == ["q2", "a2", "q3"]


async def test_bad_arguments_are_refused_naming_the_field(backend: Backend) -> None:
    store = backend.make()
    await store.create_thread("other", metadata={})
    with pytest.raises(InputError, match="thread id must be a non-empty string"):
        await store.load("")
    with pytest.raises(InputError, match="metadata must be JSON-serializable"):
        await store.create_thread("t", metadata={"when": object()})
    with pytest.raises(InputError, match="message id must be a non-empty string"):
        await store.append("t", [("", TextMessage(role="user", content="x"), None)])
    await store.append("t", [])  # nothing to do
    assert await backend.query("SELECT thread_id FROM agentkit_threads") == [("other",)]
    with pytest.raises(ValueError, match="load_limit must be a whole number"):
        backend.make(load_limit=-1)


_REFUSE_POISON = {
    "sqlite": [
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON agentkit_messages "
        "WHEN NEW.message_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
    ],
    "postgres": [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.message_id = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON agentkit_messages "
        "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ],
}


async def test_a_failed_append_writes_none_of_its_batch(backend: Backend) -> None:
    store = backend.make()
    first = ("m1", TextMessage(role="user", content="kept"), None)
    await store.append("t", [first])
    for statement in _REFUSE_POISON[backend.kind]:
        await backend.query(statement)
    batch: list[StoredMessage] = [
        ("m2", TextMessage(role="assistant", content="lost with the batch"), "A"),
        ("poison", TextMessage(role="user", content="refused"), None),
    ]
    with pytest.raises(HistoryStoreError, match="poison refused") as caught:
        await store.append("t", batch)
    assert caught.value.retriable
    assert [(seq, message_id) for seq, message_id, _, _ in await backend.rows("t")] == [(1, "m1")]
    # the thread's counter did not move: the next append follows on
    await store.append("t", [batch[0], batch[0]])  # a repeated id in one batch counts once
    assert [(seq, message_id) for seq, message_id, _, _ in await backend.rows("t")] == [
        (1, "m1"),
        (2, "m2"),
    ]


# -- SQLite only ---------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from agentkit_inngest import TextMessage
    from agentkit_inngest.history.sqlite import SQLiteStore

    async def main(path, worker):
        store = SQLiteStore(path)
        for i in range(40):
            own = (f"w{worker}-{i}", TextMessage(role="user", content="own"), None)
            shared = (f"shared-{i % 10}", TextMessage(role="user", content="shared"), None)
            await store.append("t", [own, shared])
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_sqlite_appends_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _WRITER, path, str(w))
        for w in range(4)
    ]
    assert [await worker.wait() for worker in workers] == [0, 0, 0, 0]
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT seq, message_id FROM agentkit_messages WHERE thread_id = 't' ORDER BY seq"
        ).fetchall()
    assert [seq for seq, _ in rows] == list(range(1, 171))  # 4 x 40 own + 10 shared
    assert sorted(message_id for _, message_id in rows if message_id.startswith("shared")) == [
        f"shared-{i}" for i in range(10)
    ]


@pytest.mark.parametrize(
    ("make_path", "expected"),
    [
        (lambda tmp: tmp / "no such dir" / "threads.db", "unable to open"),
        (lambda tmp: tmp, "unable to open"),
        (lambda tmp: tmp / "notes.txt", "not a database"),
    ],
    ids=["missing-directory", "a-directory", "not-a-database"],
)
async def test_sqlite_paths_that_cannot_hold_threads_say_what_to_fix(
    tmp_path: Path, make_path: Callable[[Path], Path], expected: str
) -> None:
    path = make_path(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes, not a database " * 100)
    store = SQLiteStore(path)
    with pytest.raises(ConfigurationError) as caught:
        await store.load("t")
    assert str(path) in str(caught.value) and expected in str(caught.value)
    assert "existing directory" in str(caught.value)
    assert (tmp_path / "notes.txt").read_text() == "my notes, not a database " * 100
    await store.close()
    with pytest.raises(ConfigurationError, match="path of a database file"):
        SQLiteStore("")
    with pytest.raises(ConfigurationError, match="busy_timeout"):
        SQLiteStore(tmp_path / "x.db", busy_timeout=-1)


async def test_sqlite_schema_conflicts_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / "taken.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE mine (a)")
        connection.execute("CREATE INDEX agentkit_messages ON mine (a)")  # the name is taken
        connection.commit()
    store = SQLiteStore(path)
    with pytest.raises(ConfigurationError, match="cannot create the history tables") as caught:
        await store.load("t")
    assert "agentkit_messages" in str(caught.value)
    with contextlib.closing(sqlite3.connect(path)) as connection:  # nothing half-made
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert [name for (name,) in tables] == ["mine"]
    await store.close()


async def test_sqlite_a_write_lock_held_too_long_is_a_retriable_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SQLiteStore(path, busy_timeout=0)
    await store.create_thread("t", metadata={})
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        with pytest.raises(HistoryStoreError, match="locked") as caught:
            await store.append("t", [("m", TextMessage(role="user", content="x"), None)])
        assert caught.value.retriable
        other.execute("ROLLBACK")
    await store.append("t", [("m", TextMessage(role="user", content="x"), None)])
    assert _contents(await store.load("t")) == ["x"]
    await store.close()


def test_sqlite_stores_serve_one_loop_after_another_and_reopen_after_close(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "sync.db")
    model = ScriptedModel([text("one"), lambda call: text(f"{len(call.messages)} seen")])
    agent = create_agent(name="Solo", model=model, history=store)
    state: State[Any] = State()
    agent.run_sync("first", state=state)  # each run_sync is an event loop of its own
    assert agent.run_sync("second", state=State(thread_id=state.thread_id)).text == "3 seen"
    asyncio.run(store.close())
    asyncio.run(store.close())  # closing twice is harmless
    assert state.thread_id is not None
    assert len(asyncio.run(store.load(state.thread_id))) == 4
    asyncio.run(store.close())
    assert repr(store) == f"SQLiteStore({str(tmp_path / 'sync.db')!r})"


# -- PostgreSQL only -----------------------------------------------------------------------


async def test_postgres_dsns_that_cannot_work_say_what_to_fix(postgres_server: str) -> None:
    with pytest.raises(ConfigurationError, match="needs a DSN like postgresql://") as caught:
        PostgresStore("host=db password=hunter2")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="min_size"):
        PostgresStore(postgres_server, min_size=0)

    parts = urllib.parse.urlsplit(postgres_server)
    unknown = urllib.parse.urlunsplit(parts._replace(path="/no_such_database"))
    store = PostgresStore(unknown)
    with pytest.raises(ConfigurationError, match="no_such_database") as caught:
        await store.load("t")
    assert "Check the DSN" in str(caught.value)

    nobody = f"postgresql://chat:hunter2@127.0.0.1:{_free_port()}/chat"
    store = PostgresStore(nobody, connect_timeout=5)
    with pytest.raises(HistoryStoreError, match="Is the server running") as retriable:
        await store.append("t", [("m", TextMessage(role="user", content="x"), None)])
    assert retriable.value.retriable
    assert "hunter2" not in str(retriable.value) and "chat:***@127.0.0.1" in str(retriable.value)
    assert "hunter2" not in repr(store)

    unparsable = PostgresStore("postgresql://chat:hunter2@[::1/chat")
    assert "hunter2" not in repr(unparsable)
    with pytest.raises(ConfigurationError) as caught:
        await unparsable.load("t")
    assert "hunter2" not in str(caught.value)


async def test_postgres_a_user_who_may_not_create_tables_is_told(postgres_dsn: str) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_dsn)
    schema = await admin.fetchval("SELECT current_schema()")
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    try:
        parts = urllib.parse.urlsplit(postgres_dsn)
        as_reader = urllib.parse.urlunsplit(
            parts._replace(netloc=parts.netloc.replace("postgres@", f"{role}@", 1))
        )
        store = PostgresStore(as_reader)
        with pytest.raises(ConfigurationError, match="permission denied") as caught:
            await store.load("t")
        assert "may create tables" in str(caught.value)
        await store.close()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_postgres_errors_after_connecting_are_classified(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    await store.create_thread("t", metadata={})
    admin = await asyncpg.connect(postgres_dsn)
    try:
        # someone drops the table under a running app: a retriable store error
        await admin.execute("DROP TABLE agentkit_messages")
        with pytest.raises(HistoryStoreError, match="failed to load thread 't'"):
            await store.load("t")
    finally:
        await admin.close()
    await store.close()
    await store.close()


def test_postgres_stores_refuse_a_second_live_event_loop(
    postgres_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(postgres_server)

    async def use_from_another_loop() -> None:
        await asyncio.to_thread(asyncio.run, store.load("t"))

    async def scenario() -> None:
        await store.load("t")
        with pytest.raises(ConfigurationError, match="one PostgresStore per event loop"):
            await use_from_another_loop()
        await store.close()

    asyncio.run(scenario())
    assert asyncio.run(_load_and_close(store, "t")) == []  # closed: the next loop may use it
    asyncio.run(store.load("t"))  # left open, but its loop is gone...
    assert asyncio.run(_load_and_close(store, "t")) == []  # ...so the next loop starts afresh
    assert "closed before store.close()" in caplog.text


async def _load_and_close(store: HistoryStore, thread_id: str) -> list[Message]:
    try:
        return await store.load(thread_id)
    finally:
        await store.close()


def test_the_documented_snippet_runs_and_keeps_the_thread(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "history.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Messages in view: 3.",
        "     user: Hi, I am Ada.",
        "assistant: Messages in view: 1.",
        "     user: What is my name?",
        "assistant: Messages in view: 3.",
    ]
    with contextlib.closing(sqlite3.connect(tmp_path / "chat.db")) as connection:
        assert connection.execute("SELECT count(*) FROM agentkit_messages").fetchone() == (4,)
