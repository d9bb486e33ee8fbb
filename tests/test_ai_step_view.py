"""What the Inngest dev server shows of an in-process inference (issue 16, point 5).

A checkpointed in-process inference step is sent with ``opts.type = "step.ai.wrap"``
(the server's AI step type) and an ``inngest.ai`` step-metadata entry (model,
provider, tokens); the prompt only when the user opts in. ``LocalExecutor`` keeps
what the server keeps (``testing/_step_metadata.py``). The step's output stays the
provider's raw JSON, whose top-level model and usage the dev server reads too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit_inngest import (
    Checkpointing,
    create_agent,
    create_network,
    create_server,
    network_function,
    route_in_order,
)
from agentkit_inngest.models import Model, anthropic, gemini, grok, openai
from agentkit_inngest.streaming import MemoryBroker
from agentkit_inngest.testing import LocalExecutor, text
from agentkit_inngest.testing._step_metadata import step_view
from agentkit_inngest.testing.fake_providers import FakeProvider

from .checkpoint_helpers import ProbeApp, post_checkpoint, step_op

MODELS: dict[str, Callable[..., Model]] = {
    "openai": lambda url, **kw: openai("gpt-test", base_url=f"{url}/v1", api_key="k", **kw),
    "grok": lambda url, **kw: grok("grok-test", base_url=f"{url}/v1", api_key="k", **kw),
    "anthropic": lambda url, **kw: anthropic("claude-test", base_url=url, api_key="k", **kw),
    "gemini": lambda url, **kw: gemini("gemini-test", base_url=f"{url}/v1beta", api_key="k", **kw),
}
PROVIDER_NAMES = {"openai": "openai", "grok": "x_ai", "anthropic": "anthropic"} | {
    "gemini": "gcp.gemini"
}
MODEL_NAMES = {"openai": "gpt-test", "grok": "grok-test", "anthropic": "claude-test"} | {
    "gemini": "gemini-test"
}


async def _one_inference(
    model: Any,
    *,
    checkpointing: Any = True,
    metadata: bool = True,
    streamed: bool = False,
    fail: int = 0,
    input: str = "hi",
) -> tuple[LocalExecutor, Any]:
    agent = create_agent(name="Talker", system="Be brief.", model=model)
    network = create_network(name="Talk", agents=[agent], router=route_in_order(agent))
    async with LocalExecutor() as executor:
        executor.checkpoint_api.step_metadata = metadata
        client = executor.client("view")
        function = network_function(network, client=client, checkpointing=checkpointing)
        broker = MemoryBroker() if streamed else None
        await executor.attach(create_server(client=client, functions=[function], broker=broker))
        if fail:
            executor.checkpoint_api.fail_next(fail, status=400)
        run = await executor.run("network-talk", {"input": input})
    return executor, run


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_checkpointed_inference_is_an_ai_step_with_its_model_and_usage(
    fake_provider: FakeProvider, provider_url: str, provider: str, streamed: bool
) -> None:
    fake_provider.reply(text("Hello!"))
    _, run = await _one_inference(MODELS[provider](provider_url), streamed=streamed)
    view = run.view_of("Talker#1/infer")
    assert view.type == "step.ai.wrap" and view.input is None and not view.refused
    (entry,) = view.metadata
    assert {k: entry[k] for k in ("scope", "kind", "op")} == {
        "scope": "step",
        "kind": "inngest.ai",
        "op": "merge",
    }
    values = entry["values"]
    assert values["provider"] == PROVIDER_NAMES[provider]
    assert values["request_model"] == MODEL_NAMES[provider]
    assert (values["input_tokens"], values["output_tokens"], values["total_tokens"]) == (10, 5, 15)
    assert values["operation_name"] == "chat" and values["finish_reasons"]
    assert "estimated_cost" not in values  # the server works it out
    # the output stays the provider's raw JSON: what the dev server's AI fields read
    memo = run.memo_for("Talker#1/infer")["data"]
    assert memo.get("model") or memo.get("modelVersion")
    assert memo.get("usage") or memo.get("usageMetadata")
    assert values.get("response_model") == (memo.get("model") or memo.get("modelVersion"))


async def test_the_prompt_is_sent_only_when_the_user_opts_in(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("Hello!"), text("Hello!"), text("Hello!"))
    model = MODELS["openai"](provider_url)
    _, plain = await _one_inference(model)
    _, recorded = await _one_inference(model, checkpointing=Checkpointing(record_prompts=True))
    _, huge = await _one_inference(
        model, checkpointing=Checkpointing(record_prompts=True), input="x" * 300_000
    )
    assert plain.view_of("Talker#1/infer").input is None
    (body,) = recorded.view_of("Talker#1/infer").input or []
    assert body["model"] == "gpt-test" and body["messages"][-1] == {"role": "user", "content": "hi"}
    too_large = huge.view_of("Talker#1/infer")
    assert too_large.type == "step.ai.wrap" and too_large.input is None  # never cut into bad JSON


async def test_without_step_metadata_the_type_is_kept_and_the_entry_dropped(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("Hello!"))
    _, run = await _one_inference(MODELS["openai"](provider_url), metadata=False)
    view = run.view_of("Talker#1/infer")
    assert view.type == "step.ai.wrap" and view.metadata == []
    assert view.refused == ["step metadata is not enabled (AllowStepMetadata)"]


async def test_an_inference_reported_the_ordinary_way_carries_no_ai_view(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """The Python SDK's own ops have no ``opts`` for ``step.run``: when the checkpoint
    fails, the step falls back to one and shows only its output."""
    fake_provider.reply(text("Hello!"), text("Hello!"))
    _, fell_back = await _one_inference(MODELS["openai"](provider_url), fail=1)
    _, unchecked = await _one_inference(MODELS["openai"](provider_url), checkpointing=False)
    for run in (fell_back, unchecked):
        view = run.view_of("Talker#1/infer")
        assert view.type == "" and view.metadata == []
        assert run.memo_for("Talker#1/infer")["data"]["model"] == "gpt-test"


async def test_offloaded_inference_stays_an_ai_gateway_step(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("Hello!"))
    executor, run = await _one_inference(MODELS["openai"](provider_url, inference="offload"))
    ops = [op for r in executor.requests_for(run) for op in r.ops]
    assert ops[0] == ("AIGateway", "Talker#1/infer") and not run.step_views


def test_the_server_drops_what_it_would_not_keep() -> None:
    ai = {"scope": "step", "kind": "inngest.ai", "op": "merge", "values": {"input_tokens": 1}}
    kept = step_view(
        {"opts": {"type": "step.ai.wrap", "input": [{}]}, "metadata": [ai]}, metadata_enabled=True
    )
    assert (kept.type, kept.input, kept.metadata, kept.refused) == ("step.ai.wrap", [{}], [ai], [])
    lost = step_view(
        {"opts": {"type": "step.ai.wrap", "input": {"not": "a list"}}}, metadata_enabled=True
    )
    assert lost.type == "" and lost.refused == ["opts.input is not an array: the type is lost too"]
    refused = [
        {**ai, "kind": "inngest.ai.summary"},  # computed by the server, never sent
        {**ai, "kind": "vendor.thing"},
        {**ai, "op": "replace"},
        {**ai, "scope": "everywhere"},
        {**ai, "values": {"blob": "x" * 70_000}},
    ]
    user = {**ai, "kind": "userland.review"}
    view = step_view({"metadata": [*refused, user]}, metadata_enabled=True)
    assert view.metadata == [user] and len(view.refused) == len(refused)
    assert "64KB" in view.refused[-1]


async def test_the_executor_keeps_opts_and_metadata_of_checkpointed_ops() -> None:
    ai = {"scope": "step", "kind": "inngest.ai", "op": "merge", "values": {"input_tokens": 3}}
    async with LocalExecutor() as executor:
        executor.checkpoint_api.step_metadata = True
        probe = await ProbeApp(executor).attach()
        run, call = await probe.start()
        op = {**step_op("ask", {"answer": 1}), "opts": {"type": "step.ai.wrap"}, "metadata": [ai]}
        assert (await post_checkpoint(executor, call.checkpoint(op))).status_code == 200
        again = {**op, "metadata": [{**ai, "values": {"input_tokens": 99}}]}
        assert (await post_checkpoint(executor, call.checkpoint(again))).status_code == 200
        call.answer(200, "done")
        await run.wait()
    view = run.view_of("ask")
    assert view.type == "step.ai.wrap" and view.metadata == [ai]  # a duplicate writes nothing
