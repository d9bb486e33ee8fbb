"""The checkpoint client (``agentkit_inngest._checkpoint``) against the executor's real
checkpoint endpoint over HTTP: acknowledged, stale, every fault, authentication with the
signing key and its fallback, dev mode, the SDK's API-origin configuration, and what it
refuses to send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import inngest
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit_inngest._checkpoint import (
    CHECKPOINT_STEP_LIMIT,
    CheckpointClient,
    CheckpointOutcome,
    CheckpointStatus,
    CheckpointStep,
)
from agentkit_inngest._request_context import RequestContext
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.testing.executor import LocalExecutor, Run
from agentkit_inngest.testing.server_rules import ManualClock, server_value

from .checkpoint_helpers import Call, LoopThread, ProbeApp, hashed

OLD_KEY = "signkey-prod-" + "01" * 32
NEW_KEY = "signkey-prod-" + "02" * 32
ACKED = CheckpointStatus.ACKED


@contextlib.asynccontextmanager
async def probe_run(
    executor: LocalExecutor, **client_options: Any
) -> AsyncIterator[tuple[Run, Call, CheckpointClient]]:
    """A held call of a probe run and a client for the executor (backoff off)."""
    probe = await ProbeApp(executor).attach()
    run, call = await probe.start()
    client = CheckpointClient(executor.client("probe", **client_options), backoff=0.0)
    try:
        yield run, call, client
    finally:
        call.answer(200, "done")
        await client.aclose()


def step(step_id: str, data: Any = None) -> list[CheckpointStep]:
    return [CheckpointStep(step_id, data)]


async def test_acknowledged_steps_are_memos_under_their_hashed_ids_in_order() -> None:
    async with LocalExecutor() as executor, probe_run(executor) as (run, call, client):
        started = time.time()
        steps = [
            CheckpointStep("Triage#1/infer", {"text": "hi"}, started, started + 0.01),
            CheckpointStep("Triage#1/tool/save", [1, 2]),
        ]
        outcome = await client.checkpoint(call.context(), steps)
        assert outcome == CheckpointOutcome(ACKED, "", 200, 1) and outcome.acked
        assert run.stack == [hashed("Triage#1/infer"), hashed("Triage#1/tool/save")]
        assert run.memos[hashed("Triage#1/infer")] == {"data": {"text": "hi"}}
        record = executor.checkpoints[-1]
        assert record.ops == [("StepRun", "Triage#1/infer"), ("StepRun", "Triage#1/tool/save")]
        assert (record.request_id, record.qi_id) == (call.ctx["request_id"], call.ctx["qi_id"])
        assert record.generation_id == 1 and record.request_index == 1


async def test_the_body_is_the_servers_async_checkpoint() -> None:
    client = CheckpointClient(inngest.Inngest(app_id="a", is_production=False))
    context = RequestContext(
        run_id="R", fn_id="F", qi_id="Q", request_id="Q1", generation_id=3, started_at_ms=7
    )
    body = client.body(context, [CheckpointStep("s", {"x": [1]}, 1.0, 1.5)])
    decoded = json.loads(body)
    assert {k: decoded[k] for k in decoded if k != "ts"} == {
        "run_id": "R",
        "fn_id": "F",
        "qi_id": "Q",
        "request_id": "Q1",
        "generation_id": 3,
        "request_started_at": 7,
        "steps": [
            {
                "id": hashed("s"),
                "op": "StepRun",
                "name": "s",
                "displayName": "s",
                "userland": {"id": "s"},
                "timing": {"a": 1_000_000_000, "b": 500_000_000},
                "data": {"x": [1]},
            }
        ],
    }
    assert isinstance(decoded["ts"], int)


async def test_a_stale_dispatch_is_reported_and_not_retried() -> None:
    async with LocalExecutor(clock=ManualClock()) as executor:
        executor.checkpoint_api.cut_request_after(1)
        probe = await ProbeApp(executor).attach()
        run, first = await probe.start()
        async with CheckpointClient(executor.client("probe"), backoff=0.0) as client:
            assert (await client.checkpoint(first.context(), step("a", 1))).acked
            second = await probe.next_call()  # the executor gave up on the first call
            outcome = await client.checkpoint(first.context(), step("b", 2))
            assert outcome.stale and (outcome.http_status, outcome.calls) == (409, 1)
            assert "Failed to checkpoint steps" in outcome.reason
            assert hashed("b") not in run.memos
            assert (await client.checkpoint(second.context(), step("b", 3))).acked
        first.answer(200, "late")
        second.answer(200, "done")
        await run.wait()


@pytest.mark.parametrize(
    ("fault", "status", "calls", "saved"),
    [
        (("fail", 3, 500), CheckpointStatus.FAILED, 3, False),  # retries exhausted
        (("fail", 2, 503), ACKED, 3, True),
        (("fail", 1, 429), ACKED, 2, True),
        (("fail", 1, 400), CheckpointStatus.FAILED, 1, False),  # never retried
        (("fail", 1, 404), CheckpointStatus.FAILED, 1, False),
        (("fail", 2, 409), CheckpointStatus.STALE, 1, False),
        (("drop", 1, 0), ACKED, 2, True),  # the retry is a duplicate: skipped, acknowledged
        (("drop", 3, 0), CheckpointStatus.FAILED, 3, True),  # saved, yet never acknowledged
    ],
)
async def test_each_fault_gives_its_outcome(
    fault: tuple[str, int, int], status: CheckpointStatus, calls: int, saved: bool
) -> None:
    kind, count, code = fault
    async with LocalExecutor() as executor, probe_run(executor) as (run, call, client):
        if kind == "fail":
            executor.checkpoint_api.fail_next(count, status=code)
        else:
            executor.checkpoint_api.drop_next(count)
        outcome = await client.checkpoint(call.context(), step("a", {"v": 1}))
        assert (outcome.status, outcome.calls) == (status, calls), outcome
        assert (hashed("a") in run.memos) is saved
        assert len(executor.checkpoints) == calls
        if status is CheckpointStatus.FAILED:
            assert outcome.reason
            if kind == "drop":
                assert outcome.http_status is None and "RemoteProtocolError" in outcome.reason
            else:
                assert outcome.http_status == code and f"HTTP {code}" in outcome.reason


async def test_a_server_that_never_answers_times_out_each_call() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.Event().wait()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sdk = inngest.Inngest(
            app_id="t", is_production=False, api_base_url=f"http://127.0.0.1:{port}"
        )
        async with CheckpointClient(sdk, timeout=0.2, retries=1, backoff=0.0) as client:
            context = RequestContext(run_id="R", fn_id="F", qi_id="Q")
            outcome = await client.checkpoint(context, step("a", 1))
        assert (outcome.status, outcome.calls) == (CheckpointStatus.FAILED, 2)
        assert "ReadTimeout" in outcome.reason
    finally:
        server.close()


async def test_production_auth_uses_the_key_hash_and_falls_back_to_the_other_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with (
        LocalExecutor(signing_key=NEW_KEY) as executor,
        probe_run(executor, signing_key=NEW_KEY) as (run, call, client),
    ):
        assert await client.checkpoint(call.context(), step("a", 1)) == CheckpointOutcome(
            ACKED, "", 200, 1
        )
        # keys rotated: the app's primary key is the old one, the server's the new
        monkeypatch.setenv("INNGEST_SIGNING_KEY_FALLBACK", NEW_KEY)
        rotated = CheckpointClient(executor.client("p", signing_key=OLD_KEY), backoff=0.0)
        first = await rotated.checkpoint(call.context(), step("b", 2))
        assert (first.status, first.calls) == (ACKED, 2)
        second = await rotated.checkpoint(call.context(), step("c", 3))
        assert (second.status, second.calls) == (ACKED, 1)  # it keeps the key that works
        monkeypatch.delenv("INNGEST_SIGNING_KEY_FALLBACK")
        wrong = CheckpointClient(executor.client("p", signing_key=OLD_KEY), backoff=0.0)
        refused = await wrong.checkpoint(call.context(), step("d", 4))
        assert (refused.status, refused.http_status, refused.calls) == (
            CheckpointStatus.FAILED,
            401,
            1,
        )
        assert hashed("d") not in run.memos
        await rotated.aclose()
        await wrong.aclose()


class _Recording(httpx.AsyncHTTPTransport):
    """The real transport, keeping each request's headers."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await super().handle_async_request(request)


