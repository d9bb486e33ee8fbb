"""Budgets (issue 18): caps on requests, tokens, tool calls, wall-clock time and cost,
per run and per agent call, counted from what memoized steps recorded.

Plain Python first, then durably through the served app, where every request
replays the run from the top: a replay must neither count anything twice nor
start from zero, and the time cap reads the clock only inside steps.
"""

from __future__ import annotations

import collections
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

from agentkit_inngest import (
    Budget,
    BudgetExceededError,
    ConfigurationError,
    Network,
    NetworkRun,
    Usage,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest._ledger import DEFAULT_NETWORK_BUDGET
from agentkit_inngest._run import _budget
from agentkit_inngest.models import DEFAULT_PRICES, Price, PriceTable, openai
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider


@contextlib.asynccontextmanager
async def served(
    *networks: Network[Any], checkpointing: bool | None = None
) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor() as executor:
        client = executor.client("test-app")
        app = create_server(client=client, networks=list(networks), checkpointing=checkpointing)
        await executor.attach(app)
        yield executor


def _forever(call: ModelCall) -> Any:
    return text("I will not call save_answer.")


def _looping_network(**options: Any) -> tuple[Network[Any], FunctionModel]:
    """The quick start's failure: a router that waits for a tool call never made."""
    model = FunctionModel(_forever)
    agent = create_agent(name="Answerer", model=model)

    def router(*, network: NetworkRun) -> Any:
        return None if network.state.kv.get("answer") else agent

    return create_network(name="Loop", agents=[agent], router=router, **options), model


# -- caps, in plain Python ----------------------------------------------------------------


async def test_a_network_without_max_iter_or_budget_stops_at_the_default_cap() -> None:
    network, model = _looping_network()
    with pytest.raises(BudgetExceededError) as caught:
        await network.run("q")
    err = caught.value
    assert (err.cap, err.limit, err.used, err.scope) == ("requests", 100, 101, "run")
    assert "101 model requests, over its cap of 100 (Budget.requests)" in str(err)
    assert "100 model requests, 1,500 tokens" in str(err)
    assert len(model.calls) == 100  # the 101st request was never sent
    assert not err.retriable
    assert network.replace(max_iter=3).budget is None  # max_iter bounds it already
    assert Budget(requests=100) == DEFAULT_NETWORK_BUDGET


async def test_budget_with_no_caps_lets_a_long_run_go_on() -> None:
    model = ScriptedModel([text("x")] * 120)
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(
        name="Long",
        agents=[agent],
        router=lambda *, call_count: agent if call_count < 120 else None,
        budget=Budget(),
    )
    run = await network.run("q")
    assert run.to_json()["cost"]["requests"] == 120


async def test_token_caps_stop_after_the_answer_that_crosses_them_and_before_the_next() -> None:
    model = ScriptedModel([text("a", usage=Usage(input_tokens=60, output_tokens=10))] * 3)
    network, _ = _looping_network(budget=Budget(total_tokens=100))
    network = network.replace(agents=[create_agent(name="Answerer", model=model)])
    agent = network.agents[0]
    network = network.replace(router=lambda *, call_count: agent)
    with pytest.raises(BudgetExceededError, match=r"use 140 tokens, over its cap of 100"):
        await network.run("q")
    assert len(model.calls) == 2


async def test_a_turns_tool_calls_over_the_cap_fail_before_any_of_them_runs() -> None:
    ran: collections.Counter[str] = collections.Counter()

    @tool
    def fetch(n: int) -> int:
        """Fetch n."""
        ran[str(n)] += 1
        return n

    for fast in (False, True):
        ran.clear()
        model = ScriptedModel(
            [tool_call("fetch", {"n": 0}), tool_calls(*(("fetch", {"n": i}) for i in (1, 2, 3)))]
        )
        agent = create_agent(name="A", model=model, tools=[fetch], max_iter=5, fast_turns=fast)
        network: Network[Any] = create_network(
            name="N", agents=[agent], router=route_in_order(agent), budget=Budget(tool_calls=3)
        )
        with pytest.raises(BudgetExceededError, match=r"would use 4 tool calls, over its cap of 3"):
            await network.run("q")
        assert ran == {"0": 1}, fast  # none of the turn's three calls ran


async def test_an_agents_own_budget_caps_each_of_its_calls() -> None:
    model = ScriptedModel([tool_call("noop"), text("done")] * 2)

    @tool
    def noop() -> str:
        """Nothing."""
        return "ok"

    agent = create_agent(name="A", model=model, tools=[noop], max_iter=5, budget=Budget(requests=1))
    with pytest.raises(BudgetExceededError) as caught:
        await agent.run("q")
    assert caught.value.scope == "A#1"
    assert "agent call A#1 would use 2 model requests, over its cap of 1" in str(caught.value)


async def test_cost_is_estimated_per_model_and_agent_and_a_cost_cap_needs_prices() -> None:
    prices = {"scripted-model": Price(input=2.0, output=10.0)}  # dollars per million tokens
    usage = Usage(input_tokens=100_000, output_tokens=10_000)  # $0.20 + $0.10 per answer
    model = ScriptedModel([text("a", usage=usage)] * 5)
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(
        name="N",
        agents=[agent],
        router=lambda *, call_count: agent,
        prices=prices,
        budget=Budget(cost=0.75),
    )
    with pytest.raises(BudgetExceededError, match=r"\$0\.9000 US dollars.*cap of \$0\.7500"):
        await network.run("q")
    assert len(model.calls) == 3
    # without a price a cost cap cannot be checked: it says what to add, before any call
    unpriced = network.replace(prices=None, agents=[agent.replace(model=ScriptedModel([]))])
    with pytest.raises(ConfigurationError, match=r"no price is known for test/scripted-model"):
        await unpriced.run("q")


async def test_costs_appear_in_the_run_output_per_model_and_per_agent() -> None:
    priced = ScriptedModel([text("a", usage=Usage(input_tokens=1_000_000))], model="gpt-4o-mini")
    other = ScriptedModel([text("b")], model="in-house")
    first = create_agent(name="First", model=priced)
    second = create_agent(name="Second", model=other, prices={"in-house": (1.0, 1.0)})
    network: Network[Any] = create_network(
        name="N", agents=[first, second], router=route_in_order(first, second)
    )
    cost = (await network.run("q")).to_json()["cost"]
    assert cost["by_model"]["test/gpt-4o-mini"]["cost_usd"] == pytest.approx(0.15)
    assert cost["by_model"]["test/in-house"]["cost_usd"] == pytest.approx(15 / 1_000_000)
    assert cost["by_agent"]["Second"]["requests"] == 1
    assert cost["cost_usd"] == pytest.approx(0.15 + 15 / 1_000_000) and cost["unpriced"] == []
    assert DEFAULT_PRICES.find("openai", "gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)
    assert DEFAULT_PRICES.find("anthropic", "claude-3-5-haiku-latest") == Price(0.80, 4.00)


# -- hostile figures ----------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, -1, 2**63, 10**300, -(10**300)]),  # what a memo can carry
)


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
@hypothesis.given(inputs=_NUMBERS, outputs=_NUMBERS)
def test_any_usage_figures_count_as_bounded_non_negative_numbers(inputs: int, outputs: int) -> None:
    model = ScriptedModel(
        [text("a", usage=Usage(input_tokens=inputs, output_tokens=outputs))] * 2,
        model="gpt-4o",
    )
    agent = create_agent(name="A", model=model, max_iter=2)
    network: Network[Any] = create_network(
        name="N",
        agents=[agent],
        router=route_in_order(agent, agent),
        budget=Budget(total_tokens=10**12, cost=10**9),
    )
    failure: BudgetExceededError | None = None
    try:
        cost = network.run_sync("q").to_json()["cost"]
    except BudgetExceededError as err:
        failure = err
    if failure is not None:
        assert failure.cap in ("total_tokens", "cost") and math.isfinite(failure.used)
        assert len(model.calls) == 1
        return
    assert 0 <= cost["total_tokens"] <= 2 * 2 * 10**15
    assert math.isfinite(cost["cost_usd"]) and cost["cost_usd"] >= 0


_BAD_NUMBERS = st.one_of(
    st.sampled_from(
        [math.nan, math.inf, -math.inf, -1, -0.5, 10**400, 2e6, True, "1", None, b"1", [1]]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)


@hypothesis.settings(max_examples=80, deadline=None, derandomize=True)
@hypothesis.given(value=_BAD_NUMBERS)
def test_any_price_or_cap_is_a_number_or_a_configuration_error(value: Any) -> None:
    for build in (
        lambda: Price(input=value, output=1.0),
        lambda: PriceTable({"m": (1.0, value)}),
        lambda: Budget(cost=value),
        lambda: Budget(requests=value),
        lambda: Budget(wall_time=value),
    ):
        try:
            built = build()
        except ConfigurationError as err:
            refused = str(err)
            assert refused.startswith(("Price", "price of 'm'", "Budget."))
            continue
        if isinstance(built, Price):
            assert math.isfinite(built.input) and 0 <= built.input <= 1_000_000
        if isinstance(built, Budget) and built.cost is not None:
            assert math.isfinite(built.cost) and built.cost >= 0


async def test_hostile_usage_from_a_provider_is_clamped(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    answer = {
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "hi"}}],
        "usage": {"prompt_tokens": -(10**30), "completion_tokens": 10**30},
    }
    fake_provider.reply(answer)
    model = openai("gpt-4o", base_url=f"{provider_url}/v1", api_key="sk-test")
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(name="N", agents=[agent], router=route_in_order(agent))
    cost = (await network.run("q")).to_json()["cost"]
    assert (cost["input_tokens"], cost["output_tokens"]) == (0, 10**15)
    assert cost["cost_usd"] == pytest.approx(10**15 * 10.0 / 1_000_000)


