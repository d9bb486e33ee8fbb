"""Faults: the app process is SIGKILLed mid-run and restarted, and the run resumes.

The app runs in a real ``uvicorn`` process (``tests/reliability_app.py``); its tools
record every execution in SQLite, so what ran survives the process. The executor
keeps trying a refused connection until the restarted app listens again
(``reconnect_timeout``), as Inngest's backoff gives a restarting app time to return.

- Killed right after a step's result was memoized: the restarted process replays
  the run from its memoized steps and no tool runs twice (exactly once).
- Killed while a tool step is running: that step never reported a result, so the
  retry runs it again (at least once, by nature). Its side effect is written
  idempotently, keyed by run id and tool call id, so it still happens once.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from agentkit_inngest import Network
from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.executor import RequestRecord, Run

from .app_process import AppProcess, app_env, free_port

pytestmark = pytest.mark.heavy

ORDER = 7


def executions(db: Path) -> list[tuple[str, int]]:
    """``(tool, pid)`` of every handler execution, in order."""
    con = sqlite3.connect(db)
    try:
        return [(tool, pid) for tool, pid in con.execute("SELECT tool, pid FROM executions")]
    finally:
        con.close()


def assert_completed_once(run: Run, db: Path) -> None:
    assert run.status == "completed", run.error
    output = run.output
    assert output["state"]["data"] == {
        "reserved": [f"item-{ORDER}"],
        "charged": ORDER * 3 + 1,
        "shipped": True,
    }
    assert output["state"]["kv"] == {"charge_key": f"{run.id}:c-{ORDER}"}
    assert output["output"] == f"order {ORDER} shipped"
    con = sqlite3.connect(db)
    try:
        assert list(con.execute("SELECT order_id, amount FROM charges")) == [
            (str(ORDER), ORDER * 3 + 1)
        ]
        assert list(con.execute("SELECT order_id FROM shipments")) == [(str(ORDER),)]
    finally:
        con.close()


async def test_killed_after_a_memoized_step_the_restarted_app_resumes_exactly_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "effects.sqlite3"
    async with LocalExecutor(reconnect_timeout=60) as executor:
        # killed between requests: the request-per-step path (checkpointing off, or fallen back)
        env = app_env(executor, db, RELIABILITY_CHECKPOINTING="off")
        app = AppProcess(env=env, log=tmp_path / "app.log")
        try:
            app.start()
            await executor.sync(app.inngest_url)
            killed: list[tuple[int, RequestRecord]] = []

            def kill_after_charge(record: RequestRecord) -> bool:
                run = executor.runs[record.run_id]
                memoized = {run.step_names.get(h) for h in run.memos}
                if not killed and "Clerk#1/tool/charge" in memoized:
                    killed.append((app.kill(), record))  # SIGKILL, then reap
                    app.spawn()  # restart on the same port; the executor waits for it
                return False

            executor.drop_requests(kill_after_charge)
            run = await executor.run("network-orders", {"input": f"order {ORDER}"}, check=False)
        finally:
            app.stop()

    assert killed, "the kill switch never fired"
    old_pid, first_after = killed[0]
    assert app.starts == 2 and app.proc is not None and app.proc.pid != old_pid
    # the request that met the dead app waited for the new process, then went through
    assert first_after.reconnects > 0 and first_after.status is not None
    assert_completed_once(run, db)
    ran = executions(db)
    # each handler ran exactly once: reserve and charge before the kill, ship after it
    assert collections.Counter(tool for tool, _ in ran) == {"reserve": 1, "charge": 1, "ship": 1}
    assert dict(ran) == {
        "reserve": old_pid,
        "charge": old_pid,
        "ship": app.proc.pid,
    }
    # the restarted process replayed the memoized steps instead of running them
    after = [r for r in executor.requests_for(run) if r.index >= first_after.index]
    executed_after = [name for r in after for op, name in r.ops if op == "StepRun"]
    assert "Clerk#1/tool/charge" not in executed_after
    assert "Shipper#1/tool/ship" in executed_after


async def wait_for_execution(db: Path, tool: str, timeout: float = 60.0) -> None:
    """Return once ``tool`` has started executing (its row is in the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(name == tool for name, _ in executions(db)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{tool} never started")


async def test_killed_while_a_tool_runs_the_step_reruns_and_its_idempotent_effect_happens_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "effects.sqlite3"
    async with LocalExecutor(reconnect_timeout=60) as executor:
        app = AppProcess(
            env=app_env(executor, db, RELIABILITY_HANG_TOOL="ship"), log=tmp_path / "app.log"
        )
        try:
            app.start()
            await executor.sync(app.inngest_url)
            run = executor.start("network-orders", {"input": f"order {ORDER}"})
            await wait_for_execution(db, "ship")  # the ship step is in flight, and hangs
            old_pid = app.kill()
            app.start(RELIABILITY_HANG_TOOL="")  # the same app, without the hang
            await run.wait(timeout=120)
        finally:
            app.stop()

    assert_completed_once(run, db)
    ran = executions(db)
    # memoized before the kill: exactly once; in flight at the kill: run again (at least once)
    assert collections.Counter(tool for tool, _ in ran) == {"reserve": 1, "charge": 1, "ship": 2}
    assert app.proc is not None
    assert [pid for tool, pid in ran if tool == "ship"] == [old_pid, app.proc.pid]
    # the in-flight call got no answer and was retried with attempt + 1
    lost = [r for r in executor.requests_for(run) if r.dropped]
    assert len(lost) == 1
    retry = next(r for r in executor.requests_for(run) if r.index > lost[0].index)
    assert retry.step == lost[0].step and retry.attempt == lost[0].attempt + 1


async def test_an_app_that_never_comes_back_fails_the_run_after_its_attempts() -> None:
    """Waiting for a restart is bounded: each attempt waits ``reconnect_timeout``,
    then counts as failed, and the run fails when its attempts are spent."""
    from agentkit_inngest import create_agent, create_network, create_server, route_in_order
    from agentkit_inngest.testing import ScriptedModel, text

    agent = create_agent(name="A", model=ScriptedModel([text("never")]))
    network: Network[Any] = create_network(
        name="Gone", agents=[agent], router=route_in_order(agent)
    )
    async with LocalExecutor(reconnect_timeout=0.1) as executor:
        client = executor.client("gone")
        await executor.attach(create_server(client=client, networks=[network]))
        executor.app_url = f"http://127.0.0.1:{free_port()}/api/inngest"  # nobody listens
        run = await executor.run("network-gone", {"input": "hi"}, check=False)
    assert run.status == "failed" and run.error["name"] == "ConnectionError"
    records = executor.requests_for(run)
    assert [r.attempt for r in records] == [0, 1, 2, 3, 4]
    assert all(r.dropped and r.reconnects > 0 for r in records)
