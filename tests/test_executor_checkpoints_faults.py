"""Stale dispatches, attempt resets, duplicate stalls and the fault switches of the
executor's checkpoint endpoint (``LocalExecutor.checkpoint_api``), as the real server
behaves (``validateAsyncDispatch``, ``ResetAttemptsByJobID``, ``handleGeneratorStep``)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from agentkit_inngest.testing.executor import LocalExecutor
from agentkit_inngest.testing.server_rules import ManualClock

from .checkpoint_helpers import ProbeApp, hashed, post_checkpoint, status_of, step_op


async def test_a_cut_request_is_retried_and_its_later_checkpoints_are_stale() -> None:
    # a ManualClock in 2023: the app's real start times look future-dated, which the
    # server does not skip, so every checkpoint is validated
    async with LocalExecutor(clock=ManualClock()) as executor:
        executor.checkpoint_api.cut_request_after(1)
        probe = await ProbeApp(executor).attach()
        run, first = await probe.start()
        answer = await post_checkpoint(executor, first.checkpoint(step_op("a", 1)))
        assert answer.status_code == 200  # acknowledged, then the executor cut the call
        second = await probe.next_call()
        assert second.ctx["qi_id"] == first.ctx["qi_id"]  # the same queue item, retried
        assert second.headers["x-inngest-generation-id"] == "2"
        assert second.ctx["request_id"] != first.ctx["request_id"]
        assert second.ctx["attempt"] == 1 and second.body["steps"] == {hashed("a"): {"data": 1}}
        old = await post_checkpoint(executor, first.checkpoint(step_op("b", 2)))
        assert old.status_code == 409 and hashed("b") not in run.memos
        assert "is not generation 2" in (executor.checkpoints[-1].error or "")
        new = await post_checkpoint(executor, second.checkpoint(step_op("b", 3)))
        assert new.status_code == 200 and run.memos[hashed("b")] == {"data": 3}
        first.answer(200, "too late")  # nobody listens any more
        second.answer(200, "done")
        await run.wait()
        assert run.output == "done"
        records = executor.requests_for(run)
        assert [(r.dropped, r.checkpoints) for r in records] == [(True, 1), (False, 1)]
        assert [c.request_index for c in executor.checkpoints if c.status == 200] == [1, 2]


async def test_a_young_request_is_not_validated_an_old_one_is() -> None:
    # the server's clock a few seconds ahead of the app's: a request it gets is young
    clock = ManualClock(start=time.time() + 5)
    async with LocalExecutor(clock=clock) as executor:
        executor.checkpoint_api.cut_request_after(1)
        probe = await ProbeApp(executor).attach()
        run, first = await probe.start()
        await post_checkpoint(executor, first.checkpoint(step_op("a", 1)))
        second = await probe.next_call()
        # under 10 s old by the server's clock: accepted although stale
        young = await post_checkpoint(executor, first.checkpoint(step_op("b", 2)))
        assert young.status_code == 200
        await clock.sleep(10)
        old = await post_checkpoint(executor, first.checkpoint(step_op("c", 3)))
        assert old.status_code == 409
        # without a start time the request counts as old; without a request id, or
        # with the check switched off, nothing is validated
        assert await status_of(executor, first, step_op("d", 4), request_started_at=0) == 409
        assert await status_of(executor, first, step_op("e", 5), request_id="") == 200
        executor.checkpoint_api.stale_dispatch = False
        assert await status_of(executor, first, step_op("f", 6)) == 200
        assert hashed("c") not in run.memos and hashed("d") not in run.memos
        first.answer(200, "x")
        second.answer(200, "done")
        await run.wait()


async def test_bad_request_ids_and_queue_items_are_stale_and_save_on_stale_keeps_steps() -> None:
    async with LocalExecutor(clock=ManualClock()) as executor:
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        cases: dict[str, dict[str, Any]] = {
            "x": {"request_id": "not-a-ulid"},
            "y": {"qi_id": "!!"},
            "z": {"qi_id": "bm8tc3VjaC1qb2I6OmxvY2Fs"},  # no-such-job::local
            "w": {"generation_id": 9},
        }
        for name, change in cases.items():
            answer = await post_checkpoint(executor, call.checkpoint(step_op(name, 1), **change))
            assert answer.status_code == 409, name
        assert run.memos == {}
        executor.checkpoint_api.save_on_stale = True
        answer = await post_checkpoint(executor, call.checkpoint(step_op("v", 1), generation_id=9))
        assert answer.status_code == 409 and run.memos == {hashed("v"): {"data": 1}}
        call.answer(200, "done")
        await run.wait()


async def test_a_saved_checkpoint_sets_the_queue_items_attempts_back_to_zero() -> None:
    async def crash_twice(checkpoint: bool) -> str:
        async with LocalExecutor() as executor:
            probe = await ProbeApp(executor, retries=1).attach()  # two attempts
            run, call = await probe.start()
            for step in ("a", "b"):
                if checkpoint:
                    await post_checkpoint(executor, call.checkpoint(step_op(step, step)))
                call.answer(500, {"message": "crash"})
                if step == "a" or checkpoint:
                    call = await probe.next_call()
                    assert call.ctx["attempt"] == 1
            if checkpoint:
                call.answer(200, "done")
            await run.wait()
            return run.status

    # each attempt made progress, so the retries never run out
    assert await crash_twice(checkpoint=True) == "completed"
    assert await crash_twice(checkpoint=False) == "failed"


@pytest.mark.parametrize("status", [500, 409, 400, 429])
async def test_fail_next_answers_a_status_and_saves_nothing(status: int) -> None:
    async with LocalExecutor() as executor:
        executor.checkpoint_api.fail_next(2, status=status)
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        statuses = [await status_of(executor, call, step_op("a", n)) for n in range(3)]
        assert statuses == [status, status, 200]
        assert run.memos == {hashed("a"): {"data": 2}}
        call.answer(200, "done")
        await run.wait()


async def test_drop_next_saves_then_drops_the_connection() -> None:
    async with LocalExecutor() as executor:
        executor.checkpoint_api.drop_next(1)
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        with pytest.raises(httpx.TransportError):
            await post_checkpoint(executor, call.checkpoint(step_op("a", 1)))
        assert run.memos == {hashed("a"): {"data": 1}}
        assert executor.checkpoints[-1].dropped
        retried = await post_checkpoint(executor, call.checkpoint(step_op("a", 1)))
        assert retried.status_code == 200 and executor.checkpoints[-1].skipped == ["a"]
        call.answer(200, "done")
        await run.wait()


async def test_a_cut_without_ack_drops_the_last_checkpoints_answer_too() -> None:
    async with LocalExecutor() as executor:
        executor.checkpoint_api.cut_request_after(2, ack=False)
        probe = await ProbeApp(executor).attach()
        run, first = await probe.start()
        assert await status_of(executor, first, step_op("a", 1)) == 200
        with pytest.raises(httpx.TransportError):
            await post_checkpoint(executor, first.checkpoint(step_op("b", 2)))
        second = await probe.next_call()
        assert set(second.body["steps"]) == {hashed("a"), hashed("b")}
        assert not executor.checkpoint_api.cutting  # once
        first.answer(200, "x")
        second.answer(200, "done")
        await run.wait()
        assert [r.dropped for r in executor.requests_for(run)] == [True, False]


@pytest.mark.parametrize("stall", [True, False])
async def test_a_206_step_run_for_a_checkpointed_step_stalls_when_switched_on(stall: bool) -> None:
    async with LocalExecutor() as executor:
        executor.checkpoint_api.stall_on_duplicate = stall
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        await post_checkpoint(executor, call.checkpoint(step_op("a", 1)))
        call.answer(206, [step_op("a", 1)])  # the fallback after an answer lost on the way
        if stall:
            await run.wait()
            assert run.status == "stalled" and run.error["name"] == "RunStalled"
            assert len(executor.requests_for(run)) == 1
        else:
            again = await probe.next_call()
            again.answer(200, "done")
            await run.wait()
            assert run.status == "completed"
