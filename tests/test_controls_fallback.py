"""Model fallbacks (issue 18): the next model is tried at once on the errors named
(429, 5xx and failures without a status by default), inside the inference step.

The step's memo says which model answered and why the others failed, a replay
parses the answer with that model and calls none, and a fallback after a 429
never repeats a tool call (split turns and fast turns alike).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentkit_inngest import (
    ConfigurationError,
    FatalProviderError,
    InlineRunner,
    Network,
    RetriableProviderError,
    StepError,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest.models import FallbackModel, anthropic, fallback, gemini, openai
from agentkit_inngest.streaming import CallbackPublisher, StreamEvent
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault


def _rate_limited() -> RetriableProviderError:
    return RetriableProviderError("HTTP 429: slow down", provider="test", status_code=429)


# -- plain Python -------------------------------------------------------------------------


async def test_a_429_falls_back_at_once_and_the_answer_says_which_model_gave_it() -> None:
    first = ScriptedModel([_rate_limited()], model="first")
    second = ScriptedModel([text("from the second")], model="second")
    agent = create_agent(name="A", model=fallback(first, second))
    result = await agent.run("q")
    assert result.text == "from the second"
    record = result.raw[0]["fallback"]
    assert record["model"] == "test/second" and record["index"] == 1
    assert record["failed"][0]["model"] == "test/first" and "429" in record["failed"][0]["error"]
    assert (len(first.calls), len(second.calls)) == (1, 1)


async def test_an_error_it_does_not_name_fails_without_trying_the_next() -> None:
    first = ScriptedModel([FatalProviderError("HTTP 400: bad", provider="t", status_code=400)])
    second = ScriptedModel([text("never")])
    with pytest.raises(FatalProviderError, match="HTTP 400"):
        await create_agent(name="A", model=fallback(first, second)).run("q")
    assert second.calls == []
    # named errors are the user's choice: 400 too, with a function or a list of statuses
    first = ScriptedModel([FatalProviderError("HTTP 400: bad", provider="t", status_code=400)])
    chain = fallback(first, ScriptedModel([text("ok")]), fallback_on=[400])
    assert (await create_agent(name="A", model=chain).run("q")).text == "ok"
    first = ScriptedModel([_rate_limited()])
    chain = fallback(first, ScriptedModel([]), fallback_on=lambda err: False)
    with pytest.raises(StepError, match="429"):  # not fallen back: the step's retries
        await create_agent(name="A", model=chain).run("q", runner=InlineRunner(max_attempts=1))


async def test_when_every_model_fails_the_step_fails_naming_each_and_is_retried() -> None:
    first = ScriptedModel([_rate_limited(), text("first, on the retry")], model="first")
    second = ScriptedModel(
        [RetriableProviderError("HTTP 503", provider="test", status_code=503)], model="second"
    )
    result = await create_agent(name="A", model=fallback(first, second)).run(
        "q", runner=InlineRunner(backoff=0)
    )
    assert result.text == "first, on the retry"  # the retried step starts from the first
    first = ScriptedModel([_rate_limited()], model="first")
    second = ScriptedModel([_rate_limited()], model="second")
    with pytest.raises(StepError) as caught:
        await create_agent(name="A", model=fallback(first, second)).run(
            "q", runner=InlineRunner(max_attempts=1)
        )
    assert "after the fallback models before it failed: test/first: HTTP 429" in str(caught.value)


def test_bad_fallback_options_fail_when_the_model_is_made() -> None:
    one = ScriptedModel([])
    with pytest.raises(ConfigurationError, match="at least two models"):
        fallback(one)
    with pytest.raises(ConfigurationError, match="'6xx' is not an HTTP status"):
        fallback(one, one, fallback_on=["6xx"])
    with pytest.raises(ConfigurationError, match="True is not an HTTP status"):
        fallback(one, one, fallback_on=[True])
    offloaded = openai("gpt-x", api_key="k", inference="offload")
    with pytest.raises(ConfigurationError, match="offloads its inference"):
        fallback(one, offloaded)
    assert isinstance(fallback(one, one), FallbackModel)


async def test_text_already_streamed_is_not_mixed_with_the_next_models(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    cut = Fault(answer=text("partial words here"), cut_end=True)  # streams, then breaks
    fake_provider.reply(cut, text("whole answer"))
    first = openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test")
    second = ScriptedModel([text("from the second")])
    events: list[StreamEvent] = []

    async def keep(event: StreamEvent) -> None:
        events.append(event)

    runner = InlineRunner(backoff=0, publisher=CallbackPublisher(keep))
    result = await create_agent(name="A", model=fallback(first, second)).run("q", runner=runner)
    assert result.text == "whole answer" and second.calls == []  # retried, not fallen back
    assert len(fake_provider.requests) == 2


# -- through the official SDKs ------------------------------------------------------------


async def test_each_provider_falls_back_to_the_next_over_http(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        Fault(status=429, message="rate limited", headers={"retry-after": "30"}),
        Fault(status=503, message="overloaded"),
        text("from gemini"),
    )
    chain = fallback(
        openai("gpt-4o-mini", base_url=f"{provider_url}/v1", api_key="sk-test"),
        anthropic("claude-3-5-haiku-latest", base_url=provider_url, api_key="ant-test"),
        gemini("gemini-2.5-flash", base_url=f"{provider_url}/v1beta", api_key="gem-test"),
    )
    agent = create_agent(name="A", model=chain)
    network: Network[Any] = create_network(name="N", agents=[agent], router=route_in_order(agent))
    run = await network.run("q")
    assert run.output == "from gemini"
    assert [r.provider for r in fake_provider.requests] == ["openai", "anthropic", "gemini"]
    cost = run.to_json()["cost"]  # priced as the model that answered
    assert list(cost["by_model"]) == ["gemini/gemini-2.5-flash"]
    assert cost["cost_usd"] == pytest.approx((10 * 0.30 + 5 * 2.50) / 1_000_000)


# -- durably: a fallback after a 429 never repeats a tool call ----------------------------


@contextlib.asynccontextmanager
async def served(*networks: Network[Any]) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor() as executor:
        client = executor.client("test-app")
        await executor.attach(create_server(client=client, networks=list(networks)))
        yield executor


@pytest.mark.parametrize("fast", [False, True], ids=["split", "fast_turns"])
async def test_a_fallback_after_a_429_does_not_repeat_a_tool_durably(
    fast: bool, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()

    @tool
    def book(flight: str, ctx: ToolContext) -> str:
        """Book a flight."""
        effects[flight] += 1
        ctx.state.kv.set("booked", flight)
        return f"booked {flight}"

    fake_provider.reply(
        tool_call("book", {"flight": "LH123"}, id="call_book"),  # openai: the tool call
        Fault(status=429, message="rate limited", headers={"retry-after": "20"}),  # openai
        text("Your flight LH123 is booked."),  # anthropic, after the 429
    )
    chain = fallback(
        openai("gpt-4o-mini", base_url=f"{provider_url}/v1", api_key="sk-test"),
        anthropic("claude-3-5-haiku-latest", base_url=provider_url, api_key="ant-test"),
    )
    agent = create_agent(name="Agent", model=chain, tools=[book], max_iter=2, fast_turns=fast)
    network: Network[Any] = create_network(
        name="Travel", agents=[agent], router=route_in_order(agent)
    )
    async with served(network) as executor:
        run = await executor.run("network-travel", {"input": "Book LH123"})
        assert run.output["output"] == "Your flight LH123 is booked."
        assert effects == {"LH123": 1}
        assert run.output["state"]["kv"] == {"booked": "LH123"}
        step = "turn" if fast else "infer"
        executed = executor.executed(run)
        assert executed == (
            [f"Agent#1/{step}", f"Agent#1/{step}#2"]
            if fast
            else ["Agent#1/infer", "Agent#1/tool/book", "Agent#1/infer#2"]
        )
        memo = run.memo_for(f"Agent#1/{step}#2")["data"]
        record = (memo["raw"] if fast else memo)["fallback"]
        assert record["model"] == "anthropic/claude-3-5-haiku-latest"
        assert record["failed"][0]["model"] == "openai/gpt-4o-mini"
        assert "HTTP 429" in record["failed"][0]["error"]
        # the second model saw the tool's result
        anthropic_body = fake_provider.bodies("anthropic")[0]
        assert "booked LH123" in str(anthropic_body["messages"])
        assert not executor.retry_after_seen  # no wait: it fell back at once
        asked = len(fake_provider.requests)
        for _ in range(2):
            response = await executor.replay(run)
            assert response.json() == run.output
        assert len(fake_provider.requests) == asked and effects == {"LH123": 1}
