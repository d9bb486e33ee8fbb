"""The app the reliability tests run in a real ``uvicorn`` process.

Serve it with ``uvicorn reliability_app:app --app-dir tests``. It serves one network,
"Orders", through the package's real ``create_server``:

- **Clerk** reserves the item and charges the order (two tool calls in parallel),
  then confirms; **Shipper** ships it, then confirms. A code router sends each run
  to Clerk, then Shipper, then stops.
- The model is deterministic (it reads the conversation and decides), so every
  run's final state is known from its input alone.
- Every tool handler records each execution in a SQLite database
  (``RELIABILITY_DB``): the ``executions`` table shows at-least-once execution, and
  ``charges`` / ``shipments`` are written idempotently, keyed by run id and tool call
  id, which is the pattern RELIABILITY.md recommends for side effects.

Switches (environment): ``RELIABILITY_HANG_TOOL=<tool>`` makes that tool record its
execution and then hang, so a test can kill the process while the step is in
flight. ``RELIABILITY_CHECKPOINTING=off`` serves the request-per-step path (no
checkpoints), for tests that act between requests. ``/debug/memory`` reports the
process's memory and how many run objects are still alive (it starts ``tracemalloc``
on ``POST``).
"""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import tracemalloc
from pathlib import Path
from typing import Any

from agentkit_inngest import (
    AgentResult,
    InngestRunner,
    Model,
    Network,
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_client,
    create_network,
    create_server,
    tool,
)
from agentkit_inngest.messages import dump_history, load_history
from agentkit_inngest.models import TextSink

DB = os.environ.get("RELIABILITY_DB", "reliability.sqlite3")
HANG_TOOL = os.environ.get("RELIABILITY_HANG_TOOL", "")

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    run_id TEXT, tool TEXT, call_id TEXT, order_id TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS charges (key TEXT PRIMARY KEY, order_id TEXT, amount INTEGER);
CREATE TABLE IF NOT EXISTS shipments (key TEXT PRIMARY KEY, order_id TEXT);
"""


_WRITE = threading.Lock()  # one writer at a time in this process (SQLite's busy wait is slow)
_DB: sqlite3.Connection | None = None


def write(sql: str, params: tuple[Any, ...]) -> None:
    """Run one write statement, committed before it returns. One connection is kept
    open: closing the last one makes SQLite checkpoint (and fsync) every time."""
    global _DB
    with _WRITE:
        if _DB is None:
            _DB = sqlite3.connect(DB, timeout=30, isolation_level=None, check_same_thread=False)
            # WAL + NORMAL: a commit survives the process being killed (not a power cut)
            _DB.execute("PRAGMA synchronous=NORMAL")
        _DB.execute(sql, params)


def init_db(path: str) -> None:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
    finally:
        db.close()


def _record(ctx: ToolContext, tool_name: str, order_id: str) -> str:
    """Record one execution of a handler; returns the idempotency key of the call."""
    key = f"{ctx.network.runner.run_id if ctx.network else 'inline'}:{ctx.call.id}"
    write(
        "INSERT INTO executions VALUES (?, ?, ?, ?, ?)",
        (key.split(":")[0], tool_name, ctx.call.id, order_id, os.getpid()),
    )
    if tool_name == HANG_TOOL:
        threading.Event().wait()  # the test kills the process while this step is in flight
    return key


@tool
def reserve(order_id: str, item: str, ctx: ToolContext) -> str:
    """Reserve the item of an order."""
    _record(ctx, "reserve", order_id)
    ctx.state.data.setdefault("reserved", []).append(item)
    return f"reserved {item}"


@tool
def charge(order_id: str, amount: int, ctx: ToolContext) -> dict[str, Any]:
    """Charge the customer for an order (idempotent per tool call)."""
    key = _record(ctx, "charge", order_id)
    write("INSERT OR IGNORE INTO charges VALUES (?, ?, ?)", (key, order_id, amount))
    ctx.state.data["charged"] = amount
    ctx.state.kv.set("charge_key", key)
    return {"charged": amount}


@tool
def ship(order_id: str, ctx: ToolContext) -> str:
    """Ship an order (idempotent per tool call)."""
    key = _record(ctx, "ship", order_id)
    write("INSERT OR IGNORE INTO shipments VALUES (?, ?)", (key, order_id))
    ctx.state.data["shipped"] = True
    return "shipped"


def order_of(text: str) -> tuple[str, int]:
    """``"order 17"`` -> ``("17", 17 * 3 + 1)``: the order id and its amount."""
    order_id = text.split()[-1]
    return order_id, int(order_id) * 3 + 1


class Planner(Model):
    """A deterministic model: it reads the conversation and plays its agent's part."""

    def __init__(self) -> None:
        super().__init__(model="planner")

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        messages = load_history(body["messages"])
        system = next(m.content for m in messages if m.kind == "text" and m.role == "system")
        user = next(m.content for m in messages if m.kind == "text" and m.role == "user")
        order_id, amount = order_of(user)
        last = messages[-1]
        if "Clerk" in system:
            if last.kind == "tool_result":
                output: list[Any] = [
                    {"kind": "text", "role": "assistant", "content": f"order {order_id} charged"}
                ]
            else:
                output = [
                    {
                        "kind": "tool_call",
                        "tools": [
                            {
                                "id": f"r-{order_id}",
                                "name": "reserve",
                                "arguments": {"order_id": order_id, "item": f"item-{order_id}"},
                            },
                            {
                                "id": f"c-{order_id}",
                                "name": "charge",
                                "arguments": {"order_id": order_id, "amount": amount},
                            },
                        ],
                    }
                ]
        elif last.kind == "tool_result":
            output = [{"kind": "text", "role": "assistant", "content": f"order {order_id} shipped"}]
        else:
            output = [
                {
                    "kind": "tool_call",
                    "tools": [
                        {"id": f"s-{order_id}", "name": "ship", "arguments": {"order_id": order_id}}
                    ],
                }
            ]
        return {
            "output": dump_history(load_history(output)),
            "stop_reason": "tool" if output[0]["kind"] == "tool_call" else "stop",
            "usage": {"input_tokens": 7, "output_tokens": 3},
        }


