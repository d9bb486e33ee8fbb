"""The request context the Python SDK drops (``fn_id``, ``qi_id``, ``request_id``...),
read by :class:`~agentkit_inngest._request_context.RequestContextMiddleware` in a real
FastAPI app served by the real ``inngest`` SDK under the LocalExecutor; and a step
checkpointed from inside a handler becomes the memo the SDK reads on the next call."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import inngest
import inngest.fast_api
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit_inngest._checkpoint import CheckpointClient, CheckpointStep
from agentkit_inngest._request_context import (
    RequestContext,
    current_request_context,
    install_request_context,
    read_request_context,
)
from agentkit_inngest.testing.executor import LocalExecutor

from .checkpoint_helpers import hashed

APP = "ctx-app"


def context_app(executor: LocalExecutor, seen: list[RequestContext | None]) -> FastAPI:
    client = install_request_context(executor.client(APP))
    install_request_context(client)  # once is enough: a second call adds nothing
    checkpoints = CheckpointClient(client, backoff=0.0)

    @client.create_function(fn_id="read", trigger=inngest.TriggerEvent(event="ctx/read"))
    async def read(ctx: inngest.Context) -> dict[str, Any]:
        context = current_request_context()
        assert context is not None
        return {**dataclasses.asdict(context), "can_checkpoint": context.can_checkpoint}

    @client.create_function(fn_id="early", trigger=inngest.TriggerEvent(event="ctx/early"))
    async def early(ctx: inngest.Context) -> dict[str, Any]:
        context = current_request_context()
        assert context is not None
        outcome = await checkpoints.checkpoint(context, [CheckpointStep("early", {"n": 1})])

        async def two() -> dict[str, int]:
            return {"n": 2}

        value = await ctx.step.run("early", two)
        return {"outcome": outcome.status.value, "value": value}

    async def remember() -> str:
        seen.append(current_request_context())
        return "ok"

    @client.create_function(fn_id="parallel", trigger=inngest.TriggerEvent(event="ctx/par"))
    async def parallel(ctx: inngest.Context) -> str:
        await ctx.group.parallel(
            (lambda: ctx.step.run("p1", remember), lambda: ctx.step.run("p2", remember))
        )
        await ctx.step.run("after", remember)
        return "done"

    app = FastAPI()
    inngest.fast_api.serve(app, client, [read, early, parallel])
    return app


async def test_the_handler_sees_the_servers_context_of_its_call() -> None:
    async with LocalExecutor() as executor:
        await executor.attach(context_app(executor, []))
        run = await executor.run("read", {})
        (record,) = executor.requests_for(run)
        output = run.output
        assert output["run_id"] == run.id
        assert output["fn_id"] == executor.checkpoint_api.function_uuid(f"{APP}-read")
        assert (output["qi_id"], output["request_id"]) == (record.qi_id, record.request_id)
        assert output["job_id"] and output["generation_id"] == 1
        assert (output["attempt"], output["target_step"]) == (0, None)
        assert output["disable_immediate_execution"] is False
        assert output["started_at_ms"] > 0 and output["can_checkpoint"] is True


async def test_a_step_checkpointed_in_the_handler_is_the_memo_of_the_next_call() -> None:
    async with LocalExecutor() as executor:
        await executor.attach(context_app(executor, []))
        run = await executor.run("early", {})
        # the checkpoint saved {"n": 1}; the SDK then also returned the step (its memo
        # came only with the next call): a duplicate, skipped; the next call read the memo
        assert run.output == {"outcome": "acked", "value": {"n": 1}}
        assert run.memos[hashed("early")] == {"data": {"n": 1}}
        assert [c.saved for c in executor.checkpoints] == [["early"], []]
        assert [r.checkpoints for r in executor.requests_for(run)] == [1, 1]


async def test_targeted_and_parallel_calls_may_not_checkpoint() -> None:
    async with LocalExecutor() as executor:
        seen: list[RequestContext | None] = []
        await executor.attach(context_app(executor, seen))
        await executor.run("parallel", {})
        contexts = [c for c in seen if c is not None]
        assert len(contexts) == len(seen) == 3
        p1, p2, after = contexts
        assert {p1.target_step, p2.target_step} == {hashed("p1"), hashed("p2")}
        assert not p1.can_checkpoint and not p2.can_checkpoint
        # after parallel steps the server disables immediate execution for the run
        assert after.disable_immediate_execution and not after.can_checkpoint
        assert len({c.request_id for c in contexts}) == 3


def test_read_request_context_prefers_ctx_then_headers() -> None:
    body = {"ctx": {"run_id": "R", "fn_id": "F", "qi_id": "Q", "generation_id": 4}, "steps": {}}
    headers = {"X-Request-Id": "H", "x-inngest-generation-id": "9", "x-inngest-job-id": "J"}
    context = read_request_context(json.dumps(body), headers, {"stepId": "abc"}, started_at_ms=1)
    assert context == RequestContext(
        run_id="R",
        fn_id="F",
        qi_id="Q",
        request_id="H",
        generation_id=4,
        job_id="J",
        target_step="abc",
        started_at_ms=1,
    )
    assert not context.can_checkpoint  # targeted
    # members before ctx are skipped; a body without a run id has no context
    late = b'{"event": {"ctx": {"run_id": "no"}}, "ctx": {"run_id": "yes"}}'
    assert read_request_context(late, {}, started_at_ms=0) == RequestContext(run_id="yes")
    assert read_request_context(b'{"ctx": {"attempt": 1}}', {}, started_at_ms=0) is None
    deep = b'{"ctx": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert read_request_context(deep, {}, started_at_ms=0) is None


_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_ctx = st.dictionaries(
    st.sampled_from(
        ["run_id", "fn_id", "qi_id", "request_id", "attempt", "generation_id", "stack", "use_api"]
    ),
    _value,
)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    body=st.binary(max_size=64)
    | st.builds(lambda c, v: json.dumps({"event": v, "ctx": c}).encode(), _ctx, _value)
    | st.builds(lambda c: json.dumps({"ctx": c}, allow_nan=True)[:-1].encode(), _ctx),
    headers=st.dictionaries(
        st.sampled_from(["x-request-id", "x-inngest-generation-id", "x-other"]), st.text()
    ),
)
def test_any_body_gives_a_well_typed_context_or_none(body: bytes, headers: dict[str, str]) -> None:
    context = read_request_context(body, headers, {"stepId": "step"}, started_at_ms=1)
    if context is None:
        return
    assert isinstance(context.run_id, str) and context.run_id
    for name in ("fn_id", "qi_id", "request_id", "job_id"):
        assert getattr(context, name) is None or isinstance(getattr(context, name), str)
    assert isinstance(context.attempt, int) and context.target_step is None
    assert context.generation_id is None or isinstance(context.generation_id, int)
    assert isinstance(context.can_checkpoint, bool)
