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
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pydantic_core
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit_inngest import (
    ConfigurationError,
    InlineRunner,
    Network,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest._json import MAX_JSON_DEPTH, MAX_STEP_DEPTH, NotJSONError, plain_json
from agentkit_inngest.models import openai
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider
from agentkit_inngest.testing.server_rules import server_value
from agentkit_inngest.testing.servers import serve

from .message_helpers import content
from .test_durable import app_with
from .test_reliability_input import LoopThread, Served, examples


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
    "deep": (lambda: nested(MAX_STEP_DEPTH + 5), "levels deep"),
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
            lambda c: text(f"read: {content(c.last)}"),
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


# -- properties: hostile values through the served app ------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=8),  # lone surrogates too
    st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "\x00", "nul\x00in", "\ud83d\ude00"]),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**53 + 1, -(2**63), 10**300, 10**400, 1.0, -0.0, 1e308, 5e-324]),
    st.floats(),  # NaN and infinities included
    HOSTILE_TEXT,
)
PYTHON_ONLY = st.one_of(
    st.binary(max_size=6),
    st.just(b"\xff\xfe"),
    st.integers(4400, 5000).map(lambda n: -(10**n) if n % 2 else 10**n),  # too long to print
    st.builds(circular),
    st.builds(object),
)
DEEP = st.integers(0, 2 * MAX_JSON_DEPTH).map(nested)


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3)
        ),
        max_leaves=8,
    )


HOSTILE_VALUES = st.one_of(trees(JSON_SCALARS | PYTHON_ONLY), DEEP)
ARGUMENT_TEXTS = st.one_of(
    # what a provider can send: JSON text (Python writes NaN and Infinity as such)
    trees(JSON_SCALARS).map(lambda v: json.dumps({"query": v})),
    DEEP.map(lambda v: json.dumps({"query": v})),
    st.sampled_from(
        [
            '{"query": "\\ud800"}',
            '{"query": "x\\udc00\\ud800y"}',
            '{"query": NaN}',
            '{"query": [Infinity, -Infinity]}',
            '{"query": 1' + "0" * 400 + "}",
            '{"query": 1' + "0" * 5000 + "}",
            '{"query": "\\u0000"}',
        ]
    ),
)
EVENT_EXTRAS = st.one_of(trees(JSON_SCALARS), st.integers(0, 150).map(nested))

HOSTILE: dict[str, tuple[Any, Any]] = {}
HANDLED: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
KEYS = itertools.count()


@tool
def give(key: str) -> Any:
    """Return the value under test."""
    HANDLED[key]["give"] += 1
    return HOSTILE[key][0]


@tool
def keep(key: str, ctx: ToolContext) -> str:
    """Write the value under test into the state."""
    HANDLED[key]["keep"] += 1
    ctx.state.kv.set("w", HOSTILE[key][1])
    return "kept"


@tool
def echo(query: Any, ctx: ToolContext) -> dict[str, Any]:
    """Echo the query into the result and the state."""
    HANDLED[ctx.network.state.kv.get("key") or "echo"]["echo"] += 1
    ctx.state.kv.set("q", query)
    return {"q": query}


def hostile_network(fast: bool) -> Network[Any]:
    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("done")
        key = next(m.content for m in call.messages if m.kind == "text" and m.role == "user")
        return tool_calls(("give", {"key": key}), ("keep", {"key": key}))

    agent = create_agent(name="A", model=FunctionModel(respond), tools=[give, keep], max_iter=2)
    name = "Hostile fast" if fast else "Hostile"
    return create_network(name=name, agents=[agent], router=route_in_order(agent), fast_turns=fast)


@pytest.fixture(scope="module")
def app() -> Iterator[Served]:
    fake = FakeProvider()
    loop = LoopThread()
    with serve(fake.app) as provider:

        async def start() -> LocalExecutor:
            executor = LocalExecutor(seed=3, inline_limit=256)  # most calls use the API
            await executor.__aenter__()
            model = openai("gpt-test", base_url=f"{provider.url}/v1", api_key="sk-test")
            echoing = create_agent(name="E", model=model, tools=[echo], max_iter=2)
            networks = [
                hostile_network(fast=False),
                hostile_network(fast=True),
                create_network(name="Echo", agents=[echoing], router=route_in_order(echoing)),
            ]
            await executor.attach(
                create_server(client=executor.client("hostile"), networks=networks)
            )
            return executor

        served = Served(loop, loop.call(start()))
        served.fake = fake
        try:
            yield served
        finally:
            loop.call(served.executor.__aexit__(None, None, None))
            loop.close()


