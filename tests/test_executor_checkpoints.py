"""The executor's support for what the TypeScript SDK (``inngest`` 4.x) does differently,
and the rules of its checkpoint endpoint (``testing/_checkpoints.py``), each as the real
server has it (``pkg/api/apiv1/checkpoint.go``, ``pkg/execution/checkpoint/checkpoint.go``).

The TypeScript SDK is not installed for the test suite (the benchmark drives the real
one, see ``bench/``); the first tests play its side of the wire with a small app that
sends exactly what ``inngest`` 4.24 sends: a registration answered with its own
message, step results reported through the checkpoint API (``run_id``, ``fn_id``,
``qi_id`` from ``ctx``, ``request_id`` / ``generation_id`` from the headers,
``request_started_at``, ``ts``), and the run's output as a ``RunComplete`` op. The
rest drive :class:`~tests.checkpoint_helpers.ProbeApp`, which holds each call while
the test checkpoints with its context.
"""

from __future__ import annotations

import json
import time
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
            checkpoint = {
                "run_id": ctx["run_id"],
                "fn_id": ctx["fn_id"],
                "qi_id": ctx["qi_id"],
                "request_id": request.headers["x-request-id"],
                "generation_id": int(request.headers["x-inngest-generation-id"]),
                "request_started_at": int(time.time() * 1000),
                "steps": ops,
                "ts": int(time.time() * 1000),
            }
            async with httpx.AsyncClient() as client:
                answer = await client.post(
                    f"{executor.api_url}/v1/checkpoint/{ctx['run_id']}/async", json=checkpoint
                )
            status, answer_json = answer.status_code, answer.content
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
        assert seen[0]["checkpoint"] == 200 and seen[0]["answer"] == b""  # 200, empty body
        assert executor.requests_for(run)[0].checkpoints == 1
        # every call carries its own queue item id (the SDK needs one to checkpoint)
        await executor.run("checkpointed", {"x": 2})
        ids = [call["qi_id"] for call in seen]
        assert len(ids) == 2 and len(set(ids)) == 2 and all(ids)


async def test_checkpoints_the_executor_cannot_take_are_refused_clearly() -> None:
    async with LocalExecutor() as executor, httpx.AsyncClient() as client:
        seen: list[dict[str, Any]] = []
        await executor.attach(ts_style_app(executor, seen))
        run = await executor.run("checkpointed", {"ops": [{"op": "Sleep", "id": "s1"}]})
        assert seen[0]["checkpoint"] == 400
        assert json.loads(seen[0]["answer"])["error"] == "Failed to checkpoint steps"
        assert run.memos == {}
        assert [(c.status, c.error) for c in executor.checkpoints] == [(400, "async steps")]
        # a finished run (its state is gone) or an unknown one takes no checkpoint
        for run_id in (run.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            body = {"run_id": run_id, "fn_id": executor.checkpoint_api.function_uuid(FN_ID)}
            late = await client.post(f"{executor.api_url}/v1/checkpoint/{run_id}/async", json=body)
            assert late.status_code == 400, late.text
            assert late.json()["data"] == {"run_id": run_id}


async def test_a_sync_that_registers_nothing_fails() -> None:
    async def no_register(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Successfully registered"})

    app = Starlette(routes=[Route("/api/inngest", no_register, methods=["PUT"])])
    async with LocalExecutor() as executor:
        with pytest.raises(RuntimeError, match="sync failed: HTTP 200"):
            await executor.attach(app)
