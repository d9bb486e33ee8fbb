"""AgentKit docs, integrations (Browserbase, E2B, Smithery, Daytona): the AgentKit side
of each sample, with the third-party SDK calls replaced by in-memory stand-ins (the
Python SDKs of those services are called the same way from a tool)."""

from __future__ import annotations

import re
from typing import Any

import pydantic

from agentkit_inngest import (
    AgentResult,
    MCPServer,
    NetworkRun,
    TextMessage,
    ToolContext,
    create_agent,
    create_network,
    create_tool,
    tool,
)
from agentkit_inngest.mcp import websocket_app
from agentkit_inngest.testing import FunctionModel, ModelCall, ScriptedModel, text, tool_call
from agentkit_inngest.testing.servers import serve

from .mcp_test_server import build
from .porting_helpers import tool_results

SANDBOXES: dict[str, dict[str, str]] = {}  # stands in for E2B / Daytona sandboxes


def get_sandbox(network: NetworkRun) -> dict[str, str]:
    """TS: getSandbox(network): the sandbox whose id the state holds."""
    sandbox_id = network.state.kv.get("sandboxId")
    if sandbox_id is None:
        sandbox_id = f"sbx-{len(SANDBOXES) + 1}"
        network.state.kv.set("sandboxId", sandbox_id)
    return SANDBOXES.setdefault(sandbox_id, {})


@tool
def terminal(command: str, ctx: ToolContext) -> str:
    """Use the terminal to run commands."""
    files = get_sandbox(ctx.network)
    if command.startswith("cat "):
        return files.get(command[4:], f"cat: {command[4:]}: No such file")
    return f"ran: {command}"


class FileEntry(pydantic.BaseModel):
    path: str
    content: str


@tool
def create_or_update_files(files: list[FileEntry], ctx: ToolContext) -> str:
    """Create or update files in the sandbox."""
    sandbox = get_sandbox(ctx.network)
    for file in files:
        sandbox[file.path] = file.content
    return f"Files created or updated: {', '.join(f.path for f in files)}"


async def test_e2b_a_coding_agent_with_terminal_and_file_tools() -> None:
    coding_agent = create_agent(
        name="Coding Agent",
        description="An expert coding agent",
        system="You are a coding agent help the user to achieve the described task.",
        tools=[terminal, create_or_update_files],
        model=ScriptedModel(
            [
                tool_call(
                    "create_or_update_files", {"files": [{"path": "app.py", "content": "print(1)"}]}
                ),
                tool_call("terminal", {"command": "cat app.py"}),
                text("Created app.py."),
            ]
        ),
        max_iter=3,
    )
    network = create_network(
        name="coding-agent-network",
        agents=[coding_agent],
        max_iter=15,
        router=lambda *, call_count: coding_agent if call_count == 0 else None,
    )
    run = await network.run("Create a Python app")
    assert run.results[0].tool_calls[1].content == "print(1)"
    assert SANDBOXES[run.state.kv.get("sandboxId")] == {"app.py": "print(1)"}


async def test_browserbase_a_search_tool_and_stagehand_style_tools_on_kv() -> None:
    pages = {"r/python": ["Python 3.13 released", "asyncio tips"]}

    @tool
    def search_reddit(query: str, subreddit: str, ctx: ToolContext) -> list[str]:
        """Search Reddit posts and comments."""
        # TS wraps the Browserbase session in step?.run("search-on-reddit"): this tool
        # already is a step
        return [
            title for title in pages.get(f"r/{subreddit}", []) if query.lower() in title.lower()
        ]

    @tool
    def navigate(url: str, ctx: ToolContext) -> str:
        """Navigate to a URL."""
        ctx.network.state.kv.set("browserbaseSessionID", "session-1")  # TS: kv session id
        ctx.network.state.kv.set("url", url)
        return f"Navigated to {url}"

    @tool
    def extract(instruction: str, ctx: ToolContext) -> str:
        """Extract data from the current page."""
        session = ctx.network.state.kv.get("browserbaseSessionID")
        return f"{session}: extracted {instruction} from {ctx.network.state.kv.get('url')}"

    reddit_searcher = create_agent(
        name="reddit_searcher",
        description="An agent that searches Reddit for relevant information",
        system="You are a helpful assistant that searches Reddit.",
        tools=[search_reddit, navigate, extract],
        model=ScriptedModel(
            [
                tool_call("search_reddit", {"query": "python", "subreddit": "python"}),
                tool_call("navigate", {"url": "https://reddit.com/r/python"}),
                tool_call("extract", {"instruction": "titles"}),
                text("Python 3.13 is out."),
            ]
        ),
        max_iter=4,
    )
    network = create_network(
        name="reddit_search_network",
        description="A network that searches Reddit using Browserbase",
        agents=[reddit_searcher],
        max_iter=2,
        router=lambda *, call_count: reddit_searcher if call_count == 0 else None,
    )
    run = await network.run("What's new in Python?")
    calls = run.results[0].tool_calls
    assert calls[0].content == ["Python 3.13 released"]
    assert calls[2].content == "session-1: extracted titles from https://reddit.com/r/python"


