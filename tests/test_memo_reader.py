"""The replay fast path: memoized steps read straight from the SDK's request state.

``MemoReader`` must do what the SDK's ``Step.run`` does with a memo and nothing else:
the same outputs and failures, the SDK's id counting (a reused id still hashes as the
SDK hashes it), its ``before_execution`` hook once the last memo is read. Each test runs
through the real FastAPI app and the local executor.
"""

from __future__ import annotations

import collections
from typing import Any, Literal

import inngest
import pytest
from inngest._internal.step_lib import step_async

from agentkit_inngest import (
    create_server,
)
from agentkit_inngest._steps import _memos
from agentkit_inngest.models import OpenAIModel
from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.fake_providers import FakeProvider

from .replay_helpers import provider_turns, run_turns, turns_network

TURNS = 4


def _network(effects: collections.Counter[int], model: Any = None, *, fail_at: int = 0) -> Any:
    return turns_network(TURNS, effects, model, fail_at=fail_at)[0]


def _spy_step_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the SDK's own ``Step.run`` is asked for (the real method still runs)."""
    asked: list[str] = []
    sdk_run = step_async.Step.run

    async def counted(self: Any, step_id: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(step_id)
        return await sdk_run(self, step_id, *args, **kwargs)

    monkeypatch.setattr(step_async.Step, "run", counted)
    return asked


@pytest.mark.parametrize("inference", ["in_process", "offload"])
@pytest.mark.parametrize("checkpointing", [False, True], ids=["replayed", "checkpointed"])
async def test_replayed_steps_are_read_without_the_sdks_step_run(
    fake_provider: FakeProvider,
    provider_url: str,
    monkeypatch: pytest.MonkeyPatch,
    inference: Literal["in_process", "offload"],
    checkpointing: bool,
) -> None:
    """Each step reaches the SDK's ``Step.run`` only when it is new; every replay of it
    (many: each request replays the run) is read from the memos directly."""

    asked = _spy_step_run(monkeypatch)
    fake_provider.reply(*([provider_turns(TURNS)] * (TURNS + 1)))
    model = OpenAIModel(
        model="gpt-test", api_key="k", base_url=f"{provider_url}/v1", inference=inference
    )
    effects: collections.Counter[int] = collections.Counter()
    executor, run = await run_turns(
        _network(effects, model), app="memo-reader", checkpointing=checkpointing
    )
    requests = executor.requests_for(run)
    assert run.status == "completed" and effects == dict.fromkeys(range(1, TURNS + 1), 1)
    if inference == "offload" or not checkpointing:  # (else the run is one request)
        assert len(requests) > TURNS  # requests replayed the run
    tools = [f"Worker#{n}/tool/bump" for n in range(1, TURNS + 1)]
    infers = [f"Worker#{n}/infer" for n in range(1, TURNS + 1)]
    expected = sorted(tools + (infers if inference == "in_process" else []))
    assert sorted(asked) == expected  # once each: when the step ran (or was planned)


@pytest.mark.parametrize("fail_at", [0, 2], ids=["completed", "a-step-failed-for-good"])
async def test_the_reader_and_the_sdk_give_the_same_run(
    monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """The same network, memos read by the SDK then by the reader: the same requests,
    ops, step ids, output and effects; also when a step's memo is its final failure
    (read back on every replay as the SDK raises it)."""

    async def one() -> tuple[Any, Any, list[Any], collections.Counter[int], bool]:
        effects: collections.Counter[int] = collections.Counter()
        network = _network(effects, fail_at=fail_at)
        executor, run = await run_turns(network, app="same", checkpointing=False, retries=1)
        ops = [(r.step, r.attempt, r.ops) for r in executor.requests_for(run)]
        named = "Worker#2/tool/bump" in str(run.error)
        return run.status, run.output, ops, effects, named

    with monkeypatch.context() as patched:
        patched.setattr(_memos.MemoReader, "of", classmethod(lambda cls, step: None))
        by_sdk = await one()
    by_reader = await one()
    assert by_reader == by_sdk
    if fail_at:
        assert by_reader[0] == "failed" and by_reader[4]  # the failure names the step
        assert by_reader[3] == {1: 1, 2: 2}  # two attempts, then the memoized failure
        assert by_reader[2][-1] == ("step", 0, [])  # the replay that read the failure
    else:
        assert by_reader[0] == "completed"
        assert by_reader[3] == dict.fromkeys(range(1, TURNS + 1), 1)


async def test_a_users_step_that_reuses_an_agent_step_id_is_counted_as_the_sdk_counts_it() -> None:
    """A function's own ``step.run`` with an id the agent's steps used before gets the
    SDK's next index (``id:1``), on every replay: the reader counts the ids it reads."""
    effects: collections.Counter[int] = collections.Counter()
    network = _network(effects)
    mine: list[str] = []
    async with LocalExecutor() as executor:
        client = executor.client("memo-ids")

        @client.create_function(fn_id="own", trigger=inngest.TriggerEvent(event="own/run"))
        async def own(ctx: inngest.Context) -> Any:
            await network.run("go")

            async def again() -> str:
                mine.append("ran")
                return "mine"

            second = await ctx.step.run("Worker#1/tool/bump", again)
            third = await ctx.step.run("Worker#1/tool/bump", again)
            return [second, third]

        await executor.attach(create_server(client=client, functions=[own], checkpointing=False))
        run = await executor.run("own", {})
    assert run.output == ["mine", "mine"]
    assert mine == ["ran", "ran"]  # each ran once, however many replays followed
    assert executor.executed(run).count("Worker#1/tool/bump") == 3
    assert effects == dict.fromkeys(range(1, TURNS + 1), 1)


class _CountsBeforeExecution(inngest.Middleware):
    calls = 0

    async def before_execution(self) -> None:
        _CountsBeforeExecution.calls += 1


async def test_the_sdks_before_execution_hook_runs_once_the_last_memo_is_read() -> None:
    """The SDK calls ``before_execution`` in every request, when the code after the last
    memo begins; the reader takes memos from the SDK, so it must call it too."""
    effects: collections.Counter[int] = collections.Counter()
    _CountsBeforeExecution.calls = 0
    async with LocalExecutor() as executor:
        client = executor.client("memo-hooks")
        client.add_middleware(_CountsBeforeExecution)
        network = _network(effects)
        await executor.attach(create_server(client=client, networks=[network], checkpointing=False))
        run = await executor.run("network-turns", {"input": "go"})
    assert run.status == "completed"
    assert _CountsBeforeExecution.calls == len(executor.requests_for(run))


def test_an_sdk_with_other_internals_leaves_every_step_to_the_sdk() -> None:
    """Without the internals of ``inngest`` 0.5 there is no reader (``Step.run`` reads
    the memos, as before)."""
    assert _memos.MemoReader.of(object()) is None

    class Elsewhere:
        _execution = object()
        _step_id_counter = object()

    assert _memos.MemoReader.of(Elsewhere()) is None
