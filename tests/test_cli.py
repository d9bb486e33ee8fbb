"""The agentkit-inngest CLI: argument handling and errors in-process, the real
console script in subprocesses."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner, Result

from agentkit_inngest.cli import app, function_configs
from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.servers import serve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = (
    "quick_start",
    "support_agent",
    "state_routing",
    "multi_step_tool",
    "multitenancy",
    "ticket_triage",
)
SCRIPT = Path(sys.executable).parent / "agentkit-inngest"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider keys (the examples' offline models answer), the repo importable,
    fresh example modules, a wide terminal."""
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "INNGEST_EVENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", [str(ROOT), *sys.path])  # restored after the test
    for module in ["examples", *(f"examples.{name}" for name in EXAMPLES), "functions.app"]:
        sys.modules.pop(module, None)


def invoke(*args: str, **kw: Any) -> Result:
    return CliRunner().invoke(app, list(args), **kw)


def test_help_and_version() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("serve", "run", "send", "functions"):
        assert command in result.output
    assert invoke("--version").output.strip() == "agentkit-inngest 0.1.0"
    assert invoke().exit_code != 0  # no command: usage


# -- run -------------------------------------------------------------------------------------


def test_run_shows_agents_tools_state_and_usage(offline: None) -> None:
    result = invoke("run", "examples.quick_start:network", "How do I scale Postgres?")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Database administrator#1" in out and "Database Security Expert#1" in out
    assert out.count("save_answer") == 2 and out.count(" done ") == 2
    # the agents answered with tools: the answer is what they changed in the state
    assert "State changes" in out
    assert "data.dba_agent_answer       Put PgBouncer in front of Postgres" in out
    assert "data.security_agent_answer  Use row-level security" in out
    assert "Tokens: 20 in, 10 out, 30 total" in out


