"""A throwaway ``redis-server`` for the tests, and brokers on it.

The session's server comes from ``AGENTKIT_TEST_REDIS_URL`` when it is set, else it
is Debian's ``redis-server`` started here on 127.0.0.1 at a free port, with no
persistence, and stopped at the end. Without the binary the Redis cases are
skipped, saying why, except in CI (``CI`` set), where that is a failure:
``.ci/run`` installs it. Tests that stop and restart Redis start one of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkit_inngest.streaming import Broker, MemoryBroker, RedisBroker

URL_VARIABLE = "AGENTKIT_TEST_REDIS_URL"

__all__ = ["RedisServer", "make_broker", "redis_binary", "redis_server", "redis_url"]


def redis_binary() -> str:
    """The ``redis-server`` to run; skips (fails in CI) when there is none."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        reason = (
            f"Redis broker not tested: {URL_VARIABLE} is not set and redis-server is not "
            "installed (apt-get install redis-server, or run .ci/run)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on 127.0.0.1 at a port of its own, started and stopped at will
    (the port stays the same across restarts, as a restarted Redis's does)."""

    def __init__(self, binary: str, *options: str) -> None:
        self.binary = binary
        self.options = options
        self.port = _free_port()
        self.home = Path(tempfile.mkdtemp(prefix="agentkit-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it and return once it answers."""
        argv = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.home),
            *self.options,
        ]
        with (self.home / "log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.home / 'log').read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe,
            ):
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)  # polling a process that is starting: no event to wait on
        raise RuntimeError("redis-server did not answer within 30 s")

    def stop(self) -> None:
        """Stop it at once (SIGKILL: what it holds is lost, as in a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def throwaway_redis(*options: str) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), *options)
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of a Redis server for the session (skips, saying why, without one)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    with throwaway_redis() as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    return redis_server


class BrokerFactory:
    """Makes brokers of one ``kind`` (``memory`` or ``redis``) with the options given;
    each Redis one has a key prefix of its own."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        self.made: list[RedisBroker] = []

    def __call__(self, **options: Any) -> Broker:
        if self.kind == "memory":
            return MemoryBroker(**options)
        broker = RedisBroker(self.url, prefix=f"test:{uuid.uuid4().hex[:12]}:", **options)
        self.made.append(broker)
        return broker


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """Brokers of one kind (memory, redis) with the options given; each Redis one
    is closed after the test."""
    url = request.getfixturevalue("redis_server") if request.param == "redis" else ""
    make = BrokerFactory(request.param, url)
    yield make
    for broker in make.made:
        await broker.aclose()