async def test_dev_mode_sends_no_key() -> None:
    async with LocalExecutor() as executor, probe_run(executor) as (_, call, _client):
        recording = _Recording()
        client = CheckpointClient(executor.client("probe"), transport=recording)
        assert (await client.checkpoint(call.context(), step("a", 1))).acked
        await client.aclose()
        (headers,) = recording.headers
        assert "authorization" not in headers
        assert headers["x-inngest-sdk"].startswith("inngest-py:v")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("INNGEST_API_BASE_URL", "INNGEST_BASE_URL", "INNGEST_DEV", "INNGEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "constructor", "production", "origin"),
    [
        ({}, None, False, "http://127.0.0.1:8288"),
        ({}, None, True, "https://api.inngest.com"),
        ({"INNGEST_API_BASE_URL": "http://api.local:9"}, None, True, "http://api.local:9"),
        ({"INNGEST_BASE_URL": "http://base.local:9"}, None, True, "http://base.local:9"),
        ({"INNGEST_DEV": "http://dev.local:9"}, None, False, "http://dev.local:9"),
        ({"INNGEST_API_BASE_URL": "http://api.local:9"}, "http://mine:1/x/", True, "http://mine:1"),
    ],
)
def test_the_api_origin_comes_from_the_sdks_configuration(
    clean_env: pytest.MonkeyPatch,
    env: dict[str, str],
    constructor: str | None,
    production: bool,
    origin: str,
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    sdk = inngest.Inngest(
        app_id="a",
        is_production=production,
        api_base_url=constructor,
        signing_key=NEW_KEY if production else None,
    )
    assert CheckpointClient(sdk).url("01ARZ3NDEKTSV4RRFFQ69G5FAV") == (
        f"{origin}/v1/checkpoint/01ARZ3NDEKTSV4RRFFQ69G5FAV/async"
    )


def test_a_signing_key_that_is_not_hex_is_a_configuration_error() -> None:
    sdk = inngest.Inngest(app_id="a", is_production=True, signing_key="signkey-prod-nothex")
    with pytest.raises(ConfigurationError, match="not a hex string"):
        CheckpointClient(sdk)
    with pytest.raises(ConfigurationError, match="must be positive"):
        CheckpointClient(inngest.Inngest(app_id="a", is_production=False), timeout=0)


async def test_what_cannot_be_checkpointed_is_not_sent() -> None:
    async with LocalExecutor() as executor, probe_run(executor) as (run, call, client):
        context = call.context()
        big = await client.checkpoint(context, step("big", "x" * CHECKPOINT_STEP_LIMIT))
        assert big.failed and big.calls == 0
        assert f"over the checkpoint limit of {CHECKPOINT_STEP_LIMIT}" in big.reason
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        for bad in (math.nan, math.inf, b"bytes", {1, 2}, object(), deep):
            outcome = await client.checkpoint(context, step("bad", bad))
            assert outcome.failed and "its output is not JSON" in outcome.reason
        bare = RequestContext(run_id=run.id)  # an old server: no fn_id / qi_id
        assert "no ctx.fn_id" in (await client.checkpoint(bare, step("a", 1))).reason
        with pytest.raises(ValueError, match="no steps"):
            await client.checkpoint(context, [])
        assert executor.checkpoints == [] and run.memos == {}
        # just under the limit goes through
        fits = "x" * (CHECKPOINT_STEP_LIMIT - 2)
        assert (await client.checkpoint(context, step("fits", fits))).acked


_hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text()
    | st.binary(max_size=4)
    | st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


class _Held:
    """One executor, one held probe call and one client for every hypothesis example."""

    def __init__(self) -> None:
        self.loop = LoopThread()
        self.stack = contextlib.AsyncExitStack()
        self.run, self.call, self.client = self.loop.call(self._open())
        self.count = 0

    async def _open(self) -> tuple[Run, Call, CheckpointClient]:
        executor = await self.stack.enter_async_context(LocalExecutor())
        return await self.stack.enter_async_context(probe_run(executor))

    def close(self) -> None:
        self.loop.call(self.stack.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def held() -> Iterator[_Held]:
    state = _Held()
    yield state
    state.close()


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(value=_hostile)
def test_any_step_output_is_acknowledged_as_the_server_stores_it_or_refused(
    held: _Held, value: Any
) -> None:
    held.count += 1
    step_id = f"hostile-{held.count}"
    outcome = held.loop.call(held.client.checkpoint(held.call.context(), step(step_id, value)))
    if outcome.failed:
        assert outcome.calls == 0 and "not JSON" in outcome.reason
        assert hashed(step_id) not in held.run.memos
        return
    assert outcome.acked
    assert held.run.memos[hashed(step_id)] == server_value({"data": value})