REFUSED = object()


def kept_as(value: Any) -> Any:
    """What a state value that is plain JSON looks like after Inngest stored it."""
    try:
        return server_value(plain_json(value)[0])
    except (NotJSONError, ValueError):
        return REFUSED


def returned_as(value: Any) -> Any:
    """The same for a tool's result, which ``Tool.call`` first makes JSON with pydantic
    (UTF-8 bytes become text; a lone surrogate in a dict key is refused)."""
    try:
        jsonable = pydantic_core.to_jsonable_python(value)
    except Exception:  # any refusal is a tool error
        return REFUSED
    return kept_as(jsonable)


@examples(40)
@given(result=HOSTILE_VALUES, written=HOSTILE_VALUES, fast=st.booleans())
def test_any_tool_result_or_state_write_runs_its_handler_once(
    app: Served, result: Any, written: Any, fast: bool
) -> None:
    key = f"k{next(KEYS)}"
    HOSTILE[key] = (result, written)
    run = app.run("network-hostile-fast" if fast else "network-hostile", {"input": key})
    assert run.status == "completed", run.error
    assert HANDLED[key] == {"give": 1, "keep": 1}
    assert all(r.attempt == 0 for r in app.executor.requests_for(run)), "nothing retried"
    given_back, kept = run.output["results"][0]["tool_calls"]
    if (want := returned_as(result)) is not REFUSED:
        assert given_back["content"] == want and not given_back["is_error"]
    else:  # (tools report values pydantic cannot serialize as unserializable_result)
        assert given_back["content"]["error"] in ("invalid_result", "unserializable_result")
    if (want := kept_as(written)) is not REFUSED:
        assert run.output["state"]["kv"] == {"w": want} and not kept["is_error"]
    else:
        assert kept["content"]["error"] == "invalid_result" and run.output["state"]["kv"] == {}


@examples(40)
@given(raw=ARGUMENT_TEXTS)
def test_any_tool_arguments_a_model_sends_never_run_a_handler_twice(app: Served, raw: str) -> None:
    fake = app.fake
    fake.reset()
    call = {"id": "call_1", "type": "function", "function": {"name": "echo", "arguments": raw}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    fake.reply(
        {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}]},
        lambda request: text("echoed"),
    )
    key = f"k{next(KEYS)}"
    run = app.run("network-echo", {"input": "go", "state": {"kv": {"key": key}}})
    assert run.status == "completed", run.error
    assert HANDLED[key]["echo"] <= 1
    assert all(r.attempt == 0 for r in app.executor.requests_for(run)), "nothing retried"
    (result,) = run.output["results"][0]["tool_calls"]
    if result["is_error"]:
        assert result["content"]["error"] in ("invalid_arguments", "invalid_result")
        assert HANDLED[key]["echo"] == (result["content"]["error"] == "invalid_result")
    else:
        assert HANDLED[key]["echo"] == 1
        assert result["content"] == {"q": run.output["state"]["kv"]["q"]}
    # no lone surrogate reached the run's output: it encodes as UTF-8
    json.dumps(run.output, ensure_ascii=False).encode("utf-8")
    assert len(fake.requests) == 2  # the model read the result once, then answered


@examples(40)
@given(user_input=HOSTILE_TEXT.filter(bool), extra=EVENT_EXTRAS)
def test_any_event_data_the_server_accepts_runs_or_fails_at_once(
    app: Served, user_input: str, extra: Any
) -> None:
    key = f"k{next(KEYS)}"
    HOSTILE[key] = ("ok", "ok")
    data = {"input": key, "note": user_input, "extra": extra}
    try:
        server_value(data)
    except ValueError:
        with pytest.raises(ValueError, match="not JSON the Inngest server accepts"):
            app.run("network-hostile", data)
        return
    run = app.run("network-hostile", data)
    assert run.status == "completed", run.error
    assert HANDLED[key] == {"give": 1, "keep": 1}
    assert all(r.attempt == 0 for r in app.executor.requests_for(run))
