"""A hostile oversized body sent to ``/api/inngest``: prints figures, asserts nothing.

    .venv/bin/python -m bench.hostile_body                 # 200 MB, as in issue 12
    .venv/bin/python -m bench.hostile_body --mb 600

The app (``create_server`` in production mode, defaults only) runs in its own
``uvicorn`` process. The script streams the body over a raw socket, as fast as the
app takes it, while it asks ``GET /health`` every 50 ms, then reads the app's peak
RSS (``VmHWM``) from ``/proc``. Three bodies are sent, each to a fresh process: an
unsigned one with a ``Content-Length``, an unsigned chunked one (no length), and a
chunked one with a well-formed signature header whose MAC is wrong (it passes the
header checks, so only the body cap stops it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx

from bench.processes import AppProcess, memory_kib

SIGNING_KEY = "signkey-prod-" + "b0d1e5" * 11
CHUNK = 1 << 20
ROOT = pathlib.Path(__file__).resolve().parents[1]


def build_app() -> object:
    """The app under test: one trivial function, production mode, defaults only."""
    import inngest

    from agentkit_inngest import create_server

    client = inngest.Inngest(
        app_id="hostile",
        is_production=True,
        signing_key=SIGNING_KEY,
        api_base_url="http://127.0.0.1:9",
    )

    @client.create_function(fn_id="noop", trigger=inngest.TriggerEvent(event="noop"))
    async def noop(ctx: inngest.Context) -> str:
        return "ran"

    return create_server(client=client, functions=[noop])


def serve() -> None:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(f"READY {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(build_app(), log_level="warning", access_log=False)  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])


async def _send(port: int, size: int, *, chunked: bool, signature: str | None) -> tuple[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["POST /api/inngest?fnId=hostile-noop&stepId=step HTTP/1.1", f"host: 127.0.0.1:{port}"]
    head.append("content-type: application/json")
    head.append("transfer-encoding: chunked" if chunked else f"content-length: {size}")
    if signature:
        head.append(f"x-inngest-signature: {signature}")
    started = time.perf_counter()
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    status = "no answer"

    async def answer() -> str:
        line = await reader.readline()
        return line.decode(errors="replace").strip() or "connection closed"

    reply = asyncio.create_task(answer())
    # an app that refuses on the headers answers at once: then no body is sent (sending
    # it into a closed connection would reset it and lose the answer)
    await asyncio.wait([reply], timeout=0.2)
    try:
        for part in _json_body(size):
            if reply.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            sent += len(part)
        if chunked and not reply.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        status = await asyncio.wait_for(reply, 600)
    except (ConnectionError, OSError) as err:
        # the app answered and closed while the body was still coming: read its answer
        with contextlib.suppress(Exception):
            status = await asyncio.wait_for(reply, 5)
        if not reply.done() or status == "no answer":
            status = f"{type(err).__name__} (the app closed the connection)"
    finally:
        reply.cancel()
        writer.close()
    seconds = time.perf_counter() - started
    return f"{status} (sent {sent / CHUNK:.0f} of {size / CHUNK:.0f} MB)", seconds


def _json_body(size: int) -> Iterator[bytes]:
    """``size`` bytes of valid JSON, ``{"steps": {"pad": "xx..."}}``, in 1 MiB parts."""
    head, tail = b'{"steps":{"pad":"', b'"}}'
    filler = size - len(head) - len(tail)
    block = b"x" * CHUNK
    yield head
    while filler > 0:
        part = block[: min(CHUNK, filler)]
        filler -= len(part)
        yield part
    yield tail


async def _health(port: int, stop: asyncio.Event) -> float:
    worst = 0.0
    async with httpx.AsyncClient(timeout=600) as http:
        while not stop.is_set():
            started = time.perf_counter()
            await http.get(f"http://127.0.0.1:{port}/health")
            worst = max(worst, time.perf_counter() - started)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    return worst


async def measure(name: str, size: int, *, chunked: bool, signature: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = AppProcess(
            [sys.executable, "-m", "bench.hostile_body", "--serve"],
            cwd=ROOT,
            log=pathlib.Path(tmp) / "app.log",
        )
        await app.start()
        try:
            async with httpx.AsyncClient() as http:  # warm up: imports, first request
                await http.get(f"http://127.0.0.1:{app.port}/health")
            before = memory_kib(app.pid, "VmRSS") / 1024
            stop = asyncio.Event()
            health = asyncio.create_task(_health(app.port, stop))
            status, seconds = await _send(app.port, size, chunked=chunked, signature=signature)
            stop.set()
            worst = await health
            peak = app.peak_rss_mib()
        finally:
            await app.stop()
    memory = f"{before:.0f} -> {peak:.0f} MiB"
    print(f"| {name} | {status} | {seconds:.2f} s | {memory} | {worst * 1000:.0f} ms |")


async def main(mb: int) -> None:
    size = mb * CHUNK
    forged = f"t={int(time.time())}&s={'0' * 64}"
    print(f"hostile body of {mb} MB to /api/inngest (production mode)")
    print("| body | answer | time | app RSS (before -> peak) | slowest /health |")
    print("| --- | --- | --- | --- | --- |")
    await measure("unsigned, Content-Length", size, chunked=False, signature=None)
    await measure("unsigned, chunked", size, chunked=True, signature=None)
    await measure("forged signature, chunked", size, chunked=True, signature=forged)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        os.environ.pop("INNGEST_DEV", None)
        serve()
    else:
        asyncio.run(main(args.mb))
