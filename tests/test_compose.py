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
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentkit_inngest.testing import LocalExecutor

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


def test_services_are_wired_to_each_other() -> None:
    services = compose()["services"]
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
            assert len(executor.functions) == 10
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
