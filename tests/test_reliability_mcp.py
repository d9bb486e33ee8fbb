"""MCP under the local executor against the real app: a server that dies mid-run, and
credentials in servers' settings that must appear in no error, event, memo or log."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkit_inngest import (
    MCPServer,
    Network,
    ToolResultMessage,
    create_agent,
    create_network,
    create_server,
    route_in_order,
)
from agentkit_inngest.mcp import websocket_app
from agentkit_inngest.streaming import MemoryBroker
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call
from agentkit_inngest.testing.servers import serve

from .mcp_test_server import build

SERVER = str(Path(__file__).with_name("mcp_test_server.py"))


async def test_an_mcp_server_that_dies_mid_call_gives_a_clear_error_and_no_effect_twice(
    tmp_path: Path,
) -> None:
    effects = tmp_path / "effects.log"
    server = MCPServer.stdio(
        "calc", command=sys.executable, args=[SERVER], env={"MCP_TEST_EFFECTS": str(effects)}
    )
    seen: list[ToolResultMessage] = []

    def respond(call: ModelCall) -> Any:
        results = [m for m in call.messages if isinstance(m, ToolResultMessage)]
        seen[:] = results
        if not results:
            return tool_call("calc-record", {"tag": "before"}, id="r1")
        if len(results) == 1:
            return tool_call("calc-record_then_die", {"tag": "crash"}, id="r2")
        if len(results) == 2:
            return tool_call("calc-record", {"tag": "after"}, id="r3")
        return text("done despite the crash")

    agent = create_agent(name="Ops", model=FunctionModel(respond), mcp_servers=[server], max_iter=5)
    network: Network[Any] = create_network(
        name="MCP faults", agents=[agent], router=route_in_order(agent)
    )
    async with LocalExecutor() as executor:
        client = executor.client("mcp-faults")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-mcp-faults", {"input": "go"})
        replays = len(executor.requests_for(run))
    assert run.output["output"] == "done despite the crash"
    before, crashed, after = seen
    assert before.content == {"result": "recorded before"}
    # the server died during the call: the model is told, naming the server and the tool
    assert crashed.is_error
    assert crashed.content["server"] == "calc" and crashed.content["tool"] == "record_then_die"
    assert "MCP server 'calc' closed the connection" in crashed.content["message"]
    # the next call used a fresh connection (a new server process) and worked
    assert after.content == {"result": "recorded after"}
    # each side effect happened once; checkpointed (the default), the whole run took one
    # request (test_mcp.py covers the replays of the request-per-step path)
    assert replays == 1
    assert effects.read_text().splitlines() == ["before", "crash", "after"]


# -- credentials in an MCP server's settings never leak ------------------------------------

ARG_TOKEN = "argtoken-SENTINEL-3c9d1e"
ENV_KEY = "envkey-SENTINEL-8a2f6b"
URL_PASSWORD = "urlpass-SENTINEL-5e1c7d"
QUERY_TOKEN = "querytok-SENTINEL-2b8e4f"
HEADER_TOKEN = "bearer-SENTINEL-9d3a6c"
WRONG_TOKEN = "wrongtok-SENTINEL-7f1b2e"
WS_TOKEN = "wstoken-SENTINEL-4e6d8a"
WS_HEADER = "wsheader-SENTINEL-1a5c9e"
MCP_SECRETS = {
    name: value
    for name, value in globals().items()
    if isinstance(value, str) and "-SENTINEL-" in value
}


def mcp_leaks(where: str, blob: Any) -> list[str]:
    text_ = blob if isinstance(blob, str) else json.dumps(blob, default=str)
    return [f"{name} in {where}" for name, value in MCP_SECRETS.items() if value in text_]


class LogCapture(logging.Handler):
    """Every log record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    names = ["", "mcp", "client", "httpx", "httpx2", "httpcore", "httpcore2", "websockets"]
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    try:
        yield capture
    finally:
        logging.getLogger().removeHandler(capture)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class BearerGate:
    """ASGI middleware: records the Authorization headers it sees, refuses all but one."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token
        self.seen: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"").decode()
            self.seen.append(given)
            if given != f"Bearer {self.token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self.app(scope, receive, send)


async def test_credentials_in_mcp_settings_reach_no_error_event_memo_or_log(
    debug_logs: LogCapture,
) -> None:
    http_app, _ = build()
    gate = BearerGate(http_app.streamable_http_app(), HEADER_TOKEN)
    ws_app, _ = build()
    env = {"MCP_API_KEY": ENV_KEY}
    with serve(gate) as http, serve(websocket_app(ws_app, path="/ws")) as ws:
        http_url = f"http://127.0.0.1:{http.port}/mcp?api_key={QUERY_TOKEN}"
        # a user and password in the URL become Basic credentials, which the gate refuses
        userinfo_url = (
            f"http://agent:{URL_PASSWORD}@127.0.0.1:{http.port}/mcp?api_key={QUERY_TOKEN}"
        )
        servers = {
            # a stdio server that exits at once, started with a token and a key
            "stdio-down": MCPServer.stdio(
                "calc",
                command=sys.executable,
                args=[SERVER, "--fail-at-start", "--token", ARG_TOKEN],
                env=env,
            ),
            # one that works, and answers a call with an error repeating both
            "stdio-echo": MCPServer.stdio(
                "calc", command=sys.executable, args=[SERVER, "--token", ARG_TOKEN], env=env
            ),
            "http-ok": MCPServer.streamable_http(
                "calc", url=http_url, headers={"Authorization": f"Bearer {HEADER_TOKEN}"}
            ),
            "http-refused": MCPServer.streamable_http(
                "calc", url=userinfo_url, headers={"Authorization": f"Bearer {WRONG_TOKEN}"}
            ),
            "http-dead": MCPServer.sse(
                "calc", url=f"http://agent:{URL_PASSWORD}@127.0.0.1:9/sse?key={QUERY_TOKEN}"
            ),
            "ws-ok": MCPServer.websocket(
                "calc",
                url=f"ws://127.0.0.1:{ws.port}/ws?token={WS_TOKEN}",
                headers={"X-Api-Key": WS_HEADER},
            ),
            "ws-dead": MCPServer.websocket(
                "calc", url=f"ws://u:{URL_PASSWORD}@127.0.0.1:9/ws?token={WS_TOKEN}"
            ),
        }
        script = {
            "stdio-echo": ["calc-whoami", "calc-add"],
            "http-ok": ["calc-add"],
            "ws-ok": ["calc-add"],
        }

        def network(key: str, server: MCPServer) -> Any:
            calls = script.get(key, [])

            def respond(call: ModelCall) -> Any:
                done = [m for m in call.messages if isinstance(m, ToolResultMessage)]
                if len(done) < len(calls):
                    name = calls[len(done)]
                    return tool_call(name, {"a": 1, "b": 2} if name == "calc-add" else {})
                return text("finished")

            agent = create_agent(
                name="Ops", model=FunctionModel(respond), mcp_servers=[server], max_iter=4
            )
            return create_network(name=key, agents=[agent], router=route_in_order(agent))

        broker = MemoryBroker()
        networks = [network(key, server) for key, server in servers.items()]
        async with LocalExecutor(keep_bodies=True) as executor:
            client = executor.client("mcp-secrets")
            await executor.attach(create_server(client=client, networks=networks, broker=broker))
            runs = {
                key: await executor.run(
                    f"network-{key}", {"input": "go", "thread_id": key}, check=False
                )
                for key in servers
            }
            for run in runs.values():  # a failed run's end starts its failure handler
                assert run.task is not None
                await run.task
            for other in list(executor.runs.values()):
                await other.wait()  # the handlers that publish run.failed
            events = [e for key in servers for e in broker.retained(key)]

    assert {key: run.status for key, run in runs.items()} == {
        "stdio-down": "failed",
        "stdio-echo": "completed",
        "http-ok": "completed",
        "http-refused": "failed",
        "http-dead": "failed",
        "ws-ok": "completed",
        "ws-dead": "failed",
    }
    # the credentials were really used: the servers received them
    basic = base64.b64encode(f"agent:{URL_PASSWORD}".encode()).decode()
    assert f"Bearer {HEADER_TOKEN}" in gate.seen and f"Basic {basic}" in gate.seen
    whoami = [m for r in runs["stdio-echo"].output["results"] for m in r["tool_calls"]]
    echoed = next(m for m in whoami if m.get("name") == "calc-whoami")
    assert echoed["is_error"]
    assert echoed["content"] == (
        "Error executing tool whoami: token [redacted] with key [redacted] is not allowed"
    )
    # the errors still say what went wrong, and where
    down = runs["stdio-down"].error["message"]
    assert "could not connect to MCP server 'calc' (stdio: " in down and "--token ***" in down
    assert "HTTP 401" in runs["http-refused"].error["message"]
    assert (
        f"(streamable HTTP: http://127.0.0.1:{http.port}/mcp)"
        in (runs["http-refused"].error["message"])
    )
    assert "(SSE: http://127.0.0.1:9/sse)" in runs["http-dead"].error["message"]
    assert "(websocket: ws://127.0.0.1:9/ws)" in runs["ws-dead"].error["message"]
    failed = [e for e in events if e.type == "run.failed"]
    assert len(failed) == 4

    found: list[str] = []
    for key, run in runs.items():
        found += mcp_leaks(f"{key}: output", run.output) + mcp_leaks(f"{key}: error", run.error)
        found += mcp_leaks(f"{key}: memos", run.memos)
    for record in executor.requests:
        for label, body in (("request", record.request_body), ("answer", record.response_body)):
            found += mcp_leaks(f"{label} {record.index}", (body or b"").decode())
    found += mcp_leaks("registration", executor.functions)
    found += mcp_leaks("stream events", [e.model_dump(mode="json") for e in events])
    found += mcp_leaks("reprs", [repr(s) + repr(s.transport) for s in servers.values()])
    found += mcp_leaks("logs", "\n".join(debug_logs.lines))
    assert not found, found
    # the scan saw the SDK's own DEBUG records, and records that had held a secret
    assert any(line.startswith("mcp.client.streamable_http DEBUG") for line in debug_logs.lines)
    assert any(line.startswith("websockets.client DEBUG") for line in debug_logs.lines)
    assert any("[redacted]" in line for line in debug_logs.lines)
