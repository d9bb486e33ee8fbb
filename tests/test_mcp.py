"""MCP servers as agent tools, against real MCP servers built with the ``mcp`` SDK.

One server (``mcp_test_server.py``) runs over stdio as a subprocess, and in-process
on 127.0.0.1 over streamable HTTP, SSE and a websocket. Agents use scripted models.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import inspect
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp
import mcp_types
import pytest
from mcp.server import Server

from agentkit_inngest import (
    ConfigurationError,
    InlineRunner,
    MCPServerError,
    Network,
    NetworkRun,
    StepError,
    ToolResultMessage,
    create_agent,
    create_network,
    create_server,
)
from agentkit_inngest.mcp import (
    MCPServer,
    WebSocketTransport,
    agent_tool_names,
    shape_result,
    websocket_app,
)
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
)
from agentkit_inngest.testing.servers import RunningServer, serve

from .mcp_test_server import build

SERVER_SCRIPT = str(Path(__file__).with_name("mcp_test_server.py"))


def stdio_calc(**options: Any) -> MCPServer:
    return MCPServer.stdio("calc", command=sys.executable, args=[SERVER_SCRIPT], **options)


def results(run: Any) -> list[ToolResultMessage]:
    return list(run.tool_calls)


def last_result(call: ModelCall) -> ToolResultMessage:
    assert isinstance(call.last, ToolResultMessage), call.last
    return call.last


# -- in-process servers -------------------------------------------------------------------


class SessionCounter:
    """ASGI middleware that counts MCP sessions opened (POSTs without a session id)
    and closed (DELETEs), and refuses requests without the right bearer token."""

    def __init__(self, app: Any, *, token: str | None = None) -> None:
        self.app = app
        self.token = token
        self.opened = 0
        self.closed = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if self.token and headers.get(b"authorization") != f"Bearer {self.token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
            if scope["method"] == "POST" and b"mcp-session-id" not in headers:
                self.opened += 1
            if scope["method"] == "DELETE":
                self.closed += 1
        await self.app(scope, receive, send)


class Served:
    def __init__(self, server: RunningServer, calls: collections.Counter[str]) -> None:
        self.server = server
        self.calls = calls

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[Served, SessionCounter]]:
    app, calls = build()
    counter = SessionCounter(app.streamable_http_app(), token="let-me-in")
    with serve(counter) as running:
        yield Served(running, calls), counter


@pytest.fixture(scope="module")
def sse_server() -> Iterator[Served]:
    app, calls = build()
    with serve(app.sse_app()) as running:
        yield Served(running, calls)


@pytest.fixture(scope="module")
def ws_server() -> Iterator[Served]:
    app, calls = build()
    with serve(websocket_app(app, path="/ws")) as running:
        yield Served(running, calls)


def http_calc(served: Served, **options: Any) -> MCPServer:
    return MCPServer.streamable_http(
        "calc",
        url=f"http://127.0.0.1:{served.port}/mcp",
        headers={"Authorization": "Bearer let-me-in"},
        **options,
    )


def ws_calc(served: Served, name: str = "calc", **options: Any) -> MCPServer:
    return MCPServer.websocket(name, url=f"ws://127.0.0.1:{served.port}/ws", **options)


def _no_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _no_titles(v) for k, v in schema.items() if k != "title"}
    return schema


# -- the four transports ------------------------------------------------------------------


async def test_stdio_server_tools_schemas_results_and_errors_reach_the_model() -> None:
    model = ScriptedModel(
        [
            tool_call("calc-pid"),
            tool_call("calc-add", {"a": 2, "b": 40}),
            tool_call("calc-get_tomorrow", {"city": "Oslo"}),
            tool_call("calc-divide", {"a": 1, "b": 0}),
            tool_call("calc-explode"),
            tool_call("calc-add", {"a": "two"}),
            "All done.",
        ]
    )
    agent = create_agent(name="Maths", model=model, mcp_servers=[stdio_calc()], max_iter=10)
    run = await agent.run("compute")
    assert run.text == "All done."

    offered = {t["name"]: t for t in model.calls[0].tools}
    assert set(offered) == {
        "calc-add",
        "calc-divide",
        "calc-explode",
        "calc-forecast",
        "calc-big",
        "calc-hang",
        "calc-pid",
        "calc-record",
        "calc-record_then_die",
        "calc-get_tomorrow",  # "get.tomorrow" made acceptable to the providers
        "calc-whoami",
    }
    # the input schema reaches the model as the server declared it (titles aside)
    listed = {t.name: t.input_schema for t in (await build()[0].list_tools())}
    assert offered["calc-forecast"]["parameters"] == _no_titles(listed["forecast"])
    assert offered["calc-forecast"]["parameters"]["properties"]["unit"]["default"] == "C"
    assert offered["calc-add"]["description"] == "Add two integers."

    pid, added, tomorrow, divided, exploded, invalid = results(run)
    assert added.content == {"result": 42} and not added.is_error
    assert tomorrow.content == {"result": "rain in Oslo"}
    assert divided.is_error and divided.content == (
        "Error executing tool divide: cannot divide by zero"
    )
    assert exploded.is_error and "explode" in exploded.content
    assert invalid.is_error and invalid.content["details"] == [
        "(arguments): 'b' is a required property",
        "a: 'two' is not of type 'integer'",
    ]
    # the run closed its connection: the server process is gone
    with pytest.raises(ProcessLookupError):
        os.kill(pid.content["result"], 0)


async def test_streamable_http_server_with_auth_headers_and_structured_content(
    http_server: tuple[Served, SessionCounter],
) -> None:
    served, counter = http_server
    before = served.calls["forecast"], counter.opened, counter.closed
    model = ScriptedModel([tool_call("calc-forecast", {"city": "Lima"}), "Sunny."])
    agent = create_agent(name="Weather", model=model, mcp_servers=[http_calc(served)])
    run = await agent.run("weather?", runner=InlineRunner(max_attempts=1))
    (forecast,) = results(run)
    assert forecast.content == {"city": "Lima", "temp_c": 21.5, "sky": "clear"}
    assert served.calls["forecast"] == before[0] + 1
    # one connection served the listing and the call, and it was closed
    assert (counter.opened - before[1], counter.closed - before[2]) == (1, 1)


async def test_streamable_http_server_refusing_the_credentials_names_the_server(
    http_server: tuple[Served, SessionCounter],
) -> None:
    served, _ = http_server
    calc = MCPServer.streamable_http("calc", url=f"http://127.0.0.1:{served.port}/mcp")
    agent = create_agent(name="Weather", model=ScriptedModel(["never"]), mcp_servers=[calc])
    with pytest.raises(MCPServerError) as caught:
        await agent.run("weather?")
    assert caught.value.server == "calc" and not caught.value.retriable
    assert "MCP server 'calc' (streamable HTTP: http://127.0.0.1:" in str(caught.value)
    assert "answered HTTP 401 (check the headers or auth" in str(caught.value)


async def test_sse_server_with_include_and_exclude_filters(sse_server: Served) -> None:
    calc = MCPServer.sse(
        "calc",
        url=f"http://127.0.0.1:{sse_server.port}/sse",
        include=["add", "div*", "f*"],
        exclude=["forecast"],
    )
    model = ScriptedModel([tool_call("calc-add", {"a": 20, "b": 1}), "21"])
    run = await create_agent(name="A", model=model, mcp_servers=[calc]).run("go")
    assert model.calls[0].tool_names == ["calc-add", "calc-divide"]
    assert [r.content for r in results(run)] == [{"result": 21}]
    assert sse_server.calls["add"] == 1


async def test_websocket_server_and_parallel_calls_share_one_connection(ws_server: Served) -> None:
    before = ws_server.calls["add"]
    model = ScriptedModel(
        [
            # three tool calls in one answer run as parallel steps
            mcp_parallel(("calc-add", {"a": 1, "b": 1}), ("calc-add", {"a": 2, "b": 2})),
            "done",
        ]
    )
    run = await create_agent(name="A", model=model, mcp_servers=[ws_calc(ws_server)]).run("go")
    assert [r.content for r in results(run)] == [{"result": 2}, {"result": 4}]
    assert ws_server.calls["add"] == before + 2


def mcp_parallel(*calls: tuple[str, dict[str, Any]]) -> Any:
    from agentkit_inngest.testing import tool_calls

    return tool_calls(*calls)


async def test_websocket_transport_works_with_the_sdk_client_and_refuses_other_protocols(
    ws_server: Served,
) -> None:
    url = f"ws://127.0.0.1:{ws_server.port}/ws"
    async with mcp.Client(WebSocketTransport(url)) as client:
        result = await client.call_tool("add", {"a": 5, "b": 6})
        assert result.structured_content == {"result": 11}
    assert repr(WebSocketTransport(url)) == f"WebSocketTransport({url!r})"

    transport = WebSocketTransport(url)
    async with transport:
        with pytest.raises(RuntimeError, match="entered only once"):
            await transport.__aenter__()

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus, match="403"):
        async with connect(url):  # no "mcp" subprotocol offered
            pass


# -- a low-level server: pages, rich content, odd schemas ---------------------------------

_PAGED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "shape": {"$ref": "#/$defs/Shape"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["shape"],
    "$defs": {
        "Shape": {
            "oneOf": [
                {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
                {"type": "object", "properties": {"w": {"type": "number"}}, "required": ["w"]},
            ]
        }
    },
}


def paged_server() -> Server[Any]:
    pages = {
        None: mcp_types.ListToolsResult(
            tools=[mcp_types.Tool(name="draw", description="Draw.", input_schema=_PAGED_SCHEMA)],
            next_cursor="page-2",
        ),
        "page-2": mcp_types.ListToolsResult(
            tools=[mcp_types.Tool(name="report", input_schema={"type": "object"})]
        ),
    }

    async def list_tools(
        ctx: Any, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return pages[params.cursor if params else None]

    async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> Any:
        png = base64.b64encode(b"\x89PNG" + bytes(96)).decode()
        return mcp_types.CallToolResult(
            content=[
                mcp_types.TextContent(type="text", text=f"drew {params.arguments}"),
                mcp_types.ImageContent(type="image", data=png, mime_type="image/png"),
                mcp_types.EmbeddedResource(
                    type="resource",
                    resource=mcp_types.TextResourceContents(uri="file:///notes.txt", text="hi"),
                ),
            ]
        )

    return Server("paged", on_list_tools=list_tools, on_call_tool=call_tool)


async def test_tools_from_every_page_with_schemas_as_declared_and_rich_content() -> None:
    with serve(websocket_app(paged_server())) as running:
        source = MCPServer.websocket("paged", url=f"ws://127.0.0.1:{running.port}/ws")
        model = ScriptedModel([tool_call("paged-draw", {"shape": {"r": 1}}), "ok"])
        run = await create_agent(name="A", model=model, mcp_servers=[source]).run("draw")
    offered = {t["name"]: t for t in model.calls[0].tools}
    assert set(offered) == {"paged-draw", "paged-report"}
    draw = offered["paged-draw"]["parameters"]
    assert draw["properties"]["shape"] == _PAGED_SCHEMA["$defs"]["Shape"]
    assert draw["properties"]["tags"]["maxItems"] == 3
    assert offered["paged-report"]["description"] == ""
    (drawn,) = results(run)
    assert drawn.content == (
        "drew {'shape': {'r': 1}}\n"
        "[image image/png, 100 bytes, not shown]\n"
        "[resource file:///notes.txt]\nhi"
    )


# -- durability ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def executor_for(
    network: Any, *, checkpointing: bool | None = None
) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor() as executor:
        client = executor.client("mcp-app")
        app = create_server(client=client, networks=[network], checkpointing=checkpointing)
        await executor.attach(app)
        yield executor


async def test_durable_run_lists_once_and_calls_the_mcp_tool_exactly_once_across_replays(
    http_server: tuple[Served, SessionCounter],
) -> None:
    served, counter = http_server
    before = served.calls["add"], counter.opened, counter.closed

    def respond(call: ModelCall) -> Any:
        last = call.last
        if isinstance(last, ToolResultMessage):
            return text(f"The sum is {last.content['result']}.")
        if any(isinstance(m, ToolResultMessage) for m in call.messages):
            return text("Already answered.")  # the second agent call
        return tool_call("calc-add", {"a": 19, "b": 23}, id="add-1")

    calc_agent = create_agent(
        name="Calc", model=FunctionModel(respond), mcp_servers=[http_calc(served)], max_iter=2
    )

    def router(*, network: NetworkRun) -> Any:
        return calc_agent if network.call_count < 2 else None

    network: Network[Any] = create_network(name="MCP maths", agents=[calc_agent], router=router)
    # replays of the request-per-step path (checkpointing off, or a checkpoint that fell back)
    async with executor_for(network, checkpointing=False) as executor:
        run = await executor.run("network-mcp-maths", {"input": "19 + 23?"})
        assert executor.executed(run) == [
            "mcp/calc/tools",
            "Calc#1/infer",
            "Calc#1/tool/calc-add",
            "Calc#1/infer#2",
            "Calc#2/infer",
        ]
        # one request per step and a last one: each replayed the handler from the top
        assert len(executor.requests_for(run)) == 6
        assert served.calls["add"] == before[0] + 1  # ...but the MCP tool ran once
        # only the requests that ran an MCP step connected, and each closed its session
        assert counter.opened - before[1] == 2 and counter.closed - before[2] == 2
        listing = run.memo_for("mcp/calc/tools")["data"]
        assert [t["name"] for t in listing["tools"]][:2] == ["add", "divide"]
        assert run.output["results"][0]["tool_calls"][0]["content"] == {"result": 42}


async def test_each_run_lists_afresh_so_nothing_is_cached_per_process() -> None:
    app, _ = build("grow")
    with serve(websocket_app(app)) as running:
        source = MCPServer.websocket("grow", url=f"ws://127.0.0.1:{running.port}/ws")
        model = ScriptedModel(["first", "second"])
        agent = create_agent(name="A", model=model, mcp_servers=[source])
        await agent.run("one")
        app.add_tool(lambda: "new", name="fresh", description="Added between runs.")
        await agent.run("two")
    assert "grow-fresh" not in model.calls[0].tool_names
    assert "grow-fresh" in model.calls[1].tool_names


# -- failures -----------------------------------------------------------------------------


async def test_a_server_killed_mid_run_gives_a_clear_error_and_the_next_call_reconnects() -> None:
    def kill_the_server(call: ModelCall) -> Any:
        os.kill(last_result(call).content["result"], signal.SIGKILL)
        return tool_call("calc-add", {"a": 1, "b": 2})

    def call_again(call: ModelCall) -> Any:
        assert last_result(call).is_error
        return tool_call("calc-add", {"a": 3, "b": 4})

    model = ScriptedModel([tool_call("calc-pid"), kill_the_server, call_again, "recovered"])
    agent = create_agent(name="A", model=model, mcp_servers=[stdio_calc()], max_iter=5)
    run = await agent.run("go")
    _, failed, retried = results(run)
    assert failed.is_error and failed.content["error"] == "mcp_connection_closed"
    assert failed.content["server"] == "calc" and failed.content["tool"] == "add"
    assert (
        "MCP server 'calc' closed the connection during the call of 'add'"
        in (failed.content["message"])
    )
    assert retried.content == {"result": 7} and run.text == "recovered"


async def test_a_server_that_is_down_fails_clearly_unless_it_is_optional(ws_server: Served) -> None:
    missing = MCPServer.stdio("ghost", command="no-such-mcp-server-binary")
    agent = create_agent(name="A", model=ScriptedModel(["never"]), mcp_servers=[missing])
    with pytest.raises(MCPServerError, match=r"could not connect to MCP server 'ghost' \(stdio"):
        await agent.run("go")

    unreachable = MCPServer.streamable_http("far", url="http://127.0.0.1:9/mcp")
    agent = create_agent(name="A", model=ScriptedModel(["never"]), mcp_servers=[unreachable])
    with pytest.raises(StepError, match="step 'mcp/far/tools' failed: could not connect to MCP"):
        await agent.run("go", runner=InlineRunner(max_attempts=1))

    # an optional server that is down leaves the agent with its other servers' tools
    optional = MCPServer.stdio("ghost", command="no-such-mcp-server-binary", optional=True)
    model = ScriptedModel([tool_call("calc-add", {"a": 1, "b": 1}), "2"])
    agent = create_agent(name="A", model=model, mcp_servers=[optional, ws_calc(ws_server)])
    run = await agent.run("go")
    assert [r.content for r in results(run)] == [{"result": 2}]
    assert not any(name.startswith("ghost-") for name in model.calls[0].tool_names)


async def test_slow_servers_time_out_naming_the_server(ws_server: Served) -> None:
    silent = MCPServer.stdio(
        "silent",
        command=sys.executable,
        args=["-c", "import sys; sys.stdin.read()"],
        connect_timeout=0.5,
        stderr=subprocess.DEVNULL,
    )
    agent = create_agent(name="A", model=ScriptedModel(["never"]), mcp_servers=[silent])
    with pytest.raises(StepError, match=r"'silent' .* did not finish connecting within 0\.5 s"):
        await agent.run("go", runner=InlineRunner(max_attempts=1))

    model = ScriptedModel([tool_call("calc-hang"), tool_call("calc-add", {"a": 1, "b": 2}), "ok"])
    calc = ws_calc(ws_server, call_timeout=0.3)
    run = await create_agent(name="A", model=model, mcp_servers=[calc], max_iter=3).run("go")
    hung, added = results(run)
    assert hung.is_error and hung.content["error"] == "mcp_timeout"
    assert (
        "MCP server 'calc' did not answer the call of 'hang' within 0.3 s"
        in (hung.content["message"])
    )
    assert added.content == {"result": 3}  # the connection is still usable


async def test_large_results_are_cut_with_a_note(ws_server: Served) -> None:
    model = ScriptedModel([tool_call("calc-big", {"n": 5000}), "ok"])
    calc = ws_calc(ws_server, max_result_chars=1000)
    run = await create_agent(name="A", model=model, mcp_servers=[calc]).run("go")
    (big,) = results(run)
    # the structured result {"result": "abab..."} as JSON, cut after 1,000 characters
    prefix = '{"result": "' + "ab" * 494
    assert isinstance(big.content, str) and big.content.startswith(prefix + "\n\n[truncated:")
    assert "has 5,014 characters; only the first 1,000 are shown" in big.content


# -- configuration and pure parts ---------------------------------------------------------


def test_agent_tool_names_are_what_providers_accept_and_unique() -> None:
    long = "x" * 80
    names = agent_tool_names("srv", ["add", "get.weather", "get_weather", long, "ünï cödé"])
    assert names["add"] == "srv-add"
    assert names["get.weather"] == "srv-get_weather"
    assert names["get_weather"].startswith("srv-get_weather_") and len(names["get_weather"]) < 64
    assert len(names[long]) == 64 and names[long].startswith("srv-xxx")
    assert names["ünï cödé"] == "srv-_n__c_d_"
    assert len(set(names.values())) == 5
    assert agent_tool_names("srv", ["add", "get.weather"]) == {
        "add": "srv-add",
        "get.weather": "srv-get_weather",
    }


def test_shape_result_covers_every_content_kind() -> None:
    def shaped(**fields: Any) -> Any:
        result = mcp_types.CallToolResult(**fields)
        return shape_result(result, server="s", tool="t", max_chars=None)

    audio = mcp_types.AudioContent(type="audio", data="AAAA", mime_type="audio/wav")
    blob = mcp_types.EmbeddedResource(
        type="resource",
        resource=mcp_types.BlobResourceContents(uri="file:///a.bin", blob="AAAAAAAA"),
    )
    link = mcp_types.ResourceLink(
        type="resource_link", name="report", uri="file:///r.pdf", description="The report."
    )
    plain_link = mcp_types.ResourceLink(type="resource_link", name="x", uri="file:///x")
    out = shaped(content=[audio, blob, link, plain_link])
    assert out.content.split("\n") == [
        "[audio audio/wav, 3 bytes, not shown]",
        "[resource file:///a.bin: binary, 6 bytes, not shown]",
        "[resource link report: file:///r.pdf] The report.",
        "[resource link x: file:///x]",
    ]
    assert shaped(content=[], structured_content={"a": 1}).content == {"a": 1}
    said = mcp_types.TextContent(type="text", text="It is warm.")
    assert shaped(content=[said], structured_content={"t": 30}).content == {
        "text": "It is warm.",
        "structured_content": {"t": 30},
    }
    two = [said, said]
    assert shaped(content=two, structured_content={"t": 30}).content["text"] == (
        "It is warm.\nIt is warm."
    )
    json_text = mcp_types.TextContent(type="text", text='{"t": 30}')
    assert shaped(content=[json_text], structured_content={"t": 30}).content == {"t": 30}
    error = shaped(content=[], is_error=True)
    assert error.is_error and error.content == "The tool 't' failed without saying why."
    bounded = shape_result(
        mcp_types.CallToolResult(content=[], structured_content={"k": "v" * 50}),
        server="s",
        tool="t",
        max_chars=20,
    )
    assert bounded.content.startswith('{"k": "vvvvvvvvvvvvv\n\n[truncated: the result of \'t\'')


@pytest.mark.parametrize(
    ("build_server", "message"),
    [
        (lambda: MCPServer.stdio("a/b", command="x"), "must be 1-40 letters"),
        (lambda: MCPServer.stdio("ok", command="x", args="--flag"), "args takes a list"),
        (lambda: MCPServer.stdio("ok", command="x", include="add"), "include takes a list"),
        (lambda: MCPServer.stdio("ok", command="x", call_timeout=0), "call_timeout must be"),
        (
            # deliberately not a callable: the error under test
            lambda: MCPServer(name="ok", transport="stdio"),  # type: ignore[arg-type]
            "transport must be a callable",
        ),
        (lambda: MCPServer.stdio("ok", command="x", secrets="s3cr3t"), "secrets takes a list"),
    ],
)
def test_bad_settings_are_clear_configuration_errors(build_server: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_server()


async def test_two_servers_with_one_name_but_different_settings_clash(ws_server: Served) -> None:
    first, second = ws_calc(ws_server), ws_calc(ws_server, include=["add"])
    same = ws_calc(ws_server)
    assert repr(first) == f"MCPServer(name='calc', websocket: ws://127.0.0.1:{ws_server.port}/ws)"
    run = NetworkRun.for_agent(state=None, runner=None, input="")
    try:
        tools = await first.list_tools(run)
        # handlers are coroutine functions: calls stay on the event loop, no thread hop
        assert all(inspect.iscoroutinefunction(t.handler) for t in tools)
        assert [t.name for t in await same.list_tools(run)] == [t.name for t in tools]
        with pytest.raises(ConfigurationError, match="two MCP servers named 'calc'"):
            await second.list_tools(run)
    finally:
        await run.close()
    with pytest.raises(MCPServerError, match="the run has ended"):
        await run.cache["mcp:calc"].connect()


async def test_a_custom_transport_factory_is_accepted(ws_server: Served) -> None:
    url = f"ws://127.0.0.1:{ws_server.port}/ws"
    source = MCPServer(name="custom", transport=lambda: WebSocketTransport(url))
    assert repr(source) == "MCPServer(name='custom', custom transport)"
    model = ScriptedModel([tool_call("custom-add", {"a": 4, "b": 4}), "8"])
    run = await create_agent(name="A", model=model, mcp_servers=[source]).run("go")
    assert [r.content for r in results(run)] == [{"result": 8}]


# -- servers that misbehave ---------------------------------------------------------------


def odd_server() -> Server[Any]:
    tools = [
        mcp_types.Tool(name="twice", input_schema={"type": "object"}),
        mcp_types.Tool(name="twice", input_schema={"type": "object"}),
        mcp_types.Tool(
            name="broken", input_schema={"type": "object", "properties": {"a": {"type": "strng"}}}
        ),
        mcp_types.Tool(
            name="typed",
            title="Typed result",
            input_schema={"type": "object"},
            output_schema={
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"],
            },
        ),
        mcp_types.Tool(name="rpc", input_schema={"type": "object"}),
    ]

    async def list_tools(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> Any:
        if params.name == "typed":
            return mcp_types.CallToolResult(content=[], structured_content={"n": "not a number"})
        raise ValueError("the database is read-only")  # a JSON-RPC error, not isError

    return Server("odd", on_list_tools=list_tools, on_call_tool=call_tool)


async def test_odd_listings_and_protocol_errors_reach_the_model_as_tool_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve(websocket_app(odd_server())) as running:
        source = MCPServer.websocket(
            "odd", url=f"ws://127.0.0.1:{running.port}/ws", include=["*", "nothing_like_this"]
        )
        model = ScriptedModel([mcp_parallel(("odd-typed", {}), ("odd-rpc", {})), "ok"])
        run = await create_agent(name="A", model=model, mcp_servers=[source]).run("go")
    # the duplicate and the tool with an invalid schema are left out, with warnings
    assert model.calls[0].tool_names == ["odd-twice", "odd-typed", "odd-rpc"]
    assert model.calls[0].tools[1]["description"] == "Typed result"
    logged = caplog.text
    assert "listed a tool without a name or twice ('twice')" in logged
    assert "tool 'broken' skipped: tool 'odd-broken': its JSON Schema is invalid" in logged
    assert "has no tool matching include='nothing_like_this'" in logged
    typed, rpc = results(run)
    assert typed.is_error and typed.content["error"] == "mcp_invalid_result"
    assert "does not fit the tool's declaration" in typed.content["message"]
    assert rpc.is_error and rpc.content["error"] == "mcp_error"
    assert rpc.content["message"] == (
        "MCP server 'odd' refused the call of 'rpc': the database is read-only (JSON-RPC error 0)"
    )


async def test_a_server_without_tools_and_a_listing_that_hangs() -> None:
    async def hang(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    no_tools = Server("bare")
    stuck = Server("stuck", on_list_tools=hang)
    with serve(websocket_app(no_tools)) as bare, serve(websocket_app(stuck)) as slow:
        model = ScriptedModel(["nothing to call"])
        source = MCPServer.websocket("bare", url=f"ws://127.0.0.1:{bare.port}/ws")
        await create_agent(name="A", model=model, mcp_servers=[source]).run("go")
        assert model.calls[0].tool_names == []

        source = MCPServer.websocket(
            "stuck", url=f"ws://127.0.0.1:{slow.port}/ws", list_timeout=0.3
        )
        agent = create_agent(name="A", model=ScriptedModel(["never"]), mcp_servers=[source])
        with pytest.raises(StepError, match=r"'stuck' did not list its tools within 0\.3 s"):
            await agent.run("go", runner=InlineRunner(max_attempts=1))


async def test_an_http_server_stopped_mid_run_gives_clear_tool_errors() -> None:
    app, _ = build("gone")
    running = RunningServer(app.streamable_http_app()).start()
    try:

        def stop_the_server(call: ModelCall) -> Any:
            running.stop()
            return tool_call("gone-add", {"a": 1, "b": 2})

        def call_again(call: ModelCall) -> Any:
            return tool_call("gone-add", {"a": 1, "b": 2})

        model = ScriptedModel([stop_the_server, call_again, "the server is gone"])
        source = MCPServer.streamable_http("gone", url=f"{running.url}/mcp", call_timeout=5)
        agent = create_agent(name="A", model=model, mcp_servers=[source], max_iter=3)
        run = await agent.run("go")
    finally:
        running.stop()
    first, second = results(run)
    # the open connection breaks, then reconnecting fails: both name the server
    assert first.is_error and first.content["error"] == "mcp_connection_closed"
    assert second.is_error and second.content["error"] == "mcp_server_unavailable"
    assert second.content["message"].startswith(
        "could not connect to MCP server 'gone' (streamable HTTP: http://127.0.0.1:"
    )
    assert second.content["message"].endswith("It did not run.")


# -- credentials in the settings -----------------------------------------------------------


def test_descriptions_show_the_command_and_address_but_no_credential() -> None:
    key = "ghp_" + "k3y" * 8
    stdio = MCPServer.stdio(
        "files",
        command="npx",
        args=["-y", "server.js", "--token", key, f"--api-key={key}", "--port", "8080", key],
        env={"API_KEY": "abcd", "LOG_LEVEL": "warn", "OTHER": "long-value-1"},
    )
    assert repr(stdio) == (
        "MCPServer(name='files', stdio: npx -y server.js --token *** --api-key=*** --port 8080 ***)"
    )
    assert repr(stdio.transport) == (
        "Stdio(stdio: npx -y server.js --token *** --api-key=*** --port 8080 ***)"
    )
    assert stdio.scrub(f"x {key} abcd long-value-1 warn 8080") == (
        "x [redacted] [redacted] [redacted] warn 8080"
    )
    zapier = MCPServer.streamable_http(
        "zap",
        url=f"https://me:p%40ss-word@mcp.example.com:8443/api/{key}/mcp?key=v4lue&x=1#frag",
        headers={"Authorization": "Bearer tok3n", "X-Trace": "short"},
    )
    assert repr(zapier) == (
        "MCPServer(name='zap', streamable HTTP: https://mcp.example.com:8443/api/***/mcp)"
    )
    basic = base64.b64encode(b"me:p@ss-word").decode()
    leaked = f"me:p%40ss-word p@ss-word {basic} key=v4lue {key} Bearer tok3n frag"
    assert zapier.scrub(leaked) == (
        "[redacted] [redacted] [redacted] key=[redacted] [redacted] [redacted] frag"
    )
    assert zapier.scrub("the token tok3n, the trace short") == (
        "the token [redacted], the trace short"
    )
    ws = MCPServer.websocket("w", url="ws://[::1]:9/ws?token=abc")
    assert repr(ws.transport) == "WebSocket(websocket: ws://[::1]:9/ws)"
    assert repr(WebSocketTransport("ws://u:pw@127.0.0.1/ws?t=secret-val")) == (
        "WebSocketTransport('ws://127.0.0.1/ws')"
    )


async def test_a_custom_transport_error_names_the_server_without_the_marked_secrets() -> None:
    secret = "pin-42"  # too short to be found on its own: marked by the user

    class Refuses:
        """A transport whose connection is refused."""

        async def __aenter__(self) -> Any:
            raise PermissionError(f"login with {secret} refused")

        async def __aexit__(self, *exc: object) -> None:
            return None

    source = MCPServer(name="vault", transport=Refuses, secrets=[secret])
    model = ScriptedModel(["never"])
    agent = create_agent(name="A", model=model, mcp_servers=[source])
    with pytest.raises(MCPServerError) as caught:
        await agent.run("go", runner=InlineRunner(max_attempts=1))
    assert str(caught.value) == (
        "could not connect to MCP server 'vault' (custom transport): "
        "PermissionError: login with [redacted] refused"
    )
    assert caught.value.__cause__ is None and not caught.value.retriable


def test_log_records_that_mention_a_secret_are_rewritten_tracebacks_included(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    token = "tok-" + "9" * 12
    server = MCPServer.streamable_http("s", url="http://127.0.0.1:9/mcp", headers={"X-Key": token})
    sdk = logging.getLogger("mcp.client.streamable_http")
    with caplog.at_level(logging.DEBUG):
        sdk.debug("Connecting with %s", token)
        try:
            raise ConnectionError(f"refused {token}")
        except ConnectionError:
            sdk.exception("Error in post_writer")
        sdk.debug("nothing secret %d", 1)
        logging.getLogger("httpcore2.http11").debug("headers %r", [(b"x-key", token)])
    text = caplog.text
    assert token not in text
    assert "Connecting with [redacted]" in text
    assert "ConnectionError: refused [redacted]" in text  # the traceback, scrubbed
    assert "nothing secret 1" in text
    assert [r.exc_info for r in caplog.records if r.exc_text] == [None]
    del server
