"""``python -m bench --profile VARIANT``: where the app's CPU goes during a long replay.

Samples the app process (a Python variant) with py-spy while it serves one run of
``--profile-turns`` turns (default 100, so the later requests replay ~200 memoized
steps each; ``--profile-runs`` samples several runs, for short ones), then prints the
top frames by self time and by inclusive time, and self time per package. The raw
collapsed stacks are kept for a flame graph.
"""

from __future__ import annotations

import asyncio
import collections
import os
import pathlib
import shutil
import signal
import sys
import tempfile

from agentkit_inngest.testing.servers import serve_async

from .processes import Unavailable
from .report import table
from .runner import Config, VariantBench
from .variants import VARIANTS, parse_variant
from .workload import provider_app

PACKAGES = [
    ("agentkit_inngest", "agentkit-inngest"),
    ("/inngest/", "inngest SDK"),
    ("pydantic", "pydantic"),
    ("/openai/", "openai SDK"),
    ("/httpx/", "httpx/httpcore"),
    ("/httpcore/", "httpx/httpcore"),
    ("/starlette/", "starlette/fastapi/uvicorn"),
    ("/fastapi/", "starlette/fastapi/uvicorn"),
    ("/uvicorn/", "starlette/fastapi/uvicorn"),
    ("/h11/", "starlette/fastapi/uvicorn"),
    ("/anyio/", "asyncio/anyio"),
    ("/asyncio/", "asyncio/anyio"),
    ("/json/", "json (stdlib)"),
    ("/copy.py", "copy (stdlib)"),
    ("/bench/", "benchmark app"),
]


def package_of(frame: str) -> str:
    for needle, name in PACKAGES:
        if needle in frame:
            return name
    return "other"


def short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py)`` -> ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    for anchor in ("site-packages", "agentkit_inngest", "bench", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            keep = parts[index + 1 :] if anchor in ("site-packages", "lib") else parts[index:]
            return f"{name} ({'/'.join(keep)})"
    return f"{name} ({'/'.join(parts[-2:])})"


def summarize(raw: str, top: int = 20) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_counts[short(frames[-1])] += count
        packages[package_of(frames[-1])] += count
        for frame in {short(f) for f in frames}:
            inclusive[frame] += count
    if not total:
        return "no samples (is py-spy allowed to read the process?)"

    def pct(count: int) -> str:
        return f"{100 * count / total:.1f}%"

    out = [f"{total} samples", "", "### Self time by package", ""]
    out.append(table(["package", "self"], [[k, pct(v)] for k, v in packages.most_common()]))
    out += ["", f"### Top {top} frames by self time", ""]
    out.append(table(["frame", "self"], [[k, pct(v)] for k, v in self_counts.most_common(top)]))
    out += ["", f"### Top {top} frames by inclusive time (our code and the SDK)", ""]
    ours = [
        (k, v)
        for k, v in inclusive.most_common()
        if k.split(" (", 1)[1].startswith(("agentkit_inngest/", "inngest/", "pydantic", "bench/"))
    ]
    out.append(table(["frame", "inclusive"], [[k, pct(v)] for k, v in ours[:top]]))
    return "\n".join(out)


async def _profile(
    name: str, turns: int, runs: int, extra: list[str], out_dir: pathlib.Path
) -> int:
    variants = {v.name: v for v in [*VARIANTS, *(parse_variant(s) for s in extra)]}
    variant = variants.get(name)
    if variant is None or variant.app == "node":
        print(f"--profile needs a Python variant; known: {sorted(variants)}", file=sys.stderr)
        return 2
    spy = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):  # noqa: ASYNC240 - instant
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    raw_path = out_dir / f"profile-{name}-n{turns}.txt"
    config = Config(turns=[turns], reps=1)
    async with serve_async(provider_app()) as provider:
        bench = VariantBench(variant, config, provider.url, out_dir)
        from .runner import BenchExecutor

        async with BenchExecutor() as executor:
            app = bench._app(executor)
            await app.start()
            try:
                await executor.sync(app.url)
                for _ in range(3):
                    await bench.one(executor, app, bench.plan(5))
                sampler = await asyncio.create_subprocess_exec(
                    spy,
                    "record",
                    "--pid",
                    str(app.pid),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--nolineno",
                    "--format",
                    "raw",
                    "--output",
                    str(raw_path),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                await asyncio.sleep(1.0)  # let py-spy attach
                sampled = [await bench.one(executor, app, bench.plan(turns)) for _ in range(runs)]
                sampler.send_signal(signal.SIGINT)
                _, err = await sampler.communicate()
            finally:
                await app.stop()
    if not raw_path.exists():
        print(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return 1
    print(f"# Profile of `{name}` serving {runs} run(s) of {turns} turns")
    print()
    for stats in sampled:
        print(
            f"- run: {stats.status}, {stats.requests} requests, {stats.memos_sent} memos "
            f"replayed, app CPU {stats.cpu * 1000:.0f} ms "
            f"({stats.cpu / stats.requests * 1e6:.0f} us/request)"
        )
    print(f"- raw collapsed stacks (flame graph input): {raw_path}")
    print()
    print(summarize(raw_path.read_text()))
    return 0 if all(stats.status == "completed" for stats in sampled) else 1


def profile(name: str, *, turns: int, runs: int = 1, extra: list[str]) -> int:
    out_dir = pathlib.Path(tempfile.mkdtemp(prefix="agentkit-profile-"))
    try:
        return asyncio.run(_profile(name, turns, runs, extra, out_dir))
    except Unavailable as err:
        print(f"cannot profile: {err}", file=sys.stderr)
        return 2
