"""A probe app for checkpoint tests: it registers like an SDK and hands each call of the
executor to the test, which checkpoints with that call's context over HTTP and then
decides the answer. Everything runs in the test's event loop, over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentkit_inngest._request_context import RequestContext, read_request_context
from agentkit_inngest.testing.executor import LocalExecutor, Run

T = TypeVar("T")
FN = "probe-fn"
EVENT = "probe/run"


def hashed(step_id: str) -> str:
    return hashlib.sha1(step_id.encode()).hexdigest()


def step_op(step_id: str, data: Any = None, op: str = "StepRun") -> dict[str, Any]:
    """An op as an SDK reports it: the hashed id, the readable name."""
    return {"id": hashed(step_id), "op": op, "displayName": step_id, "name": step_id, "data": data}


@dataclasses.dataclass
class Call:
    """One call of the app by the executor, held until the test answers it."""

    body: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]
    started_at_ms: int
    answer_to: asyncio.Future[tuple[int, Any]]

    @property
    def ctx(self) -> dict[str, Any]:
        return dict(self.body["ctx"])

    def context(self) -> RequestContext:
        """The context as :func:`read_request_context` reads this call."""
        context = read_request_context(
            json.dumps(self.body).encode(),
            self.headers,
            self.query,
            started_at_ms=self.started_at_ms,
        )
        assert context is not None
        return context

    def checkpoint(self, *ops: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A checkpoint body for ``ops`` as an SDK handling this call sends it."""
        ctx = self.ctx
        body = {
            "run_id": ctx["run_id"],
            "fn_id": ctx["fn_id"],
            "qi_id": ctx["qi_id"],
            "request_id": ctx["request_id"],
            "generation_id": int(self.headers["x-inngest-generation-id"]),
            "request_started_at": self.started_at_ms,
            "steps": list(ops),
            "ts": int(time.time() * 1000),
        }
        body.update(fields)
        return body

    def answer(self, status: int = 200, body: Any = None) -> None:
        if not self.answer_to.done():
            self.answer_to.set_result((status, body))


class ProbeApp:
    """Registers :data:`FN` (``retries`` retries) and queues each call for the test."""

    def __init__(self, executor: LocalExecutor, *, retries: int = 3) -> None:
        self.executor = executor
        self.retries = retries
        self.calls: asyncio.Queue[Call] = asyncio.Queue()
        self.app = Starlette(
            routes=[
                Route("/api/inngest", self._sync, methods=["PUT"]),
                Route("/api/inngest", self._call, methods=["POST"]),
            ]
        )

    async def attach(self) -> ProbeApp:
        await self.executor.attach(self.app)
        return self

    async def next_call(self, timeout: float = 10.0) -> Call:
        return await asyncio.wait_for(self.calls.get(), timeout)

    async def start(self, data: dict[str, Any] | None = None) -> tuple[Run, Call]:
        run = self.executor.start(FN, data or {})
        return run, await self.next_call()

    async def _sync(self, request: Request) -> Response:
        config = {
            "id": FN,
            "name": "probe",
            "triggers": [{"event": EVENT}],
            "steps": {"step": {"id": "step", "retries": {"attempts": self.retries}}},
        }
        headers = {}
        if self.executor.signing_key:
            key = re.sub(r"^signkey-\w+-", "", self.executor.signing_key)
            headers["authorization"] = f"Bearer {hashlib.sha256(bytes.fromhex(key)).hexdigest()}"
        async with httpx.AsyncClient() as client:
            await client.post(
                f"{self.executor.api_url}/fn/register",
                json={"appName": "probe", "functions": [config]},
                headers=headers,
            )
        return Response(b'{"ok":true}', media_type="application/json")

    async def _call(self, request: Request) -> Response:
        started = int(time.time() * 1000)
        body = json.loads(await request.body())
        future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        await self.calls.put(
            Call(body, dict(request.headers), dict(request.query_params), started, future)
        )
        status, answer = await future
        content = json.dumps(answer).encode()
        headers = {}
        if self.executor.signing_key:
            key = re.sub(r"^signkey-\w+-", "", self.executor.signing_key).encode()
            stamp = str(int(time.time()))
            digest = hmac.new(key, content + stamp.encode(), hashlib.sha256).hexdigest()
            headers["x-inngest-signature"] = f"t={stamp}&s={digest}"
        return Response(content, status, headers=headers, media_type="application/json")


async def post_checkpoint(
    executor: LocalExecutor,
    body: Any,
    *,
    path_run: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    """POST ``body`` (JSON, or raw bytes) to the executor's checkpoint endpoint."""
    run = path_run if path_run is not None else str(body.get("run_id", "x"))
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{executor.api_url}/v1/checkpoint/{run}/async", content=content, headers=headers
        )


async def status_of(
    executor: LocalExecutor, call: Call, *ops: dict[str, Any], **fields: Any
) -> int:
    """The status the endpoint answers to a checkpoint of ``ops`` in ``call``."""
    return (await post_checkpoint(executor, call.checkpoint(*ops, **fields))).status_code


class LoopThread:
    """An event loop in a daemon thread: synchronous hypothesis tests drive async code
    (an executor, a probe run) through it across many examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