async def test_smithery_an_mcp_agent_saves_its_answer_and_the_router_stops() -> None:
    app, _ = build("neon")

    @tool
    def done(answer: str, ctx: ToolContext) -> str:
        """Call this tool when you are finished with the task."""
        ctx.network.state.kv.set("answer", answer)
        return "Task completed"

    with serve(websocket_app(app, path="/")) as running:
        neon_agent = create_agent(
            name="neon-agent",
            system="You are a helpful assistant that help manage a Neon account.",
            tools=[done],
            mcp_servers=[MCPServer.websocket("neon", url=f"ws://127.0.0.1:{running.port}/")],
            model=ScriptedModel(
                [tool_call("neon-add", {"a": 40, "b": 2}), tool_call("done", {"answer": "42"})]
            ),
            max_iter=2,
        )
        network = create_network(
            name="neon-agent",
            agents=[neon_agent],
            router=lambda *, network: None if network.state.kv.get("answer") else neon_agent,
        )
        run = await network.run("Add 40 and 2 in my Neon account")
    assert run.state.kv.get("answer") == "42"
    assert run.results[0].tool_calls[0].content == {"result": 42}


async def test_daytona_a_router_reads_the_last_result_and_records_the_port() -> None:
    class DevState(pydantic.BaseModel):
        devServerPort: int | None = None

    def coder(call: ModelCall) -> Any:
        if not tool_results(call):
            return tool_call("terminal", {"command": "npm run dev"})
        return text("Dev server on port 5173. TASK_COMPLETED")

    coding_agent = create_agent(
        name="Coding Agent", tools=[terminal], model=FunctionModel(coder), max_iter=2
    )

    def router(*, network: NetworkRun, call_count: int) -> Any:
        # TS: defaultRouter: ({ network, callCount }) => { const last = results.at(-1) ... }
        last: AgentResult | None = network.state.results[-1] if network.state.results else None
        text_out = last.text if last else ""
        port = re.search(r"port (\d+)", text_out)
        if port:
            network.state.data.devServerPort = int(port.group(1))
        if "TASK_COMPLETED" in text_out or call_count >= 30:
            return None
        return coding_agent

    from agentkit_inngest import State

    network = create_network(
        name="coding-agent-network",
        agents=[coding_agent],
        max_iter=30,
        router=router,
        default_state=State(DevState()),
    )
    run = await network.run("Start the dev server")
    assert run.state.data.devServerPort == 5173
    assert isinstance(run.results[-1].output[-1], TextMessage)


async def test_daytona_an_optional_argv_and_env_are_nullable() -> None:
    class CodeRun(pydantic.BaseModel):
        code: str
        argv: list[str] | None = None  # TS: z.array(z.string()).nullable()
        env: dict[str, str] | None = None  # TS: z.record(z.string()).nullable()

    def run_code(params: CodeRun, ctx: ToolContext) -> str:
        return f"{params.code} {params.argv or []} {sorted((params.env or {}).items())}"

    tool_ = create_tool(name="codeRunTool", parameters=CodeRun, handler=run_code)
    agent = create_agent(
        name="Daytona",
        tools=[tool_],
        model=ScriptedModel(
            [
                tool_call("codeRunTool", {"code": "print()", "argv": None, "env": {"A": "1"}}),
                text("ok"),
            ]
        ),
        max_iter=2,
    )
    result = await agent.run("run")
    assert result.tool_calls[0].content == "print() [] [('A', '1')]"
