"""From one process to many: two real app processes (``tests/scale_app.py`` under
uvicorn) serve ONE app id behind a reverse proxy that sends each request of a run
to either of them, sharing PostgreSQL for thread history and Redis for streams.
``LocalExecutor`` stands in for Inngest and calls the proxy, as Inngest calls a
load balancer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from agentkit_inngest.history.postgres import PostgresStore
from agentkit_inngest.messages import TextMessage, ToolCallMessage, ToolResultMessage
from agentkit_inngest.streaming import RedisBroker
from agentkit_inngest.testing.executor import Run

from .redis_server import RedisServer, redis_server, throwaway_redis
from .scale_cluster import Cluster, cluster
from .test_history_stores import postgres_dsn, postgres_server
from .test_sse import WAIT, Listener

__all__ = ["postgres_dsn", "postgres_server", "redis_server"]  # fixtures used here

pytestmark = pytest.mark.heavy
FN = "network-desk"


@contextlib.asynccontextmanager
async def replicas(
    tmp_path: Path, postgres_dsn: str, redis_url: str, **extra: str
) -> AsyncIterator[Cluster]:
    async with cluster(
        count=2, postgres_dsn=postgres_dsn, redis_url=redis_url, logs=tmp_path, **extra
    ) as running:
        yield running


async def executions(dsn: str) -> collections.Counter[tuple[str, str]]:
    """(run id, tool) -> how many times its handler ran, in any process."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT run_id, tool FROM scale_executions")
    finally:
        await connection.close()
    return collections.Counter((row["run_id"], row["tool"]) for row in rows)


