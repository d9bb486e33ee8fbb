"""A small MCP server built with the ``mcp`` SDK, for the MCP tests.

Run as a script it serves stdio; the tests also serve it in-process over
streamable HTTP, SSE and a websocket. ``build()`` makes a fresh server each time
(an SDK server's HTTP app can be started once only) with a counter of its calls.
"""

from __future__ import annotations

import collections
import os
import sys

import anyio
import pydantic
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


class Forecast(pydantic.BaseModel):
    city: str
    temp_c: float
    sky: str


def build(name: str = "calc") -> tuple[MCPServer, collections.Counter[str]]:
    server = MCPServer(name, version="1.0", log_level="WARNING")
    calls: collections.Counter[str] = collections.Counter()

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        calls["add"] += 1
        return a + b

    @server.tool(description="Divide a by b.")
    def divide(a: float, b: float) -> float:
        calls["divide"] += 1
        if b == 0:
            raise ToolError("cannot divide by zero")
        return a / b

    @server.tool(description="A tool whose code is broken.")
    def explode() -> str:
        calls["explode"] += 1
        raise RuntimeError("the flux capacitor melted")

    @server.tool(description="Today's forecast for a city.")
    def forecast(city: str, unit: str = "C") -> Forecast:
        calls["forecast"] += 1
        return Forecast(city=city, temp_c=21.5, sky="clear")

    @server.tool(description="A long text of n characters.")
    def big(n: int) -> str:
        calls["big"] += 1
        return "ab" * (n // 2)

    @server.tool(description="Waits for a release that never comes.")
    async def hang() -> str:
        calls["hang"] += 1
        await anyio.Event().wait()
        return "released"

    @server.tool(description="The server's process id.")
    def pid() -> int:
        return os.getpid()

    def _effect(tag: str) -> None:
        # a side effect that outlives this process: one line per execution
        path = os.environ.get("MCP_TEST_EFFECTS")
        if path:
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"{tag}\n")

    @server.tool(description="Record a tag (a side effect).")
    def record(tag: str) -> str:
        calls["record"] += 1
        _effect(tag)
        return f"recorded {tag}"

    @server.tool(description="Record a tag, then crash before answering.")
    def record_then_die(tag: str) -> str:
        _effect(tag)
        os._exit(1)

    @server.tool(description="Says who the server acts as (and refuses).")
    def whoami() -> str:
        # a server that repeats the credentials it was started with in an error
        argv = sys.argv[1:]
        token = argv[argv.index("--token") + 1] if "--token" in argv else None
        raise ToolError(f"token {token} with key {os.environ.get('MCP_API_KEY')} is not allowed")

    def tomorrow(city: str) -> str:
        calls["get.tomorrow"] += 1
        return f"rain in {city}"

    # a name with a dot: valid in MCP, refused by the model providers
    server.add_tool(tomorrow, name="get.tomorrow", description="Tomorrow's weather.")
    return server, calls


if __name__ == "__main__":
    if "--fail-at-start" in sys.argv:
        sys.exit(f"refusing to start with {sys.argv[1:]} and key {os.environ.get('MCP_API_KEY')}")
    build()[0].run()
