"""AgentKit docs, advanced-patterns/mcp: an agent whose tools come from MCP servers
over a websocket and streamable HTTP (the Smithery sample), named ``<server>-<tool>``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentkit_inngest import MCPServer, create_agent, create_server
from agentkit_inngest.mcp import websocket_app
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.servers import RunningServer, serve

from .mcp_test_server import build
from .porting_helpers import inngest_dev


@pytest.fixture(scope="module")
def neon_ws() -> Iterator[RunningServer]:
    app, _ = build("neon")
    with serve(websocket_app(app, path="/")) as running:
        yield running


@pytest.fixture(scope="module")
def neon_http() -> Iterator[RunningServer]:
    app, _ = build("neon")
    with serve(app.streamable_http_app()) as running:
        yield running


def neon_agent(server: MCPServer, model: Any) -> Any:
    return create_agent(
        name="neon-agent",
        system="You are a helpful assistant that help manage a Neon account.",
        mcp_servers=[server],
        model=model,
        max_iter=2,
    )


async def test_a_self_hosted_websocket_server_gives_the_agent_its_tools(
    neon_ws: RunningServer,
) -> None:
    # TS: mcpServers: [{ name: "neon", transport: { type: "ws", url: "ws://localhost:8080" } }]
    neon = MCPServer.websocket("neon", url=f"ws://127.0.0.1:{neon_ws.port}/")
    model = ScriptedModel([tool_call("neon-add", {"a": 2, "b": 3}), text("5")])
    result = await neon_agent(neon, model).run("What is 2 + 3?")
    assert result.tool_calls[0].content == {"result": 5} and result.text == "5"
    assert "neon-add" in model.calls[0].tool_names


async def test_a_streamable_http_server_durably(neon_http: RunningServer) -> None:
    # TS: transport: { type: "streamable-http", url: createSmitheryUrl(...) }
    neon = MCPServer.streamable_http("neon", url=f"http://127.0.0.1:{neon_http.port}/mcp")
    model = ScriptedModel([tool_call("neon-add", {"a": 1, "b": 1}), text("2")])
    agent = neon_agent(neon, model)
    async with inngest_dev("mcp-app") as (executor, client):
        await executor.attach(create_server(client=client, agents=[agent]))
        run = await executor.run("agent-neon-agent", {"input": "1 + 1?"})
    assert run.output["output"] == "2"
    assert executor.executed(run) == [
        "mcp/neon/tools",  # the server's tools, listed once per run
        "neon-agent#1/infer",
        "neon-agent#1/tool/neon-add",
        "neon-agent#1/infer#2",
    ]
