"""AgentKit docs, reference/create-agent, create-tool and create-network: the
signatures as written there (a JSON Schema tool through ``create_tool``, lifecycle
hooks taking every argument, tool lifecycle hooks as a handler wrapper)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from agentkit_inngest import (
    AgentResult,
    Lifecycle,
    StartResult,
    ToolContext,
    create_agent,
    create_network,
    create_tool,
)
from agentkit_inngest.testing import ScriptedModel, text, tool_call

WRITE_FILE_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "The path to write to"},
        "contents": {"type": "string", "description": "The contents to write"},
    },
    "required": ["path", "contents"],
}


async def test_on_start_receives_every_argument_and_on_response_may_pass() -> None:
    seen: dict[str, Any] = {}

    async def on_start(
        *, agent: Any, network: Any, input: str, prompt: list[Any], history: list[Any]
    ) -> StartResult:
        # TS: onStart({ agent, network, input, system, history }) returning { system, history }
        # (stale): here the system prompt is the first message of `prompt`
        seen.update(agent=agent.name, input=input, prompt=len(prompt), network=network.name)
        return StartResult(prompt=prompt, history=history)

    def on_response(*, result: AgentResult) -> AgentResult:
        return result  # TS: onResponse() {} : keep the result

    code_writer = create_agent(
        name="Code writer",
        system="You are an expert TypeScript programmer.",
        model=ScriptedModel([text("export {}")]),
        lifecycle=Lifecycle(on_start=on_start, on_response=on_response),
    )
    result = await code_writer.run("Write a module")
    assert result.text == "export {}"
    assert seen == {
        "agent": "Code writer",
        "input": "Write a module",
        "prompt": 1,
        "network": "standalone",
    }


async def test_a_json_schema_tool_through_create_tool_changes_state() -> None:
    written: dict[str, str] = {}

    async def write_file(args: dict[str, Any], ctx: ToolContext) -> dict[str, bool]:
        # TS: handler: async ({ path, contents }, { agent, network }) => { ... }
        written[args["path"]] = args["contents"]
        ctx.network.state.kv.set("file-written", True)  # TS: network.state.kv.set(...)
        return {"success": True}

    tool = create_tool(
        name="write-file",
        description="Write a file to disk with the given contents",
        json_schema=WRITE_FILE_SCHEMA,  # TS: parameters: { type: "object", ... }
        handler=write_file,
    )
    agent = create_agent(
        name="Writer",
        model=ScriptedModel(
            [
                tool_call("write-file", {"path": "a.ts"}),  # missing contents: sent back
                tool_call("write-file", {"path": "a.ts", "contents": "export {}"}),
                text("Written."),
            ]
        ),
        tools=[tool],
        max_iter=3,
    )
    from agentkit_inngest import State

    state = State()
    result = await agent.run("Write a.ts", state=state)
    first, second = result.tool_calls
    assert first.is_error and "'contents' is a required property" in str(first.content)
    assert second.content == {"success": True} and written == {"a.ts": "export {}"}
    assert state.kv.get("file-written") is True
    assert tool.json_schema["required"] == ["path", "contents"]


def with_lifecycle(
    handler: Callable[..., Awaitable[Any]],
    *,
    on_start: Callable[..., Any] | None = None,
    on_finish: Callable[..., Any] | None = None,
) -> Callable[..., Awaitable[Any]]:
    """AgentKit's tool lifecycle (``onStart({ parameters })``, ``onFinish({ result })``)
    as a wrapper of the handler: the hooks run inside the tool's step."""

    @functools.wraps(handler)
    async def wrapped(params: Any, ctx: ToolContext) -> Any:
        if on_start is not None:
            params = on_start(parameters=params)
        result = await handler(params, ctx)
        return on_finish(result=result) if on_finish is not None else result

    return wrapped


async def test_tool_lifecycle_hooks_as_a_handler_wrapper() -> None:
    async def write_file(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return {"success": True, "path": args["path"]}

    tool = create_tool(
        name="write-file",
        json_schema=WRITE_FILE_SCHEMA,
        handler=with_lifecycle(
            write_file,
            on_start=lambda *, parameters: {**parameters, "path": parameters["path"].lower()},
            on_finish=lambda *, result: {**result, "checked": True},
        ),
    )
    agent = create_agent(
        name="Writer",
        model=ScriptedModel(
            [tool_call("write-file", {"path": "A.TS", "contents": "x"}), text("ok")]
        ),
        tools=[tool],
        max_iter=2,
    )
    result = await agent.run("go")
    assert result.tool_calls[0].content == {"success": True, "path": "a.ts", "checked": True}


async def test_create_network_with_a_default_model_and_max_iter() -> None:
    looper = create_agent(name="Looper")
    network = create_network(
        name="Capped",  # TS: createNetwork({ agents, defaultModel: openai(...), maxIter: 10 })
        agents=[looper],
        default_model=ScriptedModel([text(str(i)) for i in range(12)]),
        router=lambda: looper,
        max_iter=10,
    )
    run = await network.run("go")
    assert len(run.results) == 10
