"""docker-compose.yml and the Dockerfile are wired as documented.

No Docker engine runs here, so the test checks the wiring by reading the files,
then runs the app service's own command (only the bind address and port changed)
with the environment the compose file gives it, and drives it with the local
executor in place of the dev server container.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import sys
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.servers import serve_async

from .redis_server import redis_server
from .scale_cluster import Proxy
from .test_history_stores import postgres_dsn, postgres_server

__all__ = ["postgres_dsn", "postgres_server", "redis_server"]  # fixtures used here

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "XAI_API_KEY")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    [cmd] = re.findall(r"^CMD (\[.*\])$", text, re.M)
    parsed: list[str] = json.loads(cmd)
    return parsed


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:-default}`` interpolation against ``shell``."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return shell.get(name) or default

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", replace, value)


def default_services() -> dict[str, Any]:
    """What ``docker compose up`` starts: the services outside every profile."""
    return {name: s for name, s in compose()["services"].items() if "profiles" not in s}


def test_services_are_wired_to_each_other() -> None:
    services = default_services()
    assert set(services) == {"inngest", "app"}
    inngest, app = services["inngest"], services["app"]

    # the official image runs the dev server pointed at the app service's endpoint
    assert inngest["image"].split(":")[0] == "inngest/inngest"
    argv = shlex.split(inngest["command"])
    assert argv[:2] == ["inngest", "dev"] and argv[2] == "-u"
    target = urllib.parse.urlparse(argv[3])
    assert (target.hostname, target.path) == ("app", "/api/inngest")
    assert f"{target.port}:{target.port}" in app["ports"]
    assert "8288:8288" in inngest["ports"]  # the dev server UI
    assert inngest["depends_on"]["app"]["condition"] == "service_healthy"

    # the app is built from this repository, in dev mode, pointed at the dev server
    assert app["build"] == "."
    env = app["environment"]
    dev = urllib.parse.urlparse(env["INNGEST_DEV"])
    assert (dev.hostname, dev.port) == ("inngest", 8288)
    assert env["INNGEST_APP_ID"] == "agentkit-inngest"
    for key in PROVIDER_KEYS:  # passed through from the shell, empty when unset
        assert env[key] == f"${{{key}:-}}"


def test_the_app_command_is_the_image_command() -> None:
    app = compose()["services"]["app"]
    command = shlex.split(app["command"])
    assert command == dockerfile_cmd()
    assert command[:2] == ["uvicorn", "functions.app:app"]
    assert command[command.index("--port") + 1] == app["ports"][0].split(":")[1]
    text = (ROOT / "Dockerfile").read_text()
    for needed in ("COPY functions ./functions", "COPY examples ./examples", "pip install"):
        assert needed in text
    assert "EXPOSE 8000" in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _read_until(stream: asyncio.StreamReader | None, marker: str) -> str:
    assert stream is not None
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), 60)
        if not line:
            raise AssertionError(f"the app exited before printing {marker!r}:\n{seen}")
        seen += line.decode()
    return seen


async def test_the_app_service_command_serves_every_example() -> None:
    app = compose()["services"]["app"]
    port = _free_port()
    command = shlex.split(app["command"])
    command[command.index("--host") + 1] = "127.0.0.1"  # not 0.0.0.0 on a test machine
    command[command.index("--port") + 1] = str(port)
    command[0] = str(BIN / command[0])  # the image's `pip install .` put it on PATH

    async with LocalExecutor() as executor:
        # the compose environment as an empty shell resolves it; the executor stands
        # in for the dev server at INNGEST_DEV
        env = {
            name: interpolate(str(value), shell={}) for name, value in app["environment"].items()
        }
        assert all(env[key] == "" for key in PROVIDER_KEYS)
        env["INNGEST_DEV"] = executor.api_url
        env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,  # like WORKDIR /app: functions/ and examples/ side by side
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await _read_until(process.stderr, "Uvicorn running on")

            # the compose healthcheck passes against the running app
            check = [part.replace(":8000/", f":{port}/") for part in app["healthcheck"]["test"]]
            assert check[0] == "CMD" and check[1] == "python"
            probe = await asyncio.create_subprocess_exec(sys.executable, *check[2:])
            assert await probe.wait() == 0

            # the dev server's sync, then the quick start and the human-in-the-loop flow
            await executor.sync(f"http://127.0.0.1:{port}/api/inngest")
            assert len(executor.functions) == 11
            assert all(fn_id.startswith("agentkit-inngest-") for fn_id in executor.functions)
            run = await executor.run("network-devops-team", {"input": "scale?"})
            assert "row-level security" in run.output["state"]["data"]["security_agent_answer"]

            await executor.send(
                {"name": "app/support.ticket.created", "data": {"ticketId": "T-1001"}}
            )
            [ticket_run] = [r for r in executor.runs.values() if r.fn_id.endswith("workflow")]
            await executor.wait_for_pause(ticket_run)
            await executor.send(
                {
                    "name": "app/support.ticket.developer-response",
                    "data": {"ticketId": "T-1001", "answer": "Scale the workers"},
                }
            )
            await ticket_run.wait()
            assert ticket_run.output["response"].endswith("Workaround: Scale the workers")
        finally:
            process.terminate()
            await process.wait()


@pytest.mark.parametrize(
    ("value", "shell", "expected"),
    [
        ("${X:-}", {}, ""),
        ("${X:-fallback}", {}, "fallback"),
        ("${X:-fallback}", {"X": "set"}, "set"),
        ("${X}", {"X": "v"}, "v"),
        ("plain", {}, "plain"),
    ],
)
def test_interpolation_follows_compose(value: str, shell: dict[str, str], expected: str) -> None:
    assert interpolate(value, shell) == expected


# -- the selfhosted profile ---------------------------------------------------------------

SELFHOSTED = {
    "selfhosted-inngest",
    "selfhosted-inngest-postgres",
    "selfhosted-inngest-redis",
    "app-1",
    "app-2",
    "lb",
    "streams-redis",
    "history-postgres",
}
APPS = ("app-1", "app-2")


def selfhosted() -> dict[str, Any]:
    return {
        name: s
        for name, s in compose()["services"].items()
        if "selfhosted" in s.get("profiles", [])
    }


def _host_port(url: str) -> tuple[str | None, int | None]:
    parsed = urllib.parse.urlparse(url)
    return parsed.hostname, parsed.port


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_the_selfhosted_profile_is_wired_as_inngest_self_hosting_describes() -> None:
    services = selfhosted()
    assert set(services) == SELFHOSTED
    assert all(s["profiles"] == ["selfhosted"] for s in services.values())

    # `inngest start` with its own PostgreSQL and Redis, syncing the load balancer
    inngest = services["selfhosted-inngest"]
    assert inngest["image"].split(":")[0] == "inngest/inngest"
    argv = shlex.split(inngest["command"])
    assert argv[:2] == ["inngest", "start"]
    sdk_url = argv[argv.index("--sdk-url") + 1]
    lb_port = int(services["lb"]["ports"][0].split(":")[1])
    assert _host_port(sdk_url) == ("lb", lb_port) and sdk_url.endswith("/api/inngest")
    env = inngest["environment"]
    # the keys come from the shell, the same ones the apps get
    assert env["INNGEST_SIGNING_KEY"] == "${INNGEST_SIGNING_KEY:-}"
    assert env["INNGEST_EVENT_KEY"] == "${INNGEST_EVENT_KEY:-}"
    pg = urllib.parse.urlparse(env["INNGEST_POSTGRES_URI"])
    pg_env = services["selfhosted-inngest-postgres"]["environment"]
    assert (pg.hostname, pg.username, pg.password, pg.path) == (
        "selfhosted-inngest-postgres",
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        f"/{pg_env['POSTGRES_DB']}",
    )
    assert _host_port(env["INNGEST_REDIS_URI"])[0] == "selfhosted-inngest-redis"
    assert "noeviction" in services["selfhosted-inngest-redis"]["command"]  # run state
    assert _depends(inngest) == {
        "selfhosted-inngest-postgres": "service_healthy",
        "selfhosted-inngest-redis": "service_healthy",
        "lb": "service_started",
    }

    # two replicas of one app in production mode, behind the load balancer
    lb = shlex.split(services["lb"]["command"])
    assert lb[:4] == ["caddy", "reverse-proxy", "--from", f":{lb_port}"]
    assert [lb[i + 1] for i, part in enumerate(lb) if part == "--to"] == [
        f"{name}:8000" for name in APPS
    ]
    assert _depends(services["lb"]) == dict.fromkeys(APPS, "service_healthy")
    first, second = (services[name] for name in APPS)
    assert first == second  # the same service twice
    app_env = first["environment"]
    assert "INNGEST_DEV" not in app_env  # production mode: signed requests only
    assert _host_port(app_env["INNGEST_BASE_URL"]) == ("selfhosted-inngest", 8288)
    assert app_env["INNGEST_SIGNING_KEY"] == env["INNGEST_SIGNING_KEY"]
    assert app_env["INNGEST_EVENT_KEY"] == env["INNGEST_EVENT_KEY"]
    assert _host_port(app_env["INNGEST_SERVE_ORIGIN"]) == ("lb", lb_port)  # pinned
    assert _host_port(app_env["AGENTKIT_REDIS_URL"])[0] == "streams-redis"
    dsn = urllib.parse.urlparse(app_env["AGENTKIT_POSTGRES_DSN"])
    history = services["history-postgres"]["environment"]
    assert (dsn.hostname, dsn.username, dsn.password, dsn.path) == (
        "history-postgres",
        history["POSTGRES_USER"],
        history["POSTGRES_PASSWORD"],
        f"/{history['POSTGRES_DB']}",
    )
    assert app_env["AGENTKIT_PUBLIC_STREAMS"] == "1"
    assert _depends(first) == {
        "streams-redis": "service_healthy",
        "history-postgres": "service_healthy",
    }
    assert first["build"] == "."
    # the streams' Redis is bounded and evicts the keys closest to expiring first
    streams = shlex.split(services["streams-redis"]["command"])
    assert streams[streams.index("--maxmemory-policy") + 1] == "volatile-ttl"
    # nothing of the profile takes a host port the default services use
    published = [
        p.split(":")[0] for s in compose()["services"].values() for p in s.get("ports", [])
    ]
    assert len(published) == len(set(published)), published


async def test_the_selfhosted_replicas_serve_one_app_behind_the_load_balancer(
    tmp_path: Path, postgres_dsn: str, redis_server: str
) -> None:
    """Both replicas' command, with the profile's environment (the hosts swapped for
    the tests' servers; a signing executor in place of `inngest start`, the tests'
    proxy in place of Caddy): a question posted to either one runs, its stream and
    its thread history are read through the other."""
    app = selfhosted()["app-1"]
    keys = {"INNGEST_SIGNING_KEY": "ab" * 32, "INNGEST_EVENT_KEY": "cd" * 16}
    env = {name: interpolate(str(value), shell=keys) for name, value in app["environment"].items()}
    assert env["INNGEST_SIGNING_KEY"] == keys["INNGEST_SIGNING_KEY"]
    proxy = Proxy()
    processes: list[asyncio.subprocess.Process] = []
    async with (
        LocalExecutor(signing_key=keys["INNGEST_SIGNING_KEY"]) as executor,
        serve_async(proxy.app) as lb,
        httpx.AsyncClient(timeout=60) as http,
    ):
        env.update(
            INNGEST_BASE_URL=executor.api_url,
            INNGEST_SERVE_ORIGIN=lb.url,
            AGENTKIT_REDIS_URL=redis_server,
            AGENTKIT_POSTGRES_DSN=postgres_dsn,
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        try:
            for _ in APPS:
                port = _free_port()
                command = shlex.split(app["command"])
                command[command.index("--host") + 1] = "127.0.0.1"
                command[command.index("--port") + 1] = str(port)
                command[0] = str(BIN / command[0])
                process = await asyncio.create_subprocess_exec(
                    *command, cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
                )
                processes.append(process)
                await _read_until(process.stderr, "Uvicorn running on")
                proxy.targets.append(f"http://127.0.0.1:{port}")
            health = [(await http.get(f"{t}/health")).json() for t in proxy.targets]
            assert {h["mode"] for h in health} == {"production"}
            await executor.sync(f"{lb.url}/api/inngest")  # signed, as `inngest start` syncs
            assert executor.registered_urls[-1].startswith(lb.url)  # the pinned origin
            a, b = proxy.targets
            proxy.only = a  # the question goes to replica A ...
            started = (await http.post(f"{lb.url}/chat", json={"message": "Oslo?"})).json()
            thread = started["thread_id"]
            [run] = executor.runs.values()
            proxy.only = None  # ... its steps to either replica ...
            await run.wait()
            assert run.status == "completed"
            # ... and replica B streams it and shows the thread, from the shared stores
            async with http.stream(
                "GET", f"{b}/streams/{thread}", params={"after": f"{run.id}:0"}
            ) as stream:
                assert stream.status_code == 200
                lines = [line async for line in _until_completed(stream)]
            assert any(line == "event: run.completed" for line in lines)
            messages = (await http.get(f"{b}/threads/{thread}/messages")).json()["messages"]
            assert messages[0]["content"] == "Oslo?"
            assert "Wear a warm coat" in messages[-1]["content"]
        finally:
            for process in processes:
                process.terminate()
                await process.wait()
    assert len(proxy.served) == 2  # both replicas served requests of the run


async def _until_completed(stream: httpx.Response) -> AsyncIterator[str]:
    async for line in stream.aiter_lines():
        yield line
        if line == "event: run.completed":
            return
