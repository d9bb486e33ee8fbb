"""Checkpointed runs when things go wrong (issue 14, point 2): nothing lost, nothing twice.

A failed checkpoint falls back to the ordinary op, a lost answer is confirmed from the
run's saved steps, a request the server gave up on stops at the next step, a stale
dispatch stops checkpointing, a retried request runs the ordinary way, and the
checkpoints of a production app carry the signing key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import inngest
import pytest

from agentkit_inngest import ToolRetry, create_server, network_function
from agentkit_inngest.testing import LocalExecutor

from .checkpoint_workload import FN, Workload, checkpoints_of, plain_output, served
from .security_helpers import SIGNING_KEY


def _ops(executor: LocalExecutor, run: Any) -> list[list[str]]:
    return [[name for _, name in r.ops] for r in executor.requests_for(run)]


@pytest.mark.parametrize("status", [500, 400, 401, 413])
async def test_a_failed_checkpoint_falls_back_to_the_ordinary_op_without_running_it_again(
    fake_provider: Any, provider_url: str, status: int
) -> None:
    plain, _ = await plain_output(fake_provider, provider_url, 3)
    workload = Workload(fake_provider, provider_url, 3)
    async with served(workload) as (executor, _):
        # the first checkpoint, and its retries (the client retries 5xx, not 4xx)
        executor.checkpoint_api.fail_next(3 if status >= 500 else 1, status=status)
        before = len(fake_provider.requests)
        run = await executor.run(FN, {"input": "go"})
        inferences = len(fake_provider.requests) - before
        requests = executor.requests_for(run)
    # the first request ends with the inference the server did not take, as an op...
    assert _ops(executor, run)[0] == ["Worker#1/infer"] and requests[0].checkpoints == 0
    # ...the server saved it from there, and the next request carried on checkpointing
    assert len(requests) == 2 and requests[1].checkpoints == 6
    assert inferences == 4  # no inference ran twice
    assert workload.exactly_once() and run.output == plain


async def test_a_lost_answer_is_confirmed_from_the_run_and_not_reported_again(
    fake_provider: Any, provider_url: str
) -> None:
    """The server saved the step but every answer was lost: the step must not come back
    as a ``StepRun`` op, after which the server would schedule nothing (the run stalls)."""
    workload = Workload(fake_provider, provider_url, 2)
    async with served(workload) as (executor, _):
        executor.checkpoint_api.stall_on_duplicate = True
        executor.checkpoint_api.drop_next(3)  # the call and both retries: saved, unanswered
        run = await executor.run(FN, {"input": "go"}, check=False)
        reads = [r for r in executor.api_reads if r.run_id == run.id]
    assert run.status == "completed", run.error
    assert len(executor.requests_for(run)) == 1 and reads and reads[0].what == "actions"
    assert workload.exactly_once()


@pytest.mark.parametrize(("k", "ack", "first"), [(1, True, 1), (4, True, 2), (5, False, 2)])
async def test_a_request_cut_after_k_checkpoints_resumes_with_each_tool_once(
    fake_provider: Any, provider_url: str, k: int, ack: bool, first: int
) -> None:
    """The server gives up on the request after its k-th checkpoint (``ack=False``: that
    checkpoint's answer is lost too) and retries it; the first request notices the
    closed connection and starts no step after it."""
    plain, plain_steps = await plain_output(fake_provider, provider_url, 4, first=first)
    workload = Workload(fake_provider, provider_url, 4, first=first)
    async with served(workload) as (executor, _):
        executor.checkpoint_api.cut_request_after(k, ack=ack)
        before = len(fake_provider.requests)
        run = await executor.run(FN, {"input": "go"})
        inferences = len(fake_provider.requests) - before
        requests = executor.requests_for(run)
    cut, retry = requests[0], requests[1]
    saved = [c for c in checkpoints_of(executor, run) if c.request_index == cut.index]
    # no step after the cut (with ack=False the client posts the k-th again, maybe after
    # the retry has gone on: the server skips it as a duplicate)
    assert cut.dropped and sum(len(c.saved) for c in saved) == k
    assert retry.attempt == 1 and retry.checkpoints == 0  # a retry runs one step the plain way
    assert {r.checkpoints for r in requests[2:]} != {0}  # then checkpointing resumes
    assert workload.exactly_once() and inferences == 5
    assert run.output == plain and sorted(run.step_names.values()) == plain_steps


async def test_a_stale_dispatch_stops_checkpointing_and_reports_the_step(
    fake_provider: Any, provider_url: str
) -> None:
    plain, _ = await plain_output(fake_provider, provider_url, 2)
    workload = Workload(fake_provider, provider_url, 2)
    async with served(workload) as (executor, _):
        run = executor.start(FN, {"input": "go"})
        executor.checkpoint_api.fail_next(1, status=409)
        await run.wait()
        checkpoints = checkpoints_of(executor, run)
    assert next(c.status for c in checkpoints) == 409  # never retried
    assert _ops(executor, run)[0] == ["Worker#1/infer"]
    assert workload.exactly_once() and run.output == plain


async def test_parallel_calls_whose_checkpoints_fail_are_all_reported_once(
    fake_provider: Any, provider_url: str
) -> None:
    plain, _ = await plain_output(fake_provider, provider_url, 3, first=3)
    workload = Workload(fake_provider, provider_url, 3, first=3)
    workload.gate = asyncio.Event()  # the three calls finish together
    async with served(workload) as (executor, _):

        def fail_two(n: int, slot: int) -> None:  # two of the three tool checkpoints fail
            if n == 0 and slot == 0:
                executor.checkpoint_api.fail_next(2, status=400)  # 400: not retried

        workload.on_tool = fail_two
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
    reported = _ops(executor, run)[0]  # both, in one response, for the server to save
    assert len(reported) == 2 and all(name.startswith("Worker#1/tool/bump") for name in reported)
    assert requests[0].checkpoints == 2  # the inference and the third tool call
    assert run.disable_immediate  # two ops in one response: the server plans from then on
    assert workload.exactly_once() and run.output == plain


async def test_a_retried_request_runs_its_step_the_ordinary_way(
    fake_provider: Any, provider_url: str
) -> None:
    """The server resets a queue item's attempts at each checkpoint while the SDK counts
    a step's attempts from the request's: a retry runs its step without checkpoints."""
    plain, _ = await plain_output(fake_provider, provider_url, 3)
    workload = Workload(fake_provider, provider_url, 3)
    failures = [ToolRetry("busy, try again")]

    def flaky(n: int, slot: int) -> None:
        if n == 2 and failures:
            raise failures.pop()

    workload.on_tool = flaky
    async with served(workload) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        requests = executor.requests_for(run)
    retried = [r for r in requests if r.attempt > 0]
    assert len(retried) == 1 and retried[0].checkpoints == 0
    # infer, tool, infer, tool, infer checkpointed; the third tool call failed (StepError)
    assert requests[0].checkpoints == 5 and _ops(executor, run)[0] == ["Worker#1/tool/bump#3"]
    assert _ops(executor, run)[1] == ["Worker#1/tool/bump#3"]  # the retry: an ordinary op
    assert requests[-1].checkpoints > 0  # then checkpointing resumes
    assert not failures and workload.exactly_once() and run.output == plain


async def test_a_production_app_signs_its_checkpoints_with_the_signing_key(
    fake_provider: Any, provider_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key as the server checks it (``Bearer`` + SHA-256 of the key), sent to the API
    base URL the SDK takes from ``INNGEST_API_BASE_URL``."""
    workload = Workload(fake_provider, provider_url, 2)
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        monkeypatch.setenv("INNGEST_API_BASE_URL", executor.api_url)
        client = inngest.Inngest(app_id="prod", is_production=True, signing_key=SIGNING_KEY)
        function = network_function(workload.network(), client=client, checkpointing=True)
        await executor.attach(create_server(client=client, functions=[function]))
        run = await executor.run(FN, {"input": "go"})
        checkpoints = checkpoints_of(executor, run)
    assert len(executor.requests_for(run)) == 1
    assert [c.status for c in checkpoints] == [200] * 5 and workload.exactly_once()


async def test_a_parallel_step_that_fails_in_a_checkpointed_request_keeps_counting_attempts() -> (
    None
):
    """The retry of a failed parallel step runs it on the same queue item under the
    next attempt (the SDK would plan it, restarting its attempts at 0 elsewhere)."""
    from agentkit_inngest import create_agent, create_network, route_in_order, tool
    from agentkit_inngest.testing import ScriptedModel, text, tool_calls

    tries: list[str] = []

    @tool
    def flaky(tag: str) -> str:
        """Always busy when tagged 'busy'."""
        tries.append(tag)
        if tag == "busy":
            raise ToolRetry("busy")
        return tag

    model = ScriptedModel(
        [tool_calls(("flaky", {"tag": "ok"}), ("flaky", {"tag": "busy"})), text("done")]
    )
    agent = create_agent(name="A", model=model, tools=[flaky], max_iter=2)
    network: Any = create_network(name="Par", agents=[agent], router=route_in_order(agent))
    async with LocalExecutor() as executor:
        client = executor.client("par")
        function = network_function(network, client=client, retries=2)
        await executor.attach(create_server(client=client, functions=[function]))
        run = await executor.run("network-par", {"input": "go"}, check=False)
        attempts = [r.attempt for r in executor.requests_for(run)]
    assert tries.count("ok") == 1 and tries.count("busy") == 3  # retries=2: three attempts
    # the failure is saved after the third attempt; a fresh request then fails the run
    assert attempts == [0, 1, 2, 0] and run.status == "failed"
    assert "busy" in str(run.error), run.error