async def open_gate(dsn: str, thread: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("INSERT INTO scale_gates VALUES ($1)", thread)
        await connection.execute("SELECT pg_notify('scale_gate', $1)", thread)
    finally:
        await connection.close()


def _summary(messages: list[Any]) -> list[str]:
    out = []
    for message in messages:
        if isinstance(message, TextMessage):
            out.append(f"{message.role}: {message.content}")
        elif isinstance(message, ToolCallMessage):
            out.append("calls " + ",".join(call.name for call in message.tools))
        elif isinstance(message, ToolResultMessage):
            out.append(f"result {message.name}")
    return out


def _answer(topic: str) -> str:
    return f"assistant: Done with {topic}: looked up and noted, all in order."


async def test_runs_sent_to_either_replica_at_random_complete_once_with_history_intact(
    tmp_path: Path, postgres_dsn: str, redis_server: str
) -> None:
    # the requests of one run spread over both replicas: the request-per-step path
    # (checkpointing off, or a checkpoint that fell back)
    async with replicas(tmp_path, postgres_dsn, redis_server, SCALE_CHECKPOINTING="off") as running:
        executor = running.executor

        async def conversation(thread: str) -> list[Run]:
            runs = []
            for turn in range(2):  # one after the other on a thread, threads at once
                question = f"question {turn} about {thread}-{turn}"
                runs.append(await executor.run(FN, {"input": question, "thread_id": thread}))
            return runs

        threads = [f"thread-{i}" for i in range(4)]
        done = await asyncio.gather(*(conversation(thread) for thread in threads))
        served = dict(running.proxy.served)
        by_run = dict(running.proxy.runs)
    runs = [run for pair in done for run in pair]
    assert all(run.status == "completed" for run in runs)
    # each request went to either replica: both served calls of every run
    assert len(served) == 2, served
    assert {run.id: len(by_run[run.id]) for run in runs} == {run.id: 2 for run in runs}
    # every tool ran exactly once per run, wherever its step was executed
    counted = await executions(postgres_dsn)
    assert counted == {(run.id, tool): 1 for run in runs for tool in ("look_up", "note")}
    # the thread history, written by both processes, is whole and in order
    store = PostgresStore(postgres_dsn)
    try:
        for thread in threads:
            history = _summary(await store.load(thread))
            expected = []
            for turn in range(2):
                expected += [
                    f"user: question {turn} about {thread}-{turn}",
                    "calls look_up,note",
                    "result look_up",
                    "result note",
                    _answer(f"{thread}-{turn}"),
                ]
            assert history == expected
    finally:
        await store.close()


async def test_a_reader_of_replica_a_gets_a_run_executing_on_b_once_in_order_across_a_restart(
    tmp_path: Path, postgres_dsn: str, redis_server: str
) -> None:
    async with (
        replicas(tmp_path, postgres_dsn, redis_server) as running,
        httpx.AsyncClient(timeout=WAIT) as http,
    ):
        a, b = running.replicas
        held = f"held-{uuid.uuid4().hex[:8]}"
        running.proxy.only = b.url  # every request of the run goes to replica B
        stream = f"{a.url}/streams/{held}"
        first = await Listener(http, stream).start().is_ready()
        run = running.executor.start(FN, {"input": "hold it, about restarts", "thread_id": held})
        await first.until(lambda got: "gate" in str(got.events[-1:]))  # at the gate
        # replica A dies mid-stream (and the browser's connection with it) ...
        a.kill()
        with pytest.raises(httpx.TransportError):  # its connection breaks, as a browser's does
            await first.finished()
        # ... the run goes on on B and ends while A is down ...
        await open_gate(postgres_dsn, held)
        await run.wait(WAIT)
        # ... A comes back, and the browser resumes on it after the last id it got
        a.spawn()
        await asyncio.to_thread(a.wait_ready)
        resumed = Listener(http, f"{stream}?until=done", **{"Last-Event-ID": first.ids[-1]})
        await resumed.start().finished()
        broker = RedisBroker(redis_server, prefix="agentkit:stream:")
        try:
            published = [event.id for event in await broker.retained(held)]
        finally:
            await broker.aclose()
        served = dict(running.proxy.served)
    assert run.status == "completed"
    assert set(served) == {b.url}
    assert resumed.gaps == []
    received = first.ids + resumed.ids
    assert received == published  # all of them, once each, in the order published
    assert len(set(received)) == len(received)
    types = [event["type"] for event in first.events + resumed.events]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert types.count("tool.call") == 3 and types.count("tool.result") == 3
    assert len(first.ids) >= 4 and len(resumed.ids) >= 4  # each side got a real share


@pytest.fixture
def own_redis() -> Any:
    with throwaway_redis() as server:
        yield server


async def test_redis_stopped_mid_run_the_run_completes_and_the_stream_reports_a_gap(
    tmp_path: Path, postgres_dsn: str, own_redis: RedisServer
) -> None:
    async with (
        replicas(tmp_path, postgres_dsn, own_redis.url) as running,
        httpx.AsyncClient(timeout=WAIT) as http,
    ):
        a, _ = running.replicas
        stream = f"{a.url}/streams/outage"
        reader = await Listener(http, stream).start().is_ready()
        run = running.executor.start(FN, {"input": "hold on, outage", "thread_id": "outage"})
        await reader.until(lambda got: "gate" in str(got.events[-1:]))
        own_redis.stop()
        # while Redis is down a new reader is told so at once
        down = await http.get(stream)
        await open_gate(postgres_dsn, "outage")
        await run.wait(WAIT)  # the run does not need its stream
        own_redis.start()  # empty: what it held is gone
        await reader.finished()  # replica A's reader saw that and ended the stream
        resumed = Listener(http, stream, **{"Last-Event-ID": reader.ids[-1]}).start()
        await resumed.until(lambda got: bool(got.gaps))
        await resumed.drop()
    assert down.status_code == 503 and "cannot reach Redis" in down.json()["detail"]
    assert run.status == "completed"
    counted = await executions(postgres_dsn)
    assert {tool: n for (run_id, tool), n in counted.items() if run_id == run.id} == {
        "look_up": 1,
        "note": 1,
        "gate": 1,
    }
    assert "run.completed" not in [event["type"] for event in reader.events]
    assert resumed.gaps[0]["after"] == reader.ids[-1]
    # what the stream lost, the thread history has: the page reloads it after a gap
    store = PostgresStore(postgres_dsn)
    try:
        assert _summary(await store.load("outage"))[-1] == _answer("outage")
    finally:
        await store.close()
