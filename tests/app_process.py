"""Run ``tests/reliability_app.py`` in a real ``uvicorn`` process that tests can kill."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from agentkit_inngest.testing import LocalExecutor

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def app_env(executor: LocalExecutor, db: Path, **extra: str) -> dict[str, str]:
    """The environment of an app process driven by ``executor``, recording to ``db``."""
    return {
        "INNGEST_DEV": executor.api_url,
        "INNGEST_APP_ID": "reliability",
        "RELIABILITY_DB": str(db),
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AppProcess:
    """``uvicorn <app>`` (default ``reliability_app:app``) on 127.0.0.1:``port``, with
    ``env`` added and its output appended to ``log``."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        log: Path,
        port: int | None = None,
        app: str = "reliability_app:app",
    ) -> None:
        self.app = app
        self.port = port or free_port()
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def inngest_url(self) -> str:
        return f"{self.url}/api/inngest"

    def spawn(self, **overrides: str) -> None:
        """Start the process (without waiting for it to listen)."""
        env = {**os.environ, **self.env, **overrides}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app,
                    "--app-dir",
                    str(TESTS),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once ``/health`` answers (the process is importing until then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the app did not start within {timeout}s: {self.tail()}")

    def start(self, **overrides: str) -> AppProcess:
        self.spawn(**overrides)
        self.wait_ready()
        return self

    def kill(self) -> int:
        """SIGKILL the process (no cleanup, no graceful shutdown) and reap it."""
        assert self.proc is not None
        pid = self.proc.pid
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