planner = Planner()
clerk = create_agent(
    name="Clerk", system="You are Clerk.", model=planner, tools=[reserve, charge], max_iter=2
)
shipper = create_agent(
    name="Shipper", system="You are Shipper.", model=planner, tools=[ship], max_iter=2
)


def route(*, network: NetworkRun) -> Any:
    data = network.state.data
    if "charged" not in data:
        return clerk
    if not data.get("shipped"):
        return shipper
    return None


network: Network[Any] = create_network(
    name="Orders", agents=[clerk, shipper], router=route, default_state=State({})
)

init_db(DB)
client = create_client(os.environ.get("INNGEST_APP_ID", "reliability"))
checkpointing = False if os.environ.get("RELIABILITY_CHECKPOINTING") == "off" else None
app = create_server(client=client, networks=[network], checkpointing=checkpointing)

LIVE_TYPES = (NetworkRun, State, AgentResult, InngestRunner)


@app.post("/debug/memory")
async def start_tracing() -> dict[str, Any]:
    gc.collect()
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    return memory()


@app.get("/debug/memory")
async def read_memory() -> dict[str, Any]:
    return memory()


def memory() -> dict[str, Any]:
    gc.collect()
    live = {kind.__name__: 0 for kind in LIVE_TYPES}
    for obj in gc.get_objects():
        for kind in LIVE_TYPES:
            if isinstance(obj, kind):
                live[kind.__name__] += 1
    traced = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    status = Path("/proc/self/status")
    rss_kib = 0
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return {
        "pid": os.getpid(),
        "rss_bytes": rss_kib * 1024,
        "traced_bytes": traced[0],
        "traced_peak_bytes": traced[1],
        "live": live,
    }
