"""The executor's support for what the TypeScript SDK (``inngest`` 4.x) does differently.

The TypeScript SDK is not installed for the test suite (the benchmark drives the real
one, see ``bench/``); these tests play its side of the wire with a small app that
sends exactly what it sends: a registration answered with its own message, step
results reported through the checkpoint API, and the run's output as a
``RunComplete`` op.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentkit_inngest.testing import LocalExecutor

FN_ID = "ts-app-checkpointed"


def ts_style_app(executor: LocalExecutor, seen: list[dict[str, Any]]) -> Starlette:
    """Registers like the TypeScript SDK and runs one step by checkpointing it."""

    async def sync(request: Request) -> JSONResponse:
        config = {
            "id": FN_ID,
            "name": "checkpointed",
            "triggers": [{"event": "ts/checkpointed"}],
            "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http"}}},
        }
        async with httpx.AsyncClient() as client:
            await client.post(
                f"{executor.api_url}/fn/register",
                json={"appName": "ts-app", "functions": [config]},
            )
        return JSONResponse({"message": "Successfully registered", "modified": False})

    async def call(request: Request) -> JSONResponse:
        body = await request.json()
        ctx = body["ctx"]
        ops = body["event"]["data"].get("ops") or [
            {"op": "StepRun", "id": "a1", "displayName": "ids", "data": [1, 2]}
        ]
        status, answer_json = None, None
        if not body["steps"]:
            async with httpx.AsyncClient() as client:
                answer = await client.post(
                    f"{executor.api_url}/v1/checkpoint/{ctx['run_id']}/async",
                    json={"run_id": ctx["run_id"], "qi_id": ctx["qi_id"], "steps": ops},
                )
            status, answer_json = answer.status_code, answer.json()
        seen.append({"qi_id": ctx["qi_id"], "checkpoint": status, "answer": answer_json})
        return JSONResponse(
            [{"op": "RunComplete", "id": "done", "data": {"answer": 42}}], status_code=206
        )

    return Starlette(
        routes=[
            Route("/api/inngest", sync, methods=["PUT"]),
            Route("/api/inngest", call, methods=["POST"]),
        ]
    )


async def test_checkpointed_steps_are_memoized_and_run_complete_ends_the_run() -> None:
    async with LocalExecutor() as executor:
        seen: list[dict[str, Any]] = []
        await executor.attach(ts_style_app(executor, seen))
        assert FN_ID in executor.functions
        run = await executor.run("checkpointed", {"x": 1})
        assert run.output == {"answer": 42}
        assert run.memo_for("ids") == {"data": [1, 2]}
        assert len(executor.requests_for(run)) == 1
        assert [(c.run_id, c.ops) for c in executor.checkpoints] == [(run.id, [("StepRun", "ids")])]
        assert executor.checkpoints[0].bytes_received > 0
        # every call carries its own queue item id (the SDK needs one to checkpoint)
        await executor.run("checkpointed", {"x": 2})
        ids = [call["qi_id"] for call in seen]
        assert len(ids) == 2 and len(set(ids)) == 2 and all(ids)


async def test_checkpoints_the_executor_cannot_take_are_refused_clearly() -> None:
    async with LocalExecutor() as executor, httpx.AsyncClient() as client:
        seen: list[dict[str, Any]] = []
        await executor.attach(ts_style_app(executor, seen))
        run = await executor.run("checkpointed", {"ops": [{"op": "Sleep", "id": "s1"}]})
        assert seen[0]["checkpoint"] == 501
        assert "only StepRun ops, not ['Sleep']" in seen[0]["answer"]["error"]
        assert run.memos == {} and executor.checkpoints == []
        # a run that is not running (or does not exist) takes no checkpoint
        for run_id in (run.id, "run-nope"):
            late = await client.post(f"{executor.api_url}/v1/checkpoint/{run_id}/async", json={})
            assert late.status_code == 404


async def test_a_sync_that_registers_nothing_fails() -> None:
    async def no_register(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Successfully registered"})

    app = Starlette(routes=[Route("/api/inngest", no_register, methods=["PUT"])])
    async with LocalExecutor() as executor:
        with pytest.raises(RuntimeError, match="sync failed: HTTP 200"):
            await executor.attach(app)
