"""Load: 200 concurrent network runs through one real app process.

The app (``tests/reliability_app.py``) runs in its own ``uvicorn`` process; the
local executor drives 200 runs of its "Orders" network at once, each with four
steps' worth of replays, parallel tool calls and state-writing tools. Asserted:
every run completes with exactly the state its input implies, no run is lost or
duplicated, every tool handler ran once per call (read from the app's SQLite
side-effect log), and after the load no run object is left alive in the app and
the memory allocated during the load has been given back.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from pathlib import Path

import httpx
import pytest

from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.executor import Run

from .app_process import AppProcess, app_env

RUNS = 200
WARMUP = 20
MiB = 1024 * 1024
# Memory allocated during the load and still held afterwards. A leak of one run's
# state, results and messages per run is ~8 KiB x 200 = 1.6 MiB and is caught by the
# live-object count first; this bound catches anything bigger and stays far from the
# noise (caches and connection pools: well under 1 MiB, see the printed figures).
RETAINED_BOUND = 4 * MiB

pytestmark = pytest.mark.heavy


def expected_state(order: int) -> dict[str, object]:
    return {"reserved": [f"item-{order}"], "charged": order * 3 + 1, "shipped": True}


async def run_orders(executor: LocalExecutor, orders: range) -> list[Run]:
    runs = [executor.start("network-orders", {"input": f"order {n}"}) for n in orders]
    return list(await asyncio.gather(*(run.wait(timeout=300) for run in runs)))


async def test_200_concurrent_runs_complete_correctly_and_give_memory_back(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "effects.sqlite3"
    # all 200 runs are in progress at once; at most 8 calls of the app are in flight
    async with LocalExecutor(concurrency=8) as executor:
        app = AppProcess(env=app_env(executor, db_path), log=tmp_path / "app.log")
        try:
            app.start()
            await executor.sync(app.inngest_url)
            async with httpx.AsyncClient(base_url=app.url) as http:
                warm = await run_orders(executor, range(1000, 1000 + WARMUP))
                assert all(run.status == "completed" for run in warm)
                before = (await http.post("/debug/memory")).json()

                runs = await run_orders(executor, range(RUNS))

                after = (await http.get("/debug/memory")).json()
        finally:
            app.stop()

    failed = [(r.id, r.error) for r in runs if r.status != "completed"]
    assert not failed, failed[:3]
    # every run's final state is the one its input implies
    for order, run in enumerate(runs):
        output = run.output
        assert output["state"]["data"] == expected_state(order), (order, output["state"])
        assert output["state"]["kv"] == {"charge_key": f"{run.id}:c-{order}"}
        assert output["output"] == f"order {order} shipped"
        assert [r["agent_name"] for r in output["results"]] == ["Clerk", "Shipper"]
    # no run lost or duplicated: one run per order, each with its own id
    assert len({run.id for run in runs}) == RUNS
    assert len(executor.runs) == RUNS + WARMUP

    # every handler ran exactly once per tool call, and every effect happened once
    db = sqlite3.connect(db_path)
    executions = collections.Counter(
        (order, tool)
        for order, tool in db.execute("SELECT order_id, tool FROM executions")
        if int(order) < RUNS
    )
    assert executions == {
        (str(n), t): 1 for n in range(RUNS) for t in ("reserve", "charge", "ship")
    }
    charges = collections.Counter(db.execute("SELECT order_id, amount FROM charges"))
    shipments = collections.Counter(
        order for (order,) in db.execute("SELECT order_id FROM shipments")
    )
    for n in range(RUNS):
        assert charges[(str(n), n * 3 + 1)] == 1 and shipments[str(n)] == 1, n
    db.close()

    load_ids = {run.id for run in runs}
    requests = [r for r in executor.requests if r.run_id in load_ids]
    steps = sum(len(executor.executed(run)) for run in runs)
    retained = after["traced_bytes"]
    print(
        f"\nload: {RUNS} concurrent runs, {len(requests)} app requests, {steps} steps executed; "
        f"app RSS {before['rss_bytes'] / MiB:.1f} MiB -> {after['rss_bytes'] / MiB:.1f} MiB; "
        f"allocated during the load and still held: {retained / MiB:.2f} MiB "
        f"(peak {after['traced_peak_bytes'] / MiB:.1f} MiB); live run objects: {after['live']}"
    )
    # memory returns near its starting level: no run object survives, and what the
    # load allocated has been freed
    assert after["live"] == before["live"]  # the network's default state is the one State
    assert before["live"] == {"NetworkRun": 0, "State": 1, "AgentResult": 0, "InngestRunner": 0}
    assert after["traced_peak_bytes"] > MiB // 2  # tracing saw the load allocate
    assert retained < RETAINED_BOUND
