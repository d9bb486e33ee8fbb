"""The executor's checkpoint endpoint follows the real server's rules (``inngest/inngest``
``pkg/api/apiv1/checkpoint.go``, ``pkg/execution/checkpoint/checkpoint.go``,
``pkg/authn``): what a call carries, which body names the run, per-op rules, first
write wins, memo order, authentication, and what the answer looks like."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit_inngest.testing._checkpoint_body import BadBody, decode_body
from agentkit_inngest.testing.executor import LocalExecutor
from agentkit_inngest.testing.server_rules import (
    decode_queue_ref,
    dispatch_request_id_entropy,
    is_uuid,
    parse_ulid,
)

from .checkpoint_helpers import FN, ProbeApp, hashed, post_checkpoint, status_of, step_op

KEY = "signkey-test-" + "ab" * 32


async def test_each_call_carries_run_function_queue_item_and_request_ids() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        ctx = call.ctx
        assert parse_ulid(run.id) is not None and ctx["run_id"] == run.id
        assert is_uuid(ctx["fn_id"]) and ctx["fn_id"] == executor.checkpoint_api.function_uuid(FN)
        job, shard = decode_queue_ref(ctx["qi_id"]) or ("", "")
        assert job == ctx["job_id"] == call.headers["x-inngest-job-id"] and shard
        request_id = ctx["request_id"]
        assert call.headers["x-request-id"] == request_id
        assert call.headers["x-inngest-generation-id"] == "1"
        parsed = parse_ulid(request_id)
        assert parsed is not None
        # the entropy names the dispatch: (run, queue item, generation 1)
        assert parsed[6:] == dispatch_request_id_entropy(run.id, job, 1)
        record = executor.requests_for(run)[0]
        assert (record.request_id, record.qi_id) == (request_id, ctx["qi_id"])
        call.answer(206, [step_op("a", 1)])
        second = await probe.next_call()
        # the next call is a new queue item, with a new request id
        assert second.ctx["qi_id"] != ctx["qi_id"] and second.ctx["request_id"] != request_id
        second.answer(200, "done")
        await run.wait()


async def test_the_body_names_the_run_and_the_path_is_ignored() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        answer = await post_checkpoint(
            executor, call.checkpoint(step_op("a", {"x": 1})), path_run="not-even-a-ulid"
        )
        assert (answer.status_code, answer.content) == (200, b"")
        assert run.memos[hashed("a")] == {"data": {"x": 1}}
        # the path names this run, the body another: the body wins, and it is unknown
        other = call.checkpoint(step_op("b", 2), run_id="01ARZ3NDEKTSV4RRFFQ69G5FAV")
        answer = await post_checkpoint(executor, other, path_run=run.id)
        assert answer.status_code == 400
        assert answer.json() == {
            "code": "",
            "error": "Failed to checkpoint steps",
            "data": {"run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
            "status": 400,
        }
        # the right run under another function's id is not found either
        wrong_fn = call.checkpoint(step_op("b", 2), fn_id="11111111-1111-1111-1111-111111111111")
        assert (await post_checkpoint(executor, wrong_fn)).status_code == 400
        assert hashed("b") not in run.memos
        call.answer(200, "done")
        await run.wait()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"run_id": "run-1"}, "is not a ULID"),
        ({"run_id": "81ARZ3NDEKTSV4RRFFQ69G5FAV"}, "is not a ULID"),  # overflows 128 bits
        ({"fn_id": "probe-fn"}, "is not a UUID"),
        ({"ts": 1.5}, "ts is not a 64-bit integer"),
        ({"request_started_at": 2**63}, "request_started_at is not a 64-bit integer"),
        ({"generation_id": "1"}, "generation_id is not a 64-bit integer"),
        ({"qi_id": 7}, "qi_id is not a string"),
        ({"steps": {"op": "StepRun"}}, "steps is not a list"),
        ({"steps": [{"op": "StepWhatever", "id": "x"}]}, "unknown opcode"),
        ({"steps": [{"op": "StepRun", "id": 5}]}, "step id is not a string"),
    ],
)
async def test_a_body_the_server_cannot_decode_is_400(change: dict[str, Any], why: str) -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        answer = await post_checkpoint(executor, call.checkpoint(step_op("a", 1), **change))
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("invalid request body")
        assert why in answer.json()["error"]
        for raw in (b"{not json", b"[1, 2]", b'{"run_id": NaN}'):
            assert (await post_checkpoint(executor, raw, path_run=run.id)).status_code == 400
        assert run.memos == {} and [c.status for c in executor.checkpoints] == [400] * 4
        call.answer(200, "done")
        await run.wait()


async def test_async_ops_are_refused_before_saving_others_after_the_earlier_ones() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()

        async def post(*ops: dict[str, Any]) -> httpx.Response:
            return await post_checkpoint(executor, call.checkpoint(*ops))

        for server_only in ("Sleep", "WaitForEvent", "InvokeFunction", "AIGateway", "StepError"):
            answer = await post(step_op("a", 1), step_op("later", None, op=server_only))
            assert answer.status_code == 400
        assert run.memos == {}
        # a sync op the endpoint does not take stops the batch; what came before stays
        answer = await post(step_op("a", 1), step_op("plan", op="StepPlanned"), step_op("c", 3))
        assert answer.status_code == 400
        assert executor.checkpoints[-1].error == "cannot checkpoint opcode: StepPlanned"
        assert list(run.memos) == [hashed("a")]
        # Step stores its data as is; DeferAdd is taken; lower-case opcodes decode
        answer = await post(
            step_op("raw", {"data": 5}, op="Step"), step_op("d", op="DeferAdd"), step_op("e", 6)
        )
        assert answer.status_code == 200
        assert executor.checkpoints[-1].ops[-1] == ("StepRun", "e")
        assert run.memos[hashed("raw")] == {"data": 5}
        assert (await post(step_op("f", 7, op="steprun"))).status_code == 200
        call.answer(200, "done")
        await run.wait()


async def test_a_step_saved_twice_keeps_its_first_value_and_one_stack_entry() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        for value in (1, 2):
            answer = await post_checkpoint(executor, call.checkpoint(step_op("a", value)))
            assert answer.status_code == 200
        assert run.memos[hashed("a")] == {"data": 1} and run.stack == [hashed("a")]
        assert [(c.saved, c.skipped) for c in executor.checkpoints] == [(["a"], []), ([], ["a"])]
        # a 206 StepRun for it later is a duplicate too: skipped, and the run goes on
        call.answer(206, [step_op("a", 3)])
        second = await probe.next_call()
        assert second.body["steps"] == {hashed("a"): {"data": 1}}
        second.answer(200, "done")
        assert (await run.wait()).status == "completed"


async def test_the_next_call_carries_checkpointed_memos_in_checkpoint_order() -> None:
    async with LocalExecutor(seed=3) as executor:  # a seed shuffles only parallel steps
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        names = ["zeta", "alpha", "mid", "beta"]
        for name in names[:3]:
            await post_checkpoint(executor, call.checkpoint(step_op(name, name)))
        call.answer(206, [step_op(names[3], names[3])])
        second = await probe.next_call()
        expected = [hashed(name) for name in names]
        # the stack is the save order; the memo object's keys are sorted (JCS), as the
        # server writes them
        assert second.ctx["stack"] == {"stack": expected, "current": 4}
        assert list(second.body["steps"]) == sorted(expected)
        assert second.body["steps"][hashed("alpha")] == {"data": "alpha"}
        second.answer(200, "done")
        await run.wait()


async def test_with_a_signing_key_the_bearer_must_be_the_key_or_its_hash() -> None:
    async with LocalExecutor(signing_key=KEY) as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        hex_key = KEY.removeprefix("signkey-test-")
        digest = hashlib.sha256(bytes.fromhex(hex_key)).hexdigest()
        accepted = [digest, f"signkey-test-{digest}", hex_key, KEY]
        refused = [None, "signkey-test-", "0" * 64, hashlib.sha256(hex_key.encode()).hexdigest()]
        for index, key in enumerate(accepted + refused):
            answer = await post_checkpoint(
                executor, call.checkpoint(step_op(f"s{index}", index)), key=key
            )
            expected = 200 if key in accepted else 401
            assert answer.status_code == expected, key
            if expected == 401:
                assert answer.text == "Authentication failed\n"
        assert len(run.memos) == len(accepted)
        call.answer(200, "done")
        await run.wait()


async def test_in_dev_mode_no_key_is_needed() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        assert await status_of(executor, call, step_op("a", 1)) == 200
        call.answer(200, "done")
        await run.wait()


async def test_a_waiting_run_takes_checkpoints_a_finished_one_does_not() -> None:
    async with LocalExecutor() as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        call.answer(206, [{**step_op("wait"), "op": "WaitForEvent", "opts": {"event": "x/y"}}])
        await executor.wait_for_pause(run)
        assert run.status == "waiting"
        assert await status_of(executor, call, step_op("a", 1)) == 200
        await executor.send({"name": "x/y"})
        (await probe.next_call()).answer(200, "done")
        await run.wait()
        late = await post_checkpoint(executor, call.checkpoint(step_op("b", 1)))
        assert late.status_code == 400 and hashed("b") not in run.memos


async def test_the_step_size_switch_refuses_a_step_over_it_and_saves_nothing() -> None:
    async with LocalExecutor() as executor:
        executor.checkpoint_api.step_limit = 4 * 1024 * 1024
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        big = "x" * (4 * 1024 * 1024)
        answer = await post_checkpoint(
            executor, call.checkpoint(step_op("a", 1), step_op("b", big))
        )
        assert answer.status_code == 400 and executor.checkpoints[-1].error == "too large"
        assert run.memos == {}
        fits = "x" * (4 * 1024 * 1024 - 2)  # with its quotes: exactly the limit
        assert await status_of(executor, call, step_op("b", fits)) == 200
        call.answer(200, "done")
        await run.wait()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["run_id", "fn_id", "qi_id", "request_id", "ts", "request_started_at", "generation_id"]
)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    fields=st.dictionaries(_fields, _json | st.text(), max_size=7),
    steps=st.none()
    | _json
    | st.lists(
        st.dictionaries(
            st.sampled_from(["op", "id", "data", "name", "timing"]),
            _json | st.sampled_from(["StepRun", "Sleep", "stepRUN"]),
        ),
        max_size=3,
    ),
)
def test_any_body_decodes_to_the_servers_struct_or_is_refused_clearly(
    fields: dict[str, Any], steps: Any
) -> None:
    raw = json.dumps({**fields, "steps": steps}).encode()
    try:
        body = decode_body(raw)
    except BadBody as err:
        refused = str(err)
    else:
        refused = ""
    if refused:
        return
    for key in ("run_id", "fn_id", "qi_id", "request_id"):
        assert isinstance(body[key], str)
    assert body["run_id"] == "" or parse_ulid(body["run_id"]) is not None
    assert body["fn_id"] == "" or is_uuid(body["fn_id"])
    assert all(isinstance(op["op"], str) for op in body["steps"])
