"""What a replay does not redo: work that only an inference needs is skipped when
the inference's memo is read back (found by profiling ``python -m bench --profile``)."""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest
from inngest._internal.step_lib import step_async

from agentkit_inngest import (
    InlineRunner,
    create_server,
)
from agentkit_inngest._run._answers import read_answer
from agentkit_inngest.models import ModelRequest, OpenAIModel
from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.fake_providers import FakeProvider

from .replay_helpers import provider_turns, run_turns, turns_network


async def test_a_replay_does_not_rebuild_the_request_bodies_of_memoized_inferences() -> None:
    turns = 6
    effects: collections.Counter[int] = collections.Counter()
    network, model = turns_network(turns, effects)
    async with LocalExecutor() as executor:
        client = executor.client("replay")
        await executor.attach(create_server(client=client, networks=[network], checkpointing=False))
        run = await executor.run("network-turns", {"input": "go"})
    # every request replays all earlier inferences, yet each body is built once
    assert len(executor.requests_for(run)) > 2 * turns
    assert model.bodies == turns == len(model.calls)
    assert effects == dict.fromkeys(range(1, turns + 1), 1)
    # the bodies the model saw are the same as in a plain-Python run
    plain_effects: collections.Counter[int] = collections.Counter()
    plain_network, plain_model = turns_network(turns, plain_effects)
    await plain_network.run("go", runner=InlineRunner())
    assert [c.body for c in plain_model.calls] == [c.body for c in model.calls]
    assert plain_model.bodies == turns


class CountingOpenAI(OpenAIModel):
    """The OpenAI model, counting how often a request body is built."""

    bodies = 0

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        self.bodies += 1
        return super().build_body(request)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["replayed", "checkpointed"])
async def test_a_replay_does_not_rebuild_the_bodies_of_memoized_offloaded_inferences(
    fake_provider: FakeProvider, provider_url: str, checkpointing: bool
) -> None:
    """``step.ai.infer`` needs its body before the SDK says the step is memoized; the
    request's ``ctx.stack`` says so first (issue 14, point 7: offloaded inference CPU),
    with checkpointing off too (it once read the stack only when checkpointing)."""
    turns = 5
    effects: collections.Counter[int] = collections.Counter()

    fake_provider.reply(*([provider_turns(turns)] * (turns + 1)))
    model = CountingOpenAI(
        model="gpt-test", api_key="k", base_url=f"{provider_url}/v1", inference="offload"
    )
    network, _ = turns_network(turns, effects, model)
    # chosen on the function itself (the app's middleware is the function's)
    executor, run = await run_turns(network, app="offload", checkpointing=checkpointing)
    assert run.status == "completed"
    gateway = [op for r in executor.requests_for(run) for op, _ in r.ops if op == "AIGateway"]
    # replayed: 2 requests a turn; checkpointed: the tool steps ride along (1 a turn)
    assert len(gateway) == turns
    assert len(executor.requests_for(run)) == (2 * turns + 1 if not checkpointing else turns + 1)
    assert model.bodies == turns  # built for each new inference only, never on a replay
    sent = [len(body["messages"]) for body in fake_provider.bodies()]
    assert sent == [1 + 2 * n for n in range(turns)]  # the server got whole bodies
    assert effects == dict.fromkeys(range(1, turns + 1), 1)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["replayed", "checkpointed"])