# -- wall-clock time: measured inside steps only ------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(_budget, "time", fake)
    return fake


def _slow_network(clock: _Clock, effects: collections.Counter[str]) -> Network[Any]:
    @tool
    def slow(step: int) -> str:
        """A slow tool."""
        effects[f"slow:{step}"] += 1
        clock.now += 40  # the work takes 40 s
        return "done"

    model = ScriptedModel(
        [tool_call("slow", {"step": 1}), tool_call("slow", {"step": 2}), text("finished")]
    )
    agent = create_agent(name="A", model=model, tools=[slow], max_iter=3)
    return create_network(
        name="Timed", agents=[agent], router=route_in_order(agent), budget=Budget(wall_time="60s")
    )


async def test_the_time_cap_stops_the_next_step_in_plain_python(clock: _Clock) -> None:
    effects: collections.Counter[str] = collections.Counter()
    with pytest.raises(BudgetExceededError, match=r"run for 80\.0 s, over its cap of 60\.0 s"):
        await _slow_network(clock, effects).run("q")
    assert effects == {"slow:1": 1, "slow:2": 1}


async def test_the_time_cap_is_read_inside_steps_so_replays_keep_their_decisions(
    clock: _Clock,
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    async with served(_slow_network(clock, effects)) as executor:
        run = await executor.run("network-timed", {"input": "q"}, check=False)
        assert run.status == "failed" and run.error["name"] == "NonRetriableError"
        assert "Budget.wall_time" in run.error["message"]
        assert "run for 80.0 s" in run.error["message"]
        assert executor.executed(run) == [
            "budget/clock",
            "A#1/infer",
            "A#1/tool/slow",
            "A#1/infer#2",
            "A#1/tool/slow#2",
            "A#1/infer#3",  # its body found the time up: the failure is its memo
        ]
        assert effects == {"slow:1": 1, "slow:2": 1}
    # a run that finished in time stays finished however late it is replayed
    clock.now = 1_000_000.0
    effects.clear()
    network = _slow_network(clock, effects).replace(budget=Budget(wall_time="90s"))
    async with served(network) as executor:
        run = await executor.run("network-timed", {"input": "q"})
        clock.now += 10_000
        response = await executor.replay(run)
        assert response.status_code == 200 and response.json() == run.output


# -- durably: a replay neither double-counts nor resets -----------------------------------


def _counted_network(budget: Budget, *, fast: bool) -> Network[Any]:
    @tool
    def note(text: str) -> str:
        """Note something."""
        return text

    model = ScriptedModel(
        [
            tool_calls(("note", {"text": "a"}), ("note", {"text": "b"})),
            tool_call("note", {"text": "c"}),
            text("done"),
        ]
    )
    agent = create_agent(name="A", model=model, tools=[note], max_iter=3, fast_turns=fast)
    return create_network(
        name="Counted", agents=[agent], router=route_in_order(agent), budget=budget
    )


@pytest.mark.parametrize("fast", [False, True], ids=["split", "fast_turns"])
async def test_a_replayed_run_counts_each_request_and_tool_call_once(fast: bool) -> None:
    exact = Budget(requests=3, tool_calls=3, total_tokens=45)
    # replays of the request-per-step path (checkpointing off, or a checkpoint that fell back)
    async with served(_counted_network(exact, fast=fast), checkpointing=False) as executor:
        run = await executor.run("network-counted", {"input": "q"})
        cost = run.output["cost"]
        assert (cost["requests"], cost["tool_calls"], cost["total_tokens"]) == (3, 3, 45)
        assert len(executor.requests_for(run)) > 3  # the run was replayed many times
        for _ in range(2):
            response = await executor.replay(run)
            assert response.json()["cost"] == cost
    one_less = Budget(requests=2)
    async with served(_counted_network(one_less, fast=fast)) as executor:
        run = await executor.run("network-counted", {"input": "q"}, check=False)
        assert run.status == "failed" and run.error["name"] == "NonRetriableError"
        assert "would use 3 model requests, over its cap of 2" in run.error["message"]
        assert (
            "so far it used 2 model requests, 30 tokens (20 in, 10 out), 3 tool calls"
            in (run.error["message"])
        )
        assert len(executor.requests_for(run)) == len(
            [r for r in executor.requests_for(run) if r.attempt == 0]
        )  # never retried
