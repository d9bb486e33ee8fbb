"""App processes: start one, read its CPU time and memory, stop it.

CPU time is read from outside, in ``/proc``, so neither the executor nor the driver
is counted: the sum of ``se.sum_exec_runtime`` (nanosecond-precise) over the
process's threads, or ``utime + stime`` from ``/proc/<pid>/stat`` (10 ms ticks)
when the kernel does not expose the former. Peak RSS is ``VmHWM``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Pinned versions of variant (c); installed outside the repository at bench time.
NODE_PACKAGES = {"@inngest/agent-kit": "0.13.2", "inngest": "4.24.0", "zod": "4.6.7"}
NODE_CACHE = pathlib.Path(
    os.environ.get("AGENTKIT_BENCH_CACHE")
    or pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    / "agentkit-inngest-bench"
)


class Unavailable(RuntimeError):
    """A variant cannot run on this machine (the message says why)."""


def cpu_source(pid: int) -> str:
    if pathlib.Path(f"/proc/{pid}/sched").exists():
        return "/proc/<pid>/task/*/sched se.sum_exec_runtime"
    return "/proc/<pid>/stat utime+stime"


def cpu_seconds(pid: int) -> float:
    """CPU time used by the process so far (all live threads)."""
    total_ms = 0.0
    found = False
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                for line in pathlib.Path(f"/proc/{pid}/task/{task}/sched").read_text().splitlines():
                    if line.startswith("se.sum_exec_runtime"):
                        total_ms += float(line.split(":", 1)[1])
                        found = True
                        break
    if found:
        return total_ms / 1000
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def memory_kib(pid: int, key: str) -> int:
    """``VmHWM`` (peak RSS) or ``VmRSS`` from ``/proc/<pid>/status``, in KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


class AppProcess:
    """One app under test, in its own process, printing ``READY <port>`` when up."""

    def __init__(self, argv: Sequence[str], *, cwd: pathlib.Path, log: pathlib.Path) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.log_path = log
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/inngest"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def start(self, timeout: float = 60.0) -> None:
        if not os.path.exists("/proc/self/stat"):  # noqa: ASYNC240 - instant
            raise Unavailable("reading an app's CPU time needs Linux /proc")
        log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=self.cwd, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        log.close()
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            await self.stop()
            raise Unavailable(f"the app did not start: {self.argv[:3]}\n{self.log_tail()}")
        self.port = int(line.split()[1])

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return memory_kib(self.pid, "VmHWM") / 1024

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def python_app(
    app: str, options: str, *, executor: str, provider: str, effects: str, log: pathlib.Path
) -> AppProcess:
    argv = [sys.executable, "-m", "bench.apps.serve", "--app", app, "--options", options]
    argv += ["--executor", executor, "--provider", provider, "--effects", effects]
    return AppProcess(argv, cwd=ROOT, log=log)


def node_dir() -> pathlib.Path:
    tag = "-".join(f"{name.replace('/', '_').lstrip('@')}{v}" for name, v in NODE_PACKAGES.items())
    return NODE_CACHE / f"node-{tag}"


def install_node_packages(*, quiet: bool = True) -> pathlib.Path:
    """Install the pinned npm packages (once) and copy the server next to them."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Unavailable("node and npm are not on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = int(version.stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < 20:
        raise Unavailable(f"node >= 20 is needed, found {version.stdout.strip()}")
    target = node_dir()
    marker = target / ".installed"
    if not marker.exists():
        target.mkdir(parents=True, exist_ok=True)
        package = (
            '{"name": "agentkit-inngest-bench", "private": true, "type": "module", '
            '"dependencies": {'
            + ", ".join(f'"{name}": "{version}"' for name, version in NODE_PACKAGES.items())
            + "}}"
        )
        (target / "package.json").write_text(package)
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            capture_output=quiet,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
            raise Unavailable("npm install failed: " + " | ".join(detail))
        marker.write_text("ok\n")
    shutil.copyfile(ROOT / "bench" / "node" / "server.mjs", target / "server.mjs")
    return target


def node_app(
    checkpointing: bool, *, executor: str, provider: str, effects: str, log: pathlib.Path
) -> AppProcess:
    target = install_node_packages()
    node = shutil.which("node") or "node"
    argv = [node, "server.mjs", executor, provider, effects, "on" if checkpointing else "off"]
    return AppProcess(argv, cwd=target, log=log)
