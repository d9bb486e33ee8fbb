"""``python -m bench.scale``: runs per second with 1 and with 2 app processes, in one run.

The app is ``tests/scale_app.py`` (one agent, two parallel tool calls, a streamed
answer; thread history in PostgreSQL, streams in Redis), served by ``N`` uvicorn
processes behind the tests' reverse proxy, which sends each request to a replica
at random; ``LocalExecutor`` drives the runs through the proxy, ``--concurrency``
at a time. For each ``N`` it prints the runs per second in all and per replica,
the CPU time each replica spent per run (read from ``/proc``), and memory: the
RSS each replica grew by while the runs were in flight, per run in flight, and
what stayed once they were done. Then the ratio of 2 processes to 1.

PostgreSQL and Redis come from ``AGENTKIT_TEST_POSTGRES_DSN`` and
``AGENTKIT_TEST_REDIS_URL``, else throwaway servers are started (Debian's
``postgresql`` and ``redis-server``). The figures are in BENCHMARKS.md and
docs/deployment.md. Nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from .processes import cpu_seconds, memory_kib

FN = "network-desk"


@contextlib.contextmanager
def services() -> Iterator[tuple[str, str]]:
    """(PostgreSQL DSN, Redis URL): from the environment, or throwaway servers."""
    from tests.redis_server import RedisServer, redis_binary
    from tests.test_history_stores import _throwaway_cluster

    with contextlib.ExitStack() as stack:
        dsn = os.environ.get("AGENTKIT_TEST_POSTGRES_DSN") or stack.enter_context(
            _throwaway_cluster()
        )
        url = os.environ.get("AGENTKIT_TEST_REDIS_URL")
        if not url:
            server = RedisServer(redis_binary()).start()
            stack.callback(server.close)
            url = server.url
        yield dsn, url


async def _schema(dsn: str) -> str:
    """A DSN whose tables live in a new schema (each measurement starts empty)."""
    schema = f"bench_scale_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await connection.close()
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}search_path={schema}"


async def measure(
    count: int,
    *,
    dsn: str,
    redis_url: str,
    runs: int,
    concurrency: int,
    logs: Path,
    tool_cpu_ms: float,
) -> dict[str, Any]:
    """Drive ``runs`` runs through ``count`` replicas; the figures."""
    from tests.scale_cluster import cluster

    async with cluster(
        count=count,
        postgres_dsn=await _schema(dsn),
        redis_url=redis_url,
        logs=logs,
        SCALE_TOOL_CPU_MS=str(tool_cpu_ms),
    ) as running:
        executor = running.executor
        pids = [replica.proc.pid for replica in running.replicas if replica.proc]
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with slots:
                run = await executor.run(FN, {"input": f"item {i}", "thread_id": f"t{i}"})
                assert run.status == "completed", run.status
                executor.runs.pop(run.id, None)  # the executor's records are not the app's

        # warm up: every replica opens its pools and runs each code path first
        await asyncio.gather(*(one(-1 - i) for i in range(4 * concurrency)))
        base_rss = {pid: memory_kib(pid, "VmRSS") for pid in pids}
        peak = dict(base_rss)
        cpu = {pid: cpu_seconds(pid) for pid in pids}
        sampling = True

        async def sample() -> None:
            while sampling:
                for pid in pids:
                    peak[pid] = max(peak[pid], memory_kib(pid, "VmRSS"))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        driver = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(runs)))
        elapsed = time.perf_counter() - started
        driver = time.process_time() - driver
        sampling = False
        await sampler
        cpu = {pid: cpu_seconds(pid) - cpu[pid] for pid in pids}
        end_rss = {pid: memory_kib(pid, "VmRSS") for pid in pids}
        served = dict(running.proxy.served)
    in_flight = concurrency / count  # runs each replica holds at once, on average
    return {
        "processes": count,
        "runs": runs,
        "seconds": elapsed,
        "runs_per_s": runs / elapsed,
        "per_replica": runs / elapsed / count,
        "cpu_ms_per_run": 1000 * sum(cpu.values()) / runs,
        "driver_ms_per_run": 1000 * driver / runs,
        "peak_kib_per_run": max((peak[p] - base_rss[p]) / in_flight for p in pids),
        "kept_kib_per_run": max((end_rss[p] - base_rss[p]) / runs for p in pids),
        "rss_mib": max(end_rss.values()) / 1024,
        "requests": sorted(served.values()),
    }


def render(results: list[dict[str, Any]], concurrency: int, tool_cpu_ms: float) -> str:
    lines = [
        f"runs at once: {concurrency}; CPU work per tool call: {tool_cpu_ms:g} ms; machine: "
        f"{os.cpu_count()} CPUs shared by the replicas and the driver (executor + proxy)",
        "",
        "| app processes | runs | runs/s | runs/s per replica | replica CPU ms/run "
        "| driver CPU ms/run "
        "| RSS per run in flight (KiB) | RSS kept per run (KiB) | replica RSS (MiB) "
        "| requests per replica |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['processes']} | {r['runs']} | {r['runs_per_s']:.1f} | {r['per_replica']:.1f} "
            f"| {r['cpu_ms_per_run']:.1f} | {r['driver_ms_per_run']:.1f} "
            f"| {r['peak_kib_per_run']:.0f} "
            f"| {r['kept_kib_per_run']:.1f} | {r['rss_mib']:.0f} "
            f"| {' / '.join(str(n) for n in r['requests'])} |"
        )
    if len(results) == 2:
        ratio = results[1]["runs_per_s"] / results[0]["runs_per_s"]
        lines += ["", f"2 processes / 1 process: {ratio:.2f}x the runs per second"]
    return "\n".join(lines)


async def main(options: argparse.Namespace) -> None:
    with services() as (dsn, url), tempfile.TemporaryDirectory() as logs:
        for cpu_ms in options.tool_cpu_ms:
            results = []
            for count in (1, 2):
                results.append(
                    await measure(
                        count,
                        dsn=dsn,
                        redis_url=url,
                        runs=options.runs,
                        concurrency=options.concurrency,
                        logs=Path(logs),
                        tool_cpu_ms=cpu_ms,
                    )
                )
            print(render(results, options.concurrency, cpu_ms), end="\n\n", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--tool-cpu-ms",
        type=lambda text: [float(part) for part in text.split(",")],
        default=[0.0, 100.0],
        help="CPU work per look_up call, comma-separated: one table each (default 0,100)",
    )
    asyncio.run(main(parser.parse_args()))
