"""Fault: an MCP server that dies mid-run, under the local executor against the real app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agentkit_inngest import (
    MCPServer,
    ToolResultMessage,
    create_agent,
    create_network,
    route_in_order,
)
from agentkit_inngest.server import create_server
from agentkit_inngest.testing import FunctionModel, ModelCall, text, tool_call
from agentkit_inngest.testing.executor import LocalExecutor

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
    network = create_network(name="MCP faults", agents=[agent], router=route_in_order(agent))
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
    # each side effect happened once, although the function was replayed many times
    assert replays > 6
    assert effects.read_text().splitlines() == ["before", "crash", "after"]
