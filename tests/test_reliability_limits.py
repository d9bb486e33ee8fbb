"""Bounds: oversized tool results, state, step outputs, runs and function outputs.

Inngest refuses a step output over 4 MB and a run over 32 MB; the local executor
refuses them the same way (``output_limit``), so these tests show a run that would
otherwise die on the server either finishing with a bounded result or failing at
once with a message naming the tool or step and the limit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import inngest
import pytest

from agentkit_inngest import (
    ConfigurationError,
    InlineRunner,
    Limits,
    Network,
    SizeLimitError,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest._functions import bounded_output
from agentkit_inngest._json import json_size
from agentkit_inngest._limits import INNGEST_STEP_BYTES
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
)

from .test_durable import app_with

MiB = 1024 * 1024
SMALL = Limits(
    tool_result_bytes=16 * 1024,
    state_bytes=32 * 1024,
    step_bytes=64 * 1024,
    run_bytes=256 * 1024,
    output_bytes=64 * 1024,
)


def one_tool_network(handler_tool: Any, *, name: str = "Big", calls: int = 1) -> Network[Any]:
    model = ScriptedModel([tool_call(handler_tool.name, {}) for _ in range(calls)] + [text("done")])
    agent = create_agent(name="A", model=model, tools=[handler_tool], max_iter=calls + 1)
    return create_network(name=name, agents=[agent], router=route_in_order(agent))


@tool
def dump(ctx: ToolContext) -> str:
    """Return a huge report."""
    return "x" * (6 * MiB)


async def test_an_oversized_tool_result_is_cut_with_a_note_the_model_reads() -> None:
    seen: list[Any] = []

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            seen.append(call.last.content)
            return text("I read the beginning")
        return tool_call("dump")

    agent = create_agent(name="A", model=FunctionModel(respond), tools=[dump], max_iter=2)
    network: Network[Any] = create_network(name="Big", agents=[agent], router=route_in_order(agent))

    plain = await network.run("report")
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-big", {"input": "report"})  # 6 MB would be refused
    assert run.output["output"] == "I read the beginning"
    memo = run.memo_for("A#1/tool/dump")["data"]
    assert json_size(memo) < Limits().step_bytes
    note = memo["content"]
    assert note["truncated"] is True and note["preview"] == "x" * (Limits().tool_result_bytes // 2)
    assert "6,291,458 bytes" in note["message"] and "asking for less" in note["message"]
    assert seen == [note, note]  # the same note in plain Python and under Inngest
    assert plain.results[0].tool_calls[0].content == note


async def test_the_executor_refuses_a_step_output_over_4_mb_as_inngest_does() -> None:
    """What the bounds prevent: an unbounded 5 MB step output fails the whole run."""

    def build(client: inngest.Inngest) -> Any:
        @client.create_function(fn_id="raw", trigger=inngest.TriggerEvent(event="app/raw"))
        async def raw(ctx: inngest.Context) -> int:
            async def make_big() -> str:
                return "y" * (5 * MiB)

            big = await ctx.step.run("big", make_big)
            return len(big)

        return raw

    async with app_with(functions=[build]) as (executor, _):
        run = await executor.run("raw", {}, check=False)
        assert run.status == "failed" and run.error["name"] == "OutputTooLarge"
        assert "'big'" in run.error["message"]
        assert str(INNGEST_STEP_BYTES) in run.error["message"]
        executor.output_limit = None  # without the server's limit the same run completes
        assert (await executor.run("raw", {})).output == 5 * MiB


async def test_state_grown_past_its_limit_fails_the_run_naming_the_tool() -> None:
    @tool
    def hoard(ctx: ToolContext) -> str:
        """Keep a big blob in the state."""
        ctx.state.kv.set("blob", "z" * (40 * 1024))
        return "kept"

    with pytest.raises(SizeLimitError, match=r"tool 'hoard' .*\(Limits\.state_bytes\)") as info:
        await one_tool_network(hoard).run("go", runner=InlineRunner(limits=SMALL))
    assert info.value.limit == SMALL.state_bytes and info.value.size > SMALL.state_bytes

    network = one_tool_network(hoard)
    functions = [lambda c: network_function(network, client=c, limits=SMALL)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-big", {"input": "go"}, check=False)
    assert run.status == "failed" and run.error["name"] == "NonRetriableError"
    assert "step 'A#1/tool/hoard' failed: SizeLimitError: tool 'hoard'" in run.error["message"]
    assert "Limits.state_bytes" in run.error["message"]
    assert all(r.attempt == 0 for r in executor.requests_for(run))  # never retried


async def test_a_step_output_over_its_limit_fails_that_step_once_in_both_runners() -> None:
    """A tool that orchestrates steps hears of its step's failure as an error it
    reports to the model; under Inngest the failure is memoized, so the step's work
    is not redone on the replays that follow."""
    pages: list[int] = []

    def read_page() -> str:
        pages.append(1)
        return "p" * (100 * 1024)

    @tool(uses_steps=True)
    async def fetch(ctx: ToolContext) -> int:
        """Fetch a big page in a step of its own."""
        return len(await ctx.step.run("page", read_page))

    says = "step 'A#1/tool/fetch/page' returned 102,402 bytes of JSON, over the limit of 65,536"
    plain = await one_tool_network(fetch).run("go", runner=InlineRunner(limits=SMALL))
    (result,) = plain.results[0].tool_calls
    assert result.is_error and result.content["error"] == "SizeLimitError"
    assert says in result.content["message"] and "Limits.step_bytes" in result.content["message"]
    network = one_tool_network(fetch)
    # replays: the request-per-step path (checkpointing off, or a checkpoint that fell back)
    functions = [lambda c: network_function(network, client=c, limits=SMALL, checkpointing=False)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-big", {"input": "go"})
    content = run.output["results"][0]["tool_calls"][0]["content"]
    assert content["error"] == "StepError" and says in content["message"]
    assert len(pages) == 2  # once per runner, although the durable run replayed it twice
    assert len(executor.requests_for(run)) == 4


async def test_an_oversized_model_answer_fails_its_inference_step() -> None:
    model = FunctionModel(lambda call: text("w" * (3 * MiB)))
    agent = create_agent(name="Verbose", model=model)
    network: Network[Any] = create_network(
        name="Verbose", agents=[agent], router=route_in_order(agent)
    )
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-verbose", {"input": "talk"}, check=False)
    assert run.status == "failed"
    assert "step 'Verbose#1/infer' returned" in run.error["message"]
    assert "over the limit of 2,097,152 bytes per step" in run.error["message"]


async def test_a_run_whose_memoized_outputs_outgrow_the_run_limit_fails_clearly() -> None:
    @tool
    def chunk(ctx: ToolContext) -> str:
        """Return a chunk just under the tool result limit."""
        return "c" * (15 * 1024)

    limits = Limits(
        tool_result_bytes=16 * 1024,
        state_bytes=32 * 1024,
        step_bytes=64 * 1024,
        run_bytes=100 * 1024,
        output_bytes=64 * 1024,
    )
    with pytest.raises(SizeLimitError, match=r"over the limit of 102,400 bytes per run"):
        await one_tool_network(chunk, calls=8).run("go", runner=InlineRunner(limits=limits))
    network = one_tool_network(chunk, calls=8)
    functions = [lambda c: network_function(network, client=c, limits=limits)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-big", {"input": "go"}, check=False)
    message = run.error["message"]
    assert "A#1/tool/chunk#7" in message and "Limits.run_bytes" in message, message


async def test_the_run_limit_counts_checkpointed_outputs_in_utf_8_bytes() -> None:
    """A checkpointed request counts what it saved as the server stores it: UTF-8 bytes.

    8 results of 5,000 "é" are 80,000 bytes, within 100 KiB; counted as ``\\u00e9``
    escapes (6 bytes each) they were 240,000, and the run failed at its 4th call.
    """

    @tool
    def accents(ctx: ToolContext) -> str:
        """Return accented text."""
        return "é" * 5000

    limits = Limits(
        tool_result_bytes=16 * 1024,
        state_bytes=32 * 1024,
        step_bytes=64 * 1024,
        run_bytes=100 * 1024,
        output_bytes=64 * 1024,
    )
    network = one_tool_network(accents, calls=8)
    functions = [lambda c: network_function(network, client=c, limits=limits)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-big", {"input": "go"}, check=False)
    assert run.status == "completed", run.error
    assert len(executor.requests_for(run)) == 1  # checkpointed: one request


async def test_a_large_output_leaves_out_the_conversation_and_says_so() -> None:
    @tool
    def page(n: int) -> str:
        """Read a page."""
        return f"{n}" * (12 * 1024)

    model = ScriptedModel([tool_call("page", {"n": n}) for n in range(6)] + [text("summary")])
    agent = create_agent(name="A", model=model, tools=[page], max_iter=7)
    network: Network[Any] = create_network(
        name="Pages", agents=[agent], router=route_in_order(agent)
    )
    functions = [lambda c: network_function(network, client=c, limits=SMALL)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-pages", {"input": "read", "state": {"kv": {"k": 1}}})
    output = run.output
    assert output["output"] == "summary" and output["state"]["kv"] == {"k": 1}
    assert output["omitted"]["fields"] == ["results"]  # the state holds no conversation
    assert output["omitted"]["bytes"] > SMALL.output_bytes >= json_size(output)
    assert "history store" in output["omitted"]["note"]


def test_bounded_output_keeps_small_outputs_and_refuses_what_cannot_shrink() -> None:
    small = {"output": "hi", "state": {"data": {}, "kv": {}}, "results": []}
    assert bounded_output(small, SMALL, where="w") is small
    huge = {"output": "o" * (70 * 1024), "state": {}, "result": {"x": 1}}
    with pytest.raises(SizeLimitError, match=r"w: the output is .* even without the conversation"):
        bounded_output(huge, SMALL, where="w")
    agent_like = {"output": "o", "state": {"messages": ["m" * 70_000]}, "result": {"x": 1}}
    compact = bounded_output(agent_like, SMALL, where="w")
    assert compact["omitted"]["fields"] == ["result", "state.messages"] and "result" not in compact


async def test_an_event_state_over_the_limit_fails_at_once() -> None:
    network = one_tool_network(dump)
    functions = [lambda c: network_function(network, client=c, limits=SMALL)]
    big_state = {"kv": {"blob": "b" * (40 * 1024)}}
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-big", {"input": "go", "state": big_state}, check=False)
    assert run.error["name"] == "NonRetriableError"
    assert "invalid event data: data.state" in run.error["message"]
    assert len(executor.requests_for(run)) == 1


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"step_bytes": 10}, "at least 1024 bytes"),
        ({"step_bytes": True}, "at least 1024 bytes"),
        ({"step_bytes": 5 * MiB}, "4 MB step limit"),
        ({"run_bytes": 40 * MiB}, "32 MB run limit"),
        ({"tool_result_bytes": 3 * MiB}, "must not exceed Limits.step_bytes"),
    ],
)
def test_limits_are_checked_when_made(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Limits(**fields)


def test_json_size_counts_utf8_bytes_of_compact_json() -> None:
    assert json_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert json_size("é") == len(json.dumps("é", ensure_ascii=False).encode())
    with pytest.raises(ValueError, match="JSON compliant"):
        json_size(float("nan"))


# -- the run limit when Inngest stops inlining memos (use_api) ------------------------------

BLOB = 1_500_000  # bytes a tool stores per call: three of them pass Inngest's 4 MB inlining
BLOB_LIMITS = Limits(
    tool_result_bytes=2 * MiB,
    state_bytes=64 * 1024,
    step_bytes=2 * MiB,
    run_bytes=6 * MiB,
    output_bytes=64 * 1024,
)


def blob_network(stored: list[int], calls: int) -> Any:
    @tool
    def blob(n: int) -> str:
        """Store a large blob."""
        stored.append(n)
        return "b" * BLOB

    model = ScriptedModel([tool_call("blob", {"n": n}) for n in range(calls)] + [text("done")])
    agent = create_agent(name="A", model=model, tools=[blob], max_iter=calls + 1)
    return create_network(name="Blobs", agents=[agent], router=route_in_order(agent))


@pytest.mark.parametrize("signed", [False, True], ids=["dev", "production"])
async def test_the_run_limit_holds_when_inngest_fetches_memos_through_its_api(
    signed: bool,
) -> None:
    """Above 4 MB - 1 KB of memos Inngest stops putting them in the request
    (``use_api``) and the SDK fetches them from ``/v0/runs/{id}/actions``: the run
    limit counts them there too, and refuses the 5th blob (4 x 1.5 MB fit in 6 MiB)."""
    inline: list[int] = []
    with pytest.raises(SizeLimitError, match=r"'A#1/tool/blob#5' would bring .* 6,291,456"):
        await blob_network(inline, 8).run("go", runner=InlineRunner(limits=BLOB_LIMITS))
    assert inline == [0, 1, 2, 3, 4]

    stored: list[int] = []
    network = blob_network(stored, 8)
    # memos fetched by later requests: the request-per-step path (checkpointing off, or
    # fallen back); checkpointed, the run limit counts the steps the request saved (above)
    functions = [
        lambda c: network_function(network, client=c, limits=BLOB_LIMITS, checkpointing=False)
    ]
    key = "signkey-prod-" + "b10b" * 16
    options: dict[str, Any] = {"signing_key": key, "app_id": "blobs"} if signed else {}
    async with signed_app_with(functions=functions, **options) as executor:
        run = await executor.run("network-blobs", {"input": "go"}, check=False)
    assert run.status == "failed" and run.error["name"] == "NonRetriableError"
    message = run.error["message"]
    assert "'A#1/tool/blob#5' would bring the run's memoized step outputs to" in message
    assert "Limits.run_bytes" in message, message
    assert stored == [0, 1, 2, 3, 4]  # each handler once; nothing after the refusal
    calls = executor.requests_for(run)
    assert any(not call.use_api for call in calls) and any(call.use_api for call in calls)
    fetched = [read for read in executor.api_reads if read.run_id == run.id]
    assert fetched and {read.status for read in fetched} == {200}
    assert max(read.bytes_sent for read in fetched if read.what == "actions") > 4 * BLOB


async def test_a_run_too_large_to_inline_completes_through_the_api() -> None:
    """Seven blobs (10.5 MB) within the default 16 MiB run limit: every call after the
    third carries no memos, the SDK reads them from the API, and the run completes."""
    stored: list[int] = []
    network = blob_network(stored, 7)
    limits = Limits(tool_result_bytes=2 * MiB, output_bytes=64 * 1024)
    # requests without memos: the request-per-step path (checkpointing off or fallen back)
    functions = [lambda c: network_function(network, client=c, limits=limits, checkpointing=False)]
    async with signed_app_with(functions=functions) as executor:
        run = await executor.run("network-blobs", {"input": "go"})
    assert run.output["output"] == "done" and stored == list(range(7))
    calls = executor.requests_for(run)
    assert sum(call.use_api for call in calls) >= 8
    assert all(call.bytes_sent < 64 * 1024 for call in calls if call.use_api)
    assert run.state_bytes > 7 * BLOB


@contextlib.asynccontextmanager
async def signed_app_with(
    *, functions: list[Any], signing_key: str | None = None, app_id: str = "test-app"
) -> AsyncIterator[LocalExecutor]:
    """An executor and the app, both in production mode when ``signing_key`` is given."""
    async with LocalExecutor(signing_key=signing_key) as executor:
        client = executor.client(app_id, signing_key=signing_key)
        built = [f(client) for f in functions]
        await executor.attach(create_server(client=client, functions=built))
        yield executor
