"""The app the cross-process tests (and ``python -m bench.scale``) run as several
``uvicorn`` processes serving ONE app id. Serve it with
``uvicorn scale_app:app --app-dir tests``.

What the replicas share, from the environment, through public names only:

- ``SCALE_POSTGRES_DSN``: the thread history (:class:`PostgresStore`) and a table
  ``scale_executions`` where every tool handler records each execution, so a test
  counts executions across processes;
- ``SCALE_REDIS_URL``: the stream broker (:class:`RedisBroker`), so a browser on one
  replica reads the run another replica executes.
- ``SCALE_CHECKPOINTING=off``: one step per request (no checkpoints), so the
  requests of one run can go to different replicas.

The network, "Desk": one agent, Worker. Its model (deterministic) first calls two
tools in parallel (``look_up`` and ``note``); when the question contains ``hold``
it then calls ``gate``, which waits until the test opens the thread's gate (a row
and a ``NOTIFY`` in PostgreSQL: it holds a run mid-way with it); then it answers in a few words,
streamed as text deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import asyncpg

from agentkit_inngest import (
    Network,
    ToolContext,
    create_agent,
    create_network,
    route_in_order,
    tool,
)
from agentkit_inngest.history.postgres import PostgresStore
from agentkit_inngest.messages import TextMessage, ToolResultMessage
from agentkit_inngest.server import create_client, create_server
from agentkit_inngest.streaming import RedisBroker
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call, tool_calls

DSN = os.environ["SCALE_POSTGRES_DSN"]
REDIS_URL = os.environ["SCALE_REDIS_URL"]
TOOL_CPU_MS = float(os.environ.get("SCALE_TOOL_CPU_MS", "0"))

_pool: asyncpg.Pool | None = None


TABLES = (
    "CREATE TABLE IF NOT EXISTS scale_executions "
    "(run_id TEXT, tool TEXT, call_id TEXT, pid INTEGER)",
    "CREATE TABLE IF NOT EXISTS scale_gates (thread_id TEXT)",
)


async def create_tables(connection: asyncpg.Pool | asyncpg.Connection) -> None:
    """The tables the tools use (``tests/scale_cluster.py`` makes them before the
    replicas start: two processes making one table at once can collide)."""
    for statement in TABLES:
        # "IF NOT EXISTS" is not atomic in PostgreSQL: a concurrent maker may win
        with contextlib.suppress(asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
            await connection.execute(statement)


async def record(ctx: ToolContext, name: str) -> None:
    """One row per execution of a handler: (run id, tool, call id, process id)."""
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(DSN, min_size=1, max_size=4)
        await create_tables(_pool)
    run_id = ctx.network.runner.run_id if ctx.network else "inline"
    await _pool.execute(
        "INSERT INTO scale_executions VALUES ($1, $2, $3, $4)",
        run_id,
        name,
        ctx.call.id,
        os.getpid(),
    )


@tool
async def look_up(topic: str, ctx: ToolContext) -> str:
    """Look a topic up (``SCALE_TOOL_CPU_MS`` of CPU work first: the benchmark's
    stand-in for what a real tool computes)."""
    await record(ctx, "look_up")
    until = time.process_time() + TOOL_CPU_MS / 1000
    while time.process_time() < until:
        pass
    return f"notes on {topic}"


@tool
async def note(topic: str, ctx: ToolContext) -> str:
    """Write a note about a topic."""
    await record(ctx, "note")
    return f"noted {topic}"


@tool
async def gate(ctx: ToolContext) -> str:
    """Wait for the go-ahead: a row in ``scale_gates`` for the thread (the test adds
    it and sends ``NOTIFY scale_gate``)."""
    await record(ctx, "gate")
    thread = ctx.state.thread_id or ""
    opened = asyncio.Event()
    connection = await asyncpg.connect(DSN)
    try:
        await connection.add_listener(
            "scale_gate", lambda *args: opened.set() if args[-1] == thread else None
        )
        if not await connection.fetchval(
            "SELECT count(*) FROM scale_gates WHERE thread_id = $1", thread
        ):
            await opened.wait()
    finally:
        await connection.close()
    return "go"


def respond(call: ModelCall) -> Reply:
    """The Worker's part, read from this run's messages (after the last question)."""
    start = max(
        i for i, m in enumerate(call.messages) if isinstance(m, TextMessage) and m.role == "user"
    )
    question = call.messages[start]
    assert isinstance(question, TextMessage)
    done = {m.name for m in call.messages[start:] if isinstance(m, ToolResultMessage)}
    topic = question.content.split()[-1]
    turn = sum(1 for m in call.messages if isinstance(m, TextMessage) and m.role == "user")
    if not done:
        return tool_calls(
            ("look_up", {"topic": topic}, f"look-{turn}"),
            ("note", {"topic": topic}, f"note-{turn}"),
        )
    if "hold" in question.content and "gate" not in done:
        return tool_call("gate", {}, id=f"gate-{turn}")
    return text(f"Done with {topic}: looked up and noted, all in order.")


worker = create_agent(
    name="Worker",
    system="You look things up and note them.",
    model=FunctionModel(respond),
    tools=[look_up, note, gate],
    max_iter=4,
)
network: Network[Any] = create_network(
    name="Desk",
    agents=[worker],
    router=route_in_order(worker),
    history=PostgresStore(DSN),
)

client = create_client(os.environ.get("INNGEST_APP_ID", "scale"))
broker = RedisBroker(REDIS_URL)
checkpointing = False if os.environ.get("SCALE_CHECKPOINTING") == "off" else None
app = create_server(client=client, networks=[network], broker=broker, checkpointing=checkpointing)


@app.get("/debug/pid")
async def pid() -> dict[str, Any]:
    return {"pid": os.getpid()}