async def test_a_replayed_offloaded_inference_is_read_without_step_ai_infer(
    fake_provider: FakeProvider,
    provider_url: str,
    checkpointing: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``step.ai.infer`` validates and dumps the adapter's options before it looks for
    the memo; a step the server holds is read with ``step.run`` (the SDK finds memos by
    hashed id whatever the op), so only new inferences go through it (issue 14, point 7)."""
    turns = 5
    effects: collections.Counter[int] = collections.Counter()
    asked: list[str] = []
    sdk_infer = step_async.AI.infer

    async def counted(self: Any, step_id: str, **options: Any) -> Any:
        asked.append(step_id)
        return await sdk_infer(self, step_id, **options)

    monkeypatch.setattr(step_async.AI, "infer", counted)

    fake_provider.reply(*([provider_turns(turns)] * (turns + 1)))
    model = OpenAIModel(
        model="gpt-test", api_key="k", base_url=f"{provider_url}/v1", inference="offload"
    )
    network, _ = turns_network(turns, effects, model)
    executor, run = await run_turns(network, app="offload-read", checkpointing=checkpointing)
    # each inference went through step.ai.infer once, when it was new, never on a replay
    assert asked == [f"Worker#{n}/infer" for n in range(1, turns + 1)]
    gateway = [op for r in executor.requests_for(run) for op, _ in r.ops if op == "AIGateway"]
    assert len(gateway) == turns
    # ... and the replays read the server's answers: every turn's tool ran once, in order
    assert effects == dict.fromkeys(range(1, turns + 1), 1)
    assert run.status == "completed"


class CountingParses(OpenAIModel):
    """The OpenAI model, counting how often an answer is read."""

    parses = 0

    def parse_response(self, raw: Any) -> Any:
        self.parses += 1
        return super().parse_response(raw)


async def test_a_replayed_answer_is_read_once_in_a_long_running_app(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    turns = 5
    effects: collections.Counter[int] = collections.Counter()

    fake_provider.reply(*([provider_turns(turns)] * (turns + 1)))
    model = CountingParses(model="gpt-test", api_key="k", base_url=f"{provider_url}/v1")
    network, _ = turns_network(turns, effects, model)
    async with LocalExecutor() as executor:
        client = executor.client("reads")
        await executor.attach(create_server(client=client, networks=[network], checkpointing=False))
        run = await executor.run("network-turns", {"input": "go"})
    assert len(executor.requests_for(run)) > 2 * turns  # every request replays the answers
    # ... and each was read twice: inside its step (an unreadable answer retries the
    # step) and by the agent loop; never again on a replay
    assert model.parses == 2 * turns
    assert effects == dict.fromkeys(range(1, turns + 1), 1)


class _DurableInline(InlineRunner):
    """A plain runner that says it is durable: answers are then kept by run and step."""

    durable = True


async def test_an_answer_that_changed_under_the_same_step_is_read_again() -> None:
    """A step that ran again (its first answer was never saved) hands back another
    memo: it must not be mistaken for the answer read before."""
    runner = _DurableInline()
    model = CountingParses(model="gpt-test", api_key="k", base_url="http://127.0.0.1:1/v1")
    first = {"choices": [{"message": {"role": "assistant", "content": "one"}}], "usage": {}}
    second = {"choices": [{"message": {"role": "assistant", "content": "two"}}], "usage": {}}
    texts = []
    # read inside the step (never saved), then the memo of the step that ran again, then
    # replays of that memo
    for raw in (first, second, json.loads(json.dumps(second)), json.loads(json.dumps(second))):
        response = read_answer(runner, model, raw, "Worker#1/infer")
        texts.append(response.output[0].content)  # type: ignore[union-attr]
    assert texts == ["one", "two", "two", "two"]
    assert model.parses == 2  # the equal memos were not read again; the changed one was


class _CountedEquals(dict[str, Any]):
    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedEquals.compared += 1
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None


async def test_a_kept_answer_is_compared_with_the_memo_once_then_trusted() -> None:
    """Once a memo handed back equals the kept answer, the kept answer is the server's
    (a saved step's memo never changes): later replays do not compare it again."""
    runner = _DurableInline()
    model = CountingParses(model="gpt-test", api_key="k", base_url="http://127.0.0.1:1/v1")
    answer = {"choices": [{"message": {"role": "assistant", "content": "one"}}], "usage": {}}
    kept = _CountedEquals(answer)
    _CountedEquals.compared = 0
    read_answer(runner, model, kept, "Worker#1/infer")  # read inside its step
    for _ in range(5):  # five replays, each with a memo of its own
        response = read_answer(runner, model, json.loads(json.dumps(answer)), "Worker#1/infer")
        assert response.output[0].content == "one"  # type: ignore[union-attr]
    assert _CountedEquals.compared == 1
    assert model.parses == 1