def test_run_json_and_a_starting_state(offline: None) -> None:
    state = json.dumps({"data": {"dba_agent_answer": "already answered"}})
    result = invoke("run", "examples.quick_start:network", "scale?", "--state", state, "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert [r["agent_name"] for r in outcome["results"]] == ["Database Security Expert"]
    assert outcome["state"]["data"]["dba_agent_answer"] == "already answered"
    assert outcome["usage"]["total_tokens"] == 15


def test_run_an_agent_on_its_own(
    offline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "solo.py").write_text(
        textwrap.dedent(
            """
            from agentkit_inngest import create_agent
            from agentkit_inngest.testing import FunctionModel

            def greet(call):
                return f"hello, {call.messages[-1].content}"

            greeter = create_agent(name="Greeter", model=FunctionModel(greet))
            """
        )
    )
    state = '{"data": {"lang": "en"}}'
    args = ["run", "solo.py:greeter", "Ada", "--state", state, "--app-dir", str(tmp_path)]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["agent"] == "Greeter" and outcome["output"] == "hello, Ada"
    assert outcome["state"]["data"] == {"lang": "en"}
    shown = invoke(*args)
    assert "Greeter#1" in shown.output and "hello, Ada" in shown.output


def test_run_answers_event_waits_with_replies(offline: None) -> None:
    ticket = "Ticket T-1001 from Acme (critical priority): dashboards are down"
    result = invoke(
        "run",
        "examples.support_agent:support_network",
        ticket,
        "--reply",
        '{"ticketId": "T-1001", "answer": "Roll back to 2.4.1"}',
    )
    assert result.exit_code == 0, result.output
    assert "wait waits for app/support.ticket.developer-response" in result.output
    assert 'reply {"ticketId": "T-1001", "answer": "Roll back to 2.4.1"}' in result.output
    assert "Workaround: Roll back to 2.4.1" in result.output
    assert "Supervisor#1 (router)" in result.output

    # without a reply (and no terminal to ask at) the wait times out
    result = invoke("run", "examples.support_agent:support_network", ticket)
    assert result.exit_code == 0, result.output
    assert "no reply (timed out)" in result.output
    assert "could not reach a developer" in result.output


def test_run_asks_for_replies_at_the_terminal(offline: None) -> None:
    ticket = "Ticket T-1001 from Acme (critical priority): dashboards are down"
    typed = 'oops\n["a list"]\n{"ticketId": "T-1001", "answer": "typed reply"}\n'
    args = ["run", "examples.support_agent:support_network", ticket, "--ask"]
    result = invoke(*args, input=typed)
    assert result.exit_code == 0, result.output
    assert "Technical Support#1/tool/ask_developer/wait waits for" in result.output
    assert "not JSON: Expecting value" in result.output
    assert "the reply data must be a JSON object" in result.output
    assert "Workaround: typed reply" in result.output

    result = invoke(*args, input="\n")  # an empty answer: the wait times out
    assert result.exit_code == 0, result.output
    assert "could not reach a developer" in result.output


def test_run_shows_steps_of_step_orchestrating_tools(
    offline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chores.py").write_text(
        textwrap.dedent(
            """
            from agentkit_inngest import ToolContext, create_agent, create_network, tool
            from agentkit_inngest import route_in_order
            from agentkit_inngest.testing import ScriptedModel, text, tool_call

            @tool(uses_steps=True)
            async def chores(ctx: ToolContext) -> str:
                \"\"\"Fetch, nap and notify.\"\"\"
                got = await ctx.step.run("fetch", lambda: {"rows": 3})
                await ctx.step.sleep("nap", 1)
                await ctx.step.send_event("notify", [{"name": "app/chores.done", "data": got}])
                return "all done"

            model = ScriptedModel([tool_call("chores"), text("Chores finished.")])
            worker = create_agent(name="Worker", model=model, tools=[chores], max_iter=2)
            network = create_network(name="Chores", agents=[worker], router=route_in_order(worker))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "chores:network", "do the chores")
    assert result.exit_code == 0, result.output
    assert "not sent (plain-Python run): ['app/chores.done']" in result.output
    assert "✓ chores ok" in result.output and "→ all done" in result.output
    assert "Chores finished." in result.output


def test_run_with_a_runner_factory(offline: None) -> None:
    target = "examples.multi_step_tool:network"
    result = invoke("run", target, "pgvector")
    assert result.exit_code == 1
    assert "invokes function 'research-web-tool'" in result.output
    assert "--runner MODULE:NAME" in result.output

    result = invoke("run", target, "pgvector", "--runner", "examples.multi_step_tool:inline_runner")
    assert result.exit_code == 0, result.output
    assert "✓ research_web ok" in result.output
    assert "pgvector adds a vector type" in result.output

    result = invoke("run", target, "x", "--runner", "examples.multi_step_tool:pick_models")
    assert result.exit_code == 1
    assert "examples.multi_step_tool:pick_models() returned tuple, not a StepRunner" in (
        result.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["examples.nowhere:network"], "no module named 'examples.nowhere' under"),
        (["examples.quick_start:nope"], "has no 'nope'; candidates: dba_agent, network"),
        (["examples.quick_start"], "'examples.quick_start' is not MODULE:NAME"),
        (["examples.quick_start:model"], "is a FunctionModel, not a network or agent"),
        (["examples.quick_start:network", "--state", "{bad"], "--state is not valid JSON"),
        (["examples.quick_start:network", "--state", "[]"], "--state must be a JSON object"),
        (["examples.quick_start:network", "--reply", "yes"], "--reply is not valid JSON"),
    ],
)
def test_run_errors_name_what_to_fix(offline: None, args: list[str], message: str) -> None:
    target, *options = args
    result = invoke("run", target, "question", *options)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error:" in result.stderr and message in result.stderr


def test_run_reports_import_and_run_failures(
    offline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "failing.py").write_text(
        textwrap.dedent(
            """
            from agentkit_inngest import FatalProviderError, create_agent, create_network
            from agentkit_inngest.testing import FunctionModel

            def refuse(call):
                return FatalProviderError("the provider rejected the key", provider="test")

            agent = create_agent(name="A", model=FunctionModel(refuse))
            network = create_network(name="N", agents=[agent], router=lambda call_count: (
                agent if call_count == 0 else None))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "broken:network", "x")
    assert "importing 'broken' failed (broken.py, line 1): RuntimeError: boom at import" in (
        result.stderr
    )
    result = invoke("run", "needs_dep:network", "x")
    assert (
        "importing 'needs_dep' failed (needs_dep.py, line 1): "
        "No module named 'not_installed_anywhere'"
    ) in result.stderr
    result = invoke("run", "failing:network", "x", "--app-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "the run failed: the provider rejected the key" in result.stderr


# -- functions -------------------------------------------------------------------------------


def test_functions_lists_triggers_and_flow_control(offline: None) -> None:
    result = invoke("functions", "--json")
    assert result.exit_code == 0, result.output
    listed = {entry["id"]: entry for entry in json.loads(result.stdout)}
    deep = listed["agentkit-inngest-deep-research-network"]
    assert deep["triggers"] == [{"event": "deep-research-network/run"}]
    assert deep["flow_control"] == {
        "concurrency": [{"key": "event.data.user_id", "limit": 10}],
        "throttle": {"key": "event.data.user_id", "limit": 20, "period": "1m", "burst": 1},
        "retries": 1,
    }
    assert listed["agentkit-inngest-network-devops-team"]["flow_control"] == {"retries": 3}
    assert listed["agentkit-inngest-support-agent-workflow"]["triggers"] == [
        {"event": "app/support.ticket.created"}
    ]

    table = invoke("functions")
    assert table.exit_code == 0
    assert "11 function(s) in functions.app:app" in table.output
    assert "event app/support.ticket.created" in table.output
    assert "defaults (retries: 4)" in table.output


def test_functions_accepts_a_list_and_shows_expressions_and_crons(offline: None) -> None:
    import inngest

    client = inngest.Inngest(app_id="listing", is_production=False)

    @client.create_function(
        fn_id="nightly",
        trigger=[
            inngest.TriggerCron(cron="0 3 * * *"),
            inngest.TriggerEvent(event="app/x", expression="event.data.vip == true"),
        ],
        rate_limit=inngest.RateLimit(limit=5, period=__import__("datetime").timedelta(hours=1)),
    )
    async def nightly(ctx: inngest.Context) -> None:
        return None

    [config] = function_configs([nightly])
    assert config["flow_control"] == {"rateLimit": {"limit": 5, "period": "1h"}}
    module = type(sys)("listing_target")
    vars(module)["functions"] = [nightly]
    sys.modules["listing_target"] = module
    try:
        result = invoke("functions", "listing_target:functions")
    finally:
        del sys.modules["listing_target"]
    assert result.exit_code == 0, result.output
    assert "cron 0 3 * * *" in result.output
    assert "event app/x if event.data.vip == true" in result.output


def test_functions_rejects_what_is_not_an_app(offline: None) -> None:
    result = invoke("functions", "examples.quick_start:network")
    assert result.exit_code == 1
    assert "is a Network, not an app built by create_server" in result.stderr


# -- send ------------------------------------------------------------------------------------


@pytest.fixture
async def deployed(
    offline: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[LocalExecutor, Any]]:
    async with LocalExecutor() as executor:
        monkeypatch.setenv("INNGEST_DEV", executor.api_url)
        module = importlib.import_module("functions.app")
        await executor.attach(module.app)
        yield executor, module


async def test_send_delivers_the_human_reply_to_a_waiting_run(
    deployed: tuple[LocalExecutor, Any],
) -> None:
    executor, _ = deployed
    sent = await asyncio.to_thread(
        invoke, "send", "app/support.ticket.created", "--data", '{"ticketId": "T-1001"}'
    )
    assert sent.exit_code == 0, sent.output
    assert f"Sent app/support.ticket.created to {executor.api_url}: id evt-" in sent.output
    [run] = executor.runs.values()
    await executor.wait_for_pause(run)

    reply = '{"ticketId": "T-1001", "answer": "Restart the workers"}'
    args = ["send", "app/support.ticket.developer-response", "--data", reply]
    sent = await asyncio.to_thread(invoke, *args, "--url", executor.api_url)
    assert sent.exit_code == 0, sent.output
    await run.wait()
    assert run.status == "completed", run.error
    assert run.output["response"].endswith("Workaround: Restart the workers")


class _EventRecorder:
    """An event API that records what arrives, for the cloud path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.app = Starlette(routes=[Route("/e/{key}", self.event, methods=["POST"])])

    async def event(self, request: Request) -> JSONResponse:
        key = request.path_params["key"]
        self.received.append((key, await request.json()))
        if key == "revoked":
            return JSONResponse({"error": "event key not found", "status": 401}, status_code=401)
        return JSONResponse({"ids": ["cloud-1"], "status": 200})


@pytest.fixture
def recorder() -> Iterator[tuple[_EventRecorder, str]]:
    recorder = _EventRecorder()
    with serve(recorder.app) as server:
        yield recorder, server.url


def test_send_to_cloud_uses_the_event_key(
    offline: None, monkeypatch: pytest.MonkeyPatch, recorder: tuple[_EventRecorder, str]
) -> None:
    events, url = recorder
    monkeypatch.delenv("INNGEST_DEV")
    monkeypatch.setenv("INNGEST_EVENT_KEY", "key-123")
    result = invoke("send", "app/ping", "--data", '{"n": 1}', "--cloud", "--url", url)
    assert result.exit_code == 0, result.output
    assert f"Sent app/ping to {url}: id cloud-1" in result.output
    [(key, body)] = events.received
    assert key == "key-123"
    assert body[0]["name"] == "app/ping" and body[0]["data"] == {"n": 1}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["app/x", "--data", "{oops"], {}, "--data is not valid JSON"),
        (["app/x", "--data", '"text"'], {}, "--data must be a JSON object, got str"),
        ([" ", "--data", "{}"], {}, "the event name must not be empty"),
        (["app/x", "--cloud"], {}, "needs an event key: set INNGEST_EVENT_KEY"),
        (["app/x", "--url", "ftp://host"], {}, "is not an http(s) URL"),
        (["app/x"], {"INNGEST_DEV": "http://127.0.0.1:{port}"}, "cannot reach the Inngest dev"),
        (["app/x", "--url", "http://127.0.0.1:{port}"], {}, "docker compose up"),
    ],
)
def test_send_errors(
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    port = _closed_port()
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{port}", str(port)))
    result = invoke("send", *[arg.replace("{port}", str(port)) for arg in args])
    assert result.exit_code == 1
    assert message in result.stderr


def test_send_reports_a_server_that_refuses_the_event(
    offline: None, recorder: tuple[_EventRecorder, str]
) -> None:
    events, url = recorder
    args = ["send", "app/x", "--cloud", "--url", url, "--event-key", "revoked"]
    result = invoke(*args)
    assert result.exit_code == 1
    assert f"sending app/x to {url} failed: event key not found" in result.stderr
    assert [key for key, _ in events.received] == ["revoked"]  # a 4xx is not retried


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- serve -----------------------------------------------------------------------------------


def test_serve_errors_before_binding(offline: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INNGEST_DEV")
    result = invoke("serve")
    assert result.exit_code == 1
    assert "production mode needs a signing key" in result.stderr
    assert "(--dev serves for the dev server)" in result.stderr
    result = invoke("serve", "examples.quick_start:QUESTION", "--dev")
    assert "is a str, not an ASGI app" in result.stderr


# -- the installed console script ------------------------------------------------------------


def script_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no provider keys, so the examples run offline."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.pop("INNGEST_DEV", None)
    env.update(COLUMNS="220", **extra)
    return env


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists() or shutil.which("agentkit-inngest")


def test_console_script_functions_and_run() -> None:
    listed = subprocess.run(
        [str(SCRIPT), "functions", "--json"],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ids = [entry["id"] for entry in json.loads(listed.stdout)]
    assert "agentkit-inngest-network-devops-team" in ids and len(ids) == 11

    ran = subprocess.run(
        [str(SCRIPT), "run", "examples.quick_start:network", "How do I scale Postgres?"],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Database Security Expert#1" in ran.stdout
    assert "row-level security" in ran.stdout
    assert "Tokens: 20 in, 10 out, 30 total" in ran.stdout


async def test_console_script_serve_is_driven_by_the_executor() -> None:
    port = _closed_port()
    async with LocalExecutor() as executor:
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            "serve",
            "--dev",
            "--port",
            str(port),
            cwd=ROOT,
            env=script_env(INNGEST_DEV=executor.api_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            banner = await _read_until(process.stdout, "Connect the dev server")
            assert f"11 function(s) at http://127.0.0.1:{port}/api/inngest, dev mode" in banner
            await _read_until(process.stderr, "Uvicorn running on")
            await executor.sync(f"http://127.0.0.1:{port}/api/inngest")
            run = await executor.run("network-devops-team", {"input": "scale?"})
            assert "PgBouncer" in run.output["state"]["data"]["dba_agent_answer"]
        finally:
            process.terminate()
            await process.wait()


async def _read_until(stream: asyncio.StreamReader | None, marker: str) -> str:
    assert stream is not None
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), 60)
        if not line:
            raise AssertionError(f"the process ended before printing {marker!r}:\n{seen}")
        seen += line.decode()
    return seen


# -- the view's pieces -----------------------------------------------------------------------


def _event(kind: str, seq: int, *, attempt: int = 0, agent: str | None = "W", **data: Any) -> Any:
    from agentkit_inngest.streaming import StreamEvent

    return StreamEvent(
        type=kind, seq=seq, run_id="r", channel="c", agent=agent, attempt=attempt, data=data
    )


def test_progress_keeps_a_retried_inference_s_latest_text_and_marks_failures() -> None:
    from agentkit_inngest.cli.progress import RunProgress

    ticks = iter(range(100))
    progress = RunProgress(agents=["W"], clock=lambda: float(next(ticks)))
    for event in [
        _event("agent.started", 1, call="W#1"),
        _event("text.delta", 2, call="W#1", step="W#1/infer", delta="first try "),
        _event("text.delta", 3, attempt=1, call="W#1", step="W#1/infer", delta="Second "),
        _event("text.delta", 4, call="W#1", step="W#1/infer", delta="late piece of try 0"),
        _event("text.delta", 5, attempt=1, call="W#1", step="W#1/infer", delta="try."),
        _event("tool.call", 6, call="W#1", id="t1", name="save", arguments={"x": 1}),
        _event("tool.call", 7, call="W#1", id="t2", name="wait", arguments={}),
        _event("tool.result", 8, call="W#1", id="t1", name="save", content="ok", is_error=False),
        _event("agent.started", 9, agent="Router", call="Router#1"),
        _event("run.failed", 10, agent=None, error="boom"),
    ]:
        progress.apply(event)
    call = progress.calls["W#1"]
    assert call.text == "Second try."
    assert (call.status, progress.status, progress.error) == ("failed", "failed", "boom")
    assert [(t.name, t.status, t.result) for t in call.tools] == [
        ("save", "ok", "ok"),
        ("wait", "failed", ""),
    ]
    assert progress.calls["Router#1"].router and progress.calls["Router#1"].status == "failed"
    assert progress.elapsed(call.started, call.ended) > 0


def test_state_changes_name_each_changed_field() -> None:
    from agentkit_inngest.cli.shared import state_changes

    before = {"data": {"a": None, "n": {"x": 1, "y": [1]}, "gone": 1}, "kv": {}}
    after = {"data": {"a": "set", "n": {"x": 1, "y": [1, 2]}}, "kv": {"k": True}}
    assert state_changes(before, after) == [
        ("data.a", None, "set"),
        ("data.n.y", [1], [1, 2]),
        ("data.gone", 1, None),
        ("kv.k", None, True),
    ]
    assert state_changes(before, before) == []


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("one paragraph", 0),
        ("done.\n\nbeing writ", 7),
        ("a\n\nb\n\nc", 6),
        ("```\ncode\n\nmore code", 0),  # a blank line inside a fence is no cut
        ("```\ncode\n\n```\n\nafter", 15),
        ("\n\nstart", 2),  # leading blank lines: an empty block
    ],
)
def test_markdown_split_never_cuts_inside_a_code_block(text: str, cut: int) -> None:
    from agentkit_inngest.cli.chat import markdown_split

    assert markdown_split(text) == cut


# -- in process, on a terminal console (the pty tests run the same code in a subprocess) ---


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI's console drawing to a string as if to a 100-column terminal."""
    import io

    from rich.console import Console

    import agentkit_inngest.cli._app as cli

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, height=30, color_system=None)
    monkeypatch.setattr(cli, "out", console)
    return screen


def test_run_on_a_terminal_draws_a_live_region_and_asks_between_drawings(
    offline: None, terminal: Any
) -> None:
    ticket = "Ticket T-1001 from Acme (critical priority): dashboards are down"
    reply = '{"ticketId": "T-1001", "answer": "typed reply"}\n'
    args = ["run", "examples.support_agent:support_network", ticket, "--ask"]
    result = invoke(*args, input=f"nope\n{reply}")
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    asked = drawn.index("Reply data as a JSON object")
    # the live region showed the running call before the question, and was erased
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Technical Support#1 +(running|waiting)", drawn[:asked])
    assert "\x1b[2K" in drawn[:asked]  # erase-line: the region is removed, not left behind
    assert "not JSON: Expecting value" in drawn
    summary = drawn.rindex("✓ Technical Support#1")
    assert summary > asked and "Workaround: typed reply" in drawn[summary:]


def test_chat_in_process(offline: None, tmp_path: Path, terminal: Any) -> None:
    (tmp_path / "ears.py").write_text(
        textwrap.dedent(
            """
            from agentkit_inngest import TextMessage, create_agent, create_network
            from agentkit_inngest import route_in_order
            from agentkit_inngest.testing import FunctionModel

            def listen(call):
                heard = [m.content for m in call.messages
                         if isinstance(m, TextMessage) and m.role == "user"]
                if heard[-1] == "fail":
                    raise RuntimeError("the model broke")
                code = "```\\ncode\\n```"
                return f"I have **heard {len(heard)}** message(s).\\n\\n{code}\\n\\nBye."

            listener = create_agent(name="Listener", model=FunctionModel(listen))
            network = create_network(
                name="Ears", agents=[listener], router=route_in_order(listener)
            )
            """
        )
    )
    db = tmp_path / "c.db"
    typed = "Hello\n\nAgain\n/state\nfail\n/help\n/new\nOnce more\n/quit\n"
    args = ["chat", "ears:network", "--db", str(db), "--app-dir", str(tmp_path), "--traceback"]
    result = invoke(*args, input=typed)
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    assert "I have heard 1 message(s)." in drawn and "I have heard 2 message(s)." in drawn
    assert ": 4 message(s)\nkept in SQLiteStore(" in drawn
    assert "✗ the turn failed" in drawn and "RuntimeError: the model broke" in drawn
    assert "unknown command /help" in drawn and "new conversation: thread" in drawn
    assert drawn.count("I have heard 1 message(s).") == 2  # after /new: a fresh thread
    assert "continue with: agentkit-inngest chat ears:network --thread" in drawn


def test_chat_answers_waits_and_uses_a_network_s_own_store(
    offline: None, tmp_path: Path, terminal: Any
) -> None:
    (tmp_path / "own.py").write_text(
        textwrap.dedent(
            """
            from agentkit_inngest import create_agent, create_network, route_in_order
            from agentkit_inngest.history.memory import MemoryStore
            from agentkit_inngest.testing import FunctionModel

            store = MemoryStore()
            agent = create_agent(name="A", model=FunctionModel(lambda call: "fine"))
            network = create_network(
                name="Own", agents=[agent], router=route_in_order(agent), history=store
            )
            """
        )
    )
    result = invoke(
        "chat", "own:network", "--db", "x.db", "--app-dir", str(tmp_path), input="hi\n/state\n"
    )
    assert result.exit_code == 0, result.output
    assert "--db is not used" in result.stderr
    assert ": 2 message(s)\nkept in MemoryStore\n" in terminal.getvalue()
    assert not (tmp_path / "x.db").exists()

    ticket = "Ticket T-1001 from Acme (critical priority): dashboards are down"
    reply = '{"ticketId": "T-1001", "answer": "Roll back"}'
    args = ["chat", "examples.support_agent:support_network", "--db", str(tmp_path / "s.db")]
    result = invoke(*args, input=f"{ticket}\n{reply}\n")
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    assert "waits for app/support.ticket.developer-response" in drawn
    assert "Workaround: Roll back" in drawn and "✓ ask_developer(question=" in drawn


# hostile --state values: JSON of odd values, text that is not JSON, deep nesting
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None), max_size=12),  # lone surrogates, NUL
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_STATES = st.one_of(
    _VALUES.map(json.dumps),
    st.dictionaries(
        st.sampled_from(["data", "kv", "results", "messages", "thread_id", "dat"]), _VALUES
    ).map(json.dumps),
    st.dictionaries(st.sampled_from(["dba_agent_answer", "other", "\x00"]), _VALUES).map(
        lambda data: json.dumps({"data": data})
    ),
    st.text(max_size=30),
    st.integers(min_value=1, max_value=200_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=200_000).map(lambda depth: '{"data":' * depth),
)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=_STATES)
def test_any_state_value_is_run_or_refused_with_a_clear_error(offline: None, value: str) -> None:
    result = invoke("run", "examples.quick_start:network", "scale?", "--state", value, "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit), value
    assert result.exit_code in (0, 1), value
    if result.exit_code == 1:
        assert result.stderr.startswith("error: --state"), (value, result.stderr)
        assert result.stdout == ""
    assert "Traceback" not in result.output
