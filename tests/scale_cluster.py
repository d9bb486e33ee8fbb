"""Several app processes behind one address: what a load balancer in front of app
replicas does, small enough to read.

:class:`Proxy` is a real reverse proxy (Starlette + httpx, streaming responses, so
server-sent events pass through as they come) that sends each request to one of
its targets: at random (seeded: the same sequence every run) or to one chosen
replica. :class:`Cluster` starts ``tests/scale_app.py`` in ``count`` uvicorn
processes sharing PostgreSQL and Redis, with their serve origin pinned to the
proxy, as a production deployment pins it to its load balancer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from agentkit_inngest.testing.executor import LocalExecutor
from agentkit_inngest.testing.servers import serve_async

from .app_process import AppProcess

# the tables of tests/scale_app.py (importing it would need its environment)
TABLES = (
    "CREATE TABLE IF NOT EXISTS scale_executions "
    "(run_id TEXT, tool TEXT, call_id TEXT, pid INTEGER)",
    "CREATE TABLE IF NOT EXISTS scale_gates (thread_id TEXT)",
)

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Proxy:
    """Forwards every request to a target chosen per request."""

    def __init__(self, *, seed: int = 17) -> None:
        self.targets: list[str] = []
        self.only: str | None = None  # send everything here (one replica's URL)
        self.random = random.Random(seed)
        self.served: collections.Counter[str] = collections.Counter()
        self.runs: collections.defaultdict[str, set[str]] = collections.defaultdict(set)
        """run id -> the targets that served calls of it."""
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60, read=None))
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self.forward,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
                )
            ]
        )

    def pick(self) -> str:
        return self.only or self.random.choice(self.targets)

    async def forward(self, request: Request) -> Response:
        target = self.pick()
        self.served[target] += 1
        url = target + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in _HOP]
        body = await request.body()
        if request.method == "POST" and request.url.path.endswith("/api/inngest"):
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                self.runs[json.loads(body)["ctx"]["run_id"]].add(target)
        outgoing = self.http.build_request(request.method, url, headers=headers, content=body)
        try:
            answer = await self.http.send(outgoing, stream=True)
        except httpx.TransportError as err:
            return Response(f"proxy: {target} did not answer ({err})", status_code=502)
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
            background=BackgroundTask(answer.aclose),
        )


class Cluster:
    """``count`` replicas of the scale app behind a :class:`Proxy`, driven by a
    :class:`LocalExecutor` that syncs (and so calls) the proxy."""

    def __init__(self, executor: LocalExecutor, proxy: Proxy, replicas: list[AppProcess]) -> None:
        self.executor = executor
        self.proxy = proxy
        self.replicas = replicas


@contextlib.asynccontextmanager
async def cluster(
    *,
    count: int,
    postgres_dsn: str,
    redis_url: str,
    logs: Path,
    app_id: str = "scale",
    **extra: str,
) -> AsyncIterator[Cluster]:
    """Start the proxy, ``count`` replicas and an executor synced through the proxy."""
    connection = await asyncpg.connect(postgres_dsn)
    try:
        for statement in TABLES:
            await connection.execute(statement)
    finally:
        await connection.close()
    proxy = Proxy()
    async with LocalExecutor() as executor, serve_async(proxy.app) as front:
        env = {
            "INNGEST_DEV": executor.api_url,
            "INNGEST_APP_ID": app_id,
            "INNGEST_SERVE_ORIGIN": front.url,  # what the replicas register: the proxy
            "SCALE_POSTGRES_DSN": postgres_dsn,
            "SCALE_REDIS_URL": redis_url,
            **extra,
        }
        replicas = [
            AppProcess(env=env, log=logs / f"replica-{i}.log", app="scale_app:app")
            for i in range(count)
        ]
        try:
            for replica in replicas:
                replica.spawn()
            for replica in replicas:
                await asyncio.to_thread(replica.wait_ready)
            proxy.targets = [replica.url for replica in replicas]
            await executor.sync(f"{front.url}/api/inngest")
            yield Cluster(executor, proxy, replicas)
        finally:
            for replica in replicas:
                replica.stop()
            await proxy.http.aclose()
