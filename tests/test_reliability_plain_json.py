"""Tool results and state changes that are not plain JSON.

A tool may return, or write into the state, a value JSON cannot carry: NaN, an
infinity, an integer too long to print, bytes, a circular list, nesting deeper than
the SDK can read back. Whatever it is, the handler runs exactly once (the step does
not fail and get retried), the model reads one clear tool error, and the state
change is dropped. A string with a lone surrogate (which a model can send in tool
arguments) is kept, with U+FFFD in place of the surrogate, as Inngest's server would
hand it back. Plain Python and Inngest, split and fast turns, tools that run in a
step and tools that orchestrate steps themselves all behave alike.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import pytest

from agentkit_inngest import (
    ConfigurationError,
    InlineRunner,
    ToolContext,
    create_agent,
    create_network,
    tool,
)
from agentkit_inngest.limits import MAX_JSON_DEPTH, NotJSONError, plain_json
from agentkit_inngest.models import openai
from agentkit_inngest.network import Network
from agentkit_inngest.routing import route_in_order
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .test_durable import app_with


def circular() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


NOT_JSON: dict[str, tuple[Callable[[], Any], str]] = {
    "nan": (lambda: float("nan"), "NaN or an infinity"),
    "infinity": (lambda: float("-inf"), "NaN or an infinity"),
    "huge-int": (lambda: 10**5000, "integer too long"),
    "bytes": (lambda: b"\xff\xfe raw", "bytes"),
    "circular": (circular, "circular reference"),
    "deep": (lambda: nested(MAX_JSON_DEPTH + 5), "levels deep"),
}
MODES = ["split", "fast", "uses-steps"]


def bad_value_network(mode: str, make: Callable[[], Any], calls: collections.Counter[str]) -> Any:
    """The model calls ``keep`` (writes the value into the state, returns "kept"), then
    ``give`` (returns the value), then answers with what it read. With ``uses-steps``
    both tools do their work in a step of their own."""

    def counted(name: str, value: Callable[[], Any]) -> Callable[[], Any]:
        def work() -> Any:
            calls[name] += 1
            return value()

        return work

    if mode == "uses-steps":

        @tool(uses_steps=True)
        async def keep(ctx: ToolContext) -> str:
            """Store a value."""
            await ctx.step.run("count", counted("keep", lambda: "counted"))
            ctx.state.kv.set("bad", make())
            ctx.state.kv.set("also", "lost with it")
            return "kept"

        @tool(uses_steps=True)
        async def give(ctx: ToolContext) -> Any:
            """Return a value made in a step."""
            return await ctx.step.run("make", counted("give", make))

    else:

        @tool
        def keep(ctx: ToolContext) -> str:
            """Store a value."""
            counted("keep", lambda: None)()
            ctx.state.kv.set("bad", make())
            ctx.state.kv.set("also", "lost with it")
            return "kept"

        @tool
        def give(ctx: ToolContext) -> Any:
            """Return a value."""
            return counted("give", make)()

    model = ScriptedModel(
        [
            tool_call("keep", id="k1"),
            tool_call("give", id="g1"),
            lambda c: text(f"read: {c.last.content}"),  # type: ignore[union-attr]
        ]
    )
    agent = create_agent(name="A", model=model, tools=[keep, give], max_iter=3)
    return create_network(
        name=f"Bad {mode}",
        agents=[agent],
        router=route_in_order(agent),
        fast_turns=mode == "fast",
    )


def check_tool_error(call: dict[str, Any], where: str, says: str) -> None:
    assert call["is_error"] is True, call
    content = call["content"]
    assert content["error"] == "invalid_result"
    message = content["message"]
    assert f"Tool {call['name']!r} ran, but its result could not be recorded" in message
    assert f"{where} is not JSON" in message and says in message, message


def check_outcome(results: list[dict[str, Any]], kv: dict[str, Any], says: str) -> None:
    keep, give = (call for result in results for call in result["tool_calls"])
    check_tool_error(keep, "the state it wrote", says)
    check_tool_error(give, "the result", says)
    assert kv == {}  # the state change was dropped whole


STEP_SAYS = "step 'A#1/tool/give/make' "


@pytest.mark.parametrize("value", sorted(NOT_JSON))
async def test_a_value_that_is_not_json_is_a_tool_error_and_the_handler_runs_once(
    value: str,
) -> None:
    """Split and fast turns: both tools' calls become tool errors the model reads.
    A tool that orchestrates steps and makes the value in a step of its own has a bug
    to fix: the run fails at once (non-retriable), naming the step, in both runners."""
    make, says = NOT_JSON[value]
    inline_calls: dict[str, collections.Counter[str]] = {}
    for mode in MODES:
        calls: collections.Counter[str] = collections.Counter()
        network = bad_value_network(mode, make, calls)
        inline_calls[mode] = calls
        if mode == "uses-steps":
            with pytest.raises(ConfigurationError, match=STEP_SAYS + "returned a value that"):
                await network.run("go", runner=InlineRunner(backoff=0))
            continue
        plain = await network.run("go", runner=InlineRunner(backoff=0))
        check_outcome(plain.to_json()["results"], plain.state.kv.all(), says)

    durable_calls = {mode: collections.Counter[str]() for mode in MODES}
    networks = [bad_value_network(mode, make, durable_calls[mode]) for mode in MODES]
    async with app_with(networks=networks) as (executor, _):
        for mode in MODES:
            run = await executor.run(f"network-bad-{mode}", {"input": "go"}, check=False)
            assert all(r.attempt == 0 for r in executor.requests_for(run)), "nothing retried"
            if mode == "uses-steps":
                assert run.status == "failed" and run.error["name"] == "NonRetriableError"
                assert STEP_SAYS + "failed: step" in run.error["message"], run.error
                assert "returned a value that is not JSON" in run.error["message"]
                continue
            assert run.status == "completed", run.error
            check_outcome(run.output["results"], run.output["state"]["kv"], says)
    for mode in MODES:
        assert inline_calls[mode] == durable_calls[mode] == {"give": 1, "keep": 1}, mode


async def test_a_lone_surrogate_from_the_model_comes_back_as_u_fffd(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """A model sends ``{"query": "\\ud800"}``; the tool echoes it into its result and
    the state: the run completes, the handler runs once, and both runners keep the
    text with U+FFFD where the surrogate was."""

    def network(calls: collections.Counter[str]) -> Network[Any]:
        @tool
        def echo(query: str, ctx: ToolContext) -> dict[str, str]:
            """Echo the query."""
            calls[query] += 1
            ctx.state.kv.set("last", query)
            return {"echo": query, "pair": "\ud83d\ude00"}

        model = openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test")
        agent = create_agent(name="Echo", model=model, tools=[echo], max_iter=2)
        return create_network(name="Echo", agents=[agent], router=route_in_order(agent))

    outcomes = []
    for runner in ("inline", "inngest"):
        fake_provider.reset()
        fake_provider.reply(
            tool_call("echo", {"query": "a\ud800b"}), lambda request: text("echoed")
        )
        calls: collections.Counter[str] = collections.Counter()
        if runner == "inline":
            outcomes.append((await network(calls).run("go")).to_json())
        else:
            async with app_with(networks=[network(calls)]) as (executor, _):
                run = await executor.run("network-echo", {"input": "go"})
            outcomes.append(run.output)
        assert sum(calls.values()) == 1 and len(fake_provider.requests) == 2
    plain, durable = outcomes
    (result,) = durable["results"][0]["tool_calls"]
    assert result["content"] == plain["results"][0]["tool_calls"][0]["content"]
    assert result["content"] == {"echo": "a\ufffdb", "pair": "\U0001f600"}
    assert durable["state"]["kv"] == plain["state"]["kv"] == {"last": "a\ufffdb"}


def test_plain_json_keeps_json_and_explains_what_is_not() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "b": {"c": "\U0001f600"}}
    assert plain_json(value) == (value, len('{"a":[1,2.5,null,true,"é"],"b":{"c":"😀"}}'.encode()))
    assert plain_json(["x\ud800", "\ud83d\ude00"]) == (["x\ufffd", "\U0001f600"], 15)
    assert plain_json(nested(MAX_JSON_DEPTH))[0] == nested(MAX_JSON_DEPTH)
    for make, says in NOT_JSON.values():
        with pytest.raises(NotJSONError, match=says):
            plain_json({"k": make()})
