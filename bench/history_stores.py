"""Throughput of the thread stores: prints figures, asserts nothing.

    .venv/bin/python bench/history_stores.py
    AGENTKIT_TEST_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/history_stores.py

SQLite runs on a temp file; PostgreSQL runs when the DSN variable is set (in a schema
of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid

from agentkit_inngest import TextMessage
from agentkit_inngest.history import HistoryStore, PostgresStore, SQLiteStore

SEQUENTIAL = 500
TASKS, PER_TASK = 20, 25
THREAD_LENGTH = 1000


def _message(index: int) -> TextMessage:
    return TextMessage(role="user", content=f"message {index} " + "lorem ipsum " * 20)


async def _measure(name: str, store: HistoryStore) -> None:
    started = time.perf_counter()
    for i in range(SEQUENTIAL):
        await store.append("sequential", [(f"s{i}", _message(i), None)])
    sequential = time.perf_counter() - started

    async def worker(task: int) -> None:
        for i in range(PER_TASK):
            await store.append("contended", [(f"c{task}-{i}", _message(i), None)])

    started = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(TASKS)))
    concurrent = time.perf_counter() - started

    batch = [(f"l{i}", _message(i), None) for i in range(THREAD_LENGTH)]
    await store.append("long", batch)
    started = time.perf_counter()
    loads = 20
    for _ in range(loads):
        loaded = await store.load("long")
    load = (time.perf_counter() - started) / loads
    assert len(loaded) == THREAD_LENGTH
    print(
        f"{name:>10}: {SEQUENTIAL / sequential:8.0f} sequential appends/s | "
        f"{TASKS * PER_TASK / concurrent:8.0f} appends/s from {TASKS} tasks on one thread | "
        f"load of {THREAD_LENGTH} messages {load * 1000:6.1f} ms"
    )
    await store.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        await _measure("SQLite", SQLiteStore(os.path.join(directory, "bench.db")))
    dsn = os.environ.get("AGENTKIT_TEST_POSTGRES_DSN")
    if not dsn:
        print("PostgreSQL: skipped (set AGENTKIT_TEST_POSTGRES_DSN)")
        return
    import asyncpg

    schema = f"agentkit_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        joiner = "&" if "?" in dsn else "?"
        await _measure("PostgreSQL", PostgresStore(f"{dsn}{joiner}search_path={schema}"))
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
