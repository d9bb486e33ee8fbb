"""Guardrails (issue 18): checks of an agent's or a network's input and output that
pass, rewrite, or stop the run with a clear non-retriable error.

A guardrail runs in a step of its own, so one that calls a model calls it once
however often the run is replayed, and its tokens count towards the run's cost.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    ConfigurationError,
    GuardrailContext,
    GuardrailTripped,
    Network,
    Usage,
    Verdict,
    create_agent,
    create_network,
    create_server,
    input_guardrail,
    output_guardrail,
    route_in_order,
)
from agentkit_inngest.history import MemoryStore
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call

from .message_helpers import content

_CARD = re.compile(r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}\b")


@input_guardrail(pure=True)
def no_card_numbers(ctx: GuardrailContext) -> Verdict | None:
    """Mask card numbers before any model sees them (no I/O: runs on every replay)."""
    masked = _CARD.sub("[card]", ctx.text)
    return Verdict.rewrite(masked) if masked != ctx.text else None


@input_guardrail
async def on_topic(ctx: GuardrailContext) -> Verdict | None:
    """Stop requests about homework."""
    if "homework" in ctx.text.lower():
        return Verdict.stop("homework is out of scope", info={"topic": "homework"})
    return None


@contextlib.asynccontextmanager
async def served(*networks: Network[Any]) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor() as executor:
        client = executor.client("test-app")
        await executor.attach(create_server(client=client, networks=list(networks)))
        yield executor


# -- plain Python -------------------------------------------------------------------------


async def test_an_input_guardrail_rewrites_what_the_model_sees_or_stops_before_it() -> None:
    model = ScriptedModel([text("Refund on its way.")])
    agent = create_agent(name="Support", model=model, guardrails=[no_card_numbers, on_topic])
    result = await agent.run("Refund card 4111 1111 1111 1111 please")
    assert result.text == "Refund on its way."
    assert content(model.calls[0].last) == "Refund card [card] please"
    with pytest.raises(GuardrailTripped) as caught:
        await agent.replace(model=ScriptedModel([])).run("Do my homework")
    err = caught.value
    assert str(err) == (
        "input guardrail 'on_topic' stopped agent 'Support': homework is out of scope"
    )
    assert (err.guardrail, err.info, err.retriable) == ("on_topic", {"topic": "homework"}, False)


class Refund(pydantic.BaseModel):
    amount: float
    currency: str


async def test_an_output_guardrail_rewrites_text_or_a_typed_answer_or_stops() -> None:
    @output_guardrail(pure=True)
    def polite(ctx: GuardrailContext) -> Verdict | None:
        return (
            Verdict.rewrite(ctx.text.replace("stupid", "unusual")) if "stupid" in ctx.text else None
        )

    model = ScriptedModel([text("What a stupid question.")])
    agent = create_agent(name="A", model=model, guardrails=[polite])
    assert (await agent.run("q")).text == "What a unusual question."

    @output_guardrail(pure=True)
    def cap_refunds(ctx: GuardrailContext) -> Verdict | None:
        if ctx.answer.amount > 100:
            return Verdict.rewrite({"amount": 100, "currency": ctx.answer.currency})
        return None

    model = ScriptedModel([tool_call("final_answer", {"amount": 250, "currency": "EUR"})])
    typed = create_agent(name="T", model=model, output_type=Refund, guardrails=[cap_refunds])
    assert (await typed.run("q")).answer == Refund(amount=100, currency="EUR")

    @output_guardrail(pure=True)
    def no_refunds(ctx: GuardrailContext) -> Verdict | None:
        return Verdict.stop(f"refunds of {ctx.answer.amount:g} need a human")

    model = ScriptedModel([tool_call("final_answer", {"amount": 5, "currency": "EUR"})])
    blocked = typed.replace(model=model, guardrails=[no_refunds])
    with pytest.raises(GuardrailTripped, match="output guardrail 'no_refunds' stopped agent 'T'"):
        await blocked.run("q")


async def test_bad_guardrails_fail_clearly() -> None:
    with pytest.raises(ConfigurationError, match="guardrail name 'a/b'"):
        input_guardrail(name="a/b")(lambda ctx: None)
    with pytest.raises(ConfigurationError, match="must be Guardrail objects"):
        create_agent(name="A", guardrails=[lambda ctx: None])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="two input guardrails named 'on_topic'"):
        create_agent(name="A", guardrails=[on_topic, on_topic])

    @input_guardrail(pure=True)
    async def asks(ctx: GuardrailContext) -> None:
        await ctx.ask(ScriptedModel([text("ok")]), "is this fine?")

    # deliberately returns a bool, not a Verdict: the error under test
    @input_guardrail  # type: ignore[arg-type]
    def answers_wrongly(ctx: GuardrailContext) -> bool:
        return True

    @input_guardrail
    def not_json(ctx: GuardrailContext) -> Verdict:
        return Verdict.allow(info={"score": float("nan")})

    for guard, message in [
        (asks, "is pure, so it cannot call a model"),
        (answers_wrongly, "must return None or a Verdict, got bool"),
        (not_json, "its verdict is not JSON"),
    ]:
        agent = create_agent(name="A", model=ScriptedModel([text("x")]), guardrails=[guard])
        with pytest.raises(ConfigurationError, match=message):
            await agent.run("q")


# -- a guardrail that calls a model, durably ----------------------------------------------


def _moderated_network(moderator: ScriptedModel, worker: ScriptedModel) -> Network[Any]:
    @input_guardrail
    async def moderate(ctx: GuardrailContext) -> Verdict | None:
        verdict = await ctx.ask(
            moderator, f"Is this safe? {ctx.text}", system="Say SAFE or UNSAFE."
        )
        return None if verdict.strip() == "SAFE" else Verdict.stop(f"the moderator said {verdict}")

    agent = create_agent(name="Worker", model=worker, guardrails=[moderate])
    return create_network(name="Moderated", agents=[agent], router=route_in_order(agent))


async def test_a_guardrail_that_calls_a_model_is_a_step_called_once_however_often_replayed() -> (
    None
):
    moderator = ScriptedModel([text("SAFE", usage=Usage(input_tokens=7, output_tokens=1))])
    worker = ScriptedModel([text("Here you go.")])
    async with served(_moderated_network(moderator, worker)) as executor:
        run = await executor.run("network-moderated", {"input": "Tell me a joke"})
        assert run.output["output"] == "Here you go."
        assert executor.executed(run) == ["Worker#1/guardrail/input/moderate", "Worker#1/infer"]
        memo = run.memo_for("Worker#1/guardrail/input/moderate")["data"]
        assert memo["action"] == "allow" and memo["usage"][0]["input_tokens"] == 7
        cost = run.output["cost"]
        assert cost["requests"] == 2 and cost["input_tokens"] == 17  # the moderator's too
        for _ in range(2):
            assert (await executor.replay(run)).json() == run.output
        assert len(moderator.calls) == 1 and len(worker.calls) == 1
        assert "Say SAFE or UNSAFE." in moderator.calls[0].system


async def test_a_stopping_guardrail_fails_the_run_at_once_naming_it_durably() -> None:
    moderator = ScriptedModel([text("UNSAFE")])
    worker = ScriptedModel([])
    async with served(_moderated_network(moderator, worker)) as executor:
        run = await executor.run("network-moderated", {"input": "something bad"}, check=False)
        assert run.status == "failed" and run.error["name"] == "NonRetriableError"
        assert run.error["message"].endswith(
            "input guardrail 'moderate' stopped agent 'Worker': the moderator said UNSAFE"
        )
        assert not [r for r in executor.requests_for(run) if r.attempt > 0]
        assert worker.calls == [] and len(moderator.calls) == 1


# -- a network's guardrails ---------------------------------------------------------------


async def test_a_networks_input_guardrail_rewrites_before_the_thread_stores_the_message() -> None:
    store = MemoryStore()
    model = ScriptedModel([text("Done.")])
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(
        name="N",
        agents=[agent],
        router=route_in_order(agent),
        history=store,
        guardrails=[no_card_numbers],
    )
    run = await network.run("Card 4111-1111-1111-1111 was charged twice")
    assert run.state.thread_id is not None
    stored = await store.load(run.state.thread_id)
    assert "4111" not in str(stored) and "Card [card] was charged twice" in str(stored)
    assert "4111" not in str(model.calls[0].messages)


async def test_a_networks_output_guardrail_sees_the_final_answer_and_may_rewrite_it() -> None:
    @output_guardrail(pure=True)
    def sign(ctx: GuardrailContext) -> Verdict:
        return Verdict.rewrite(f"{ctx.text}\n-- the support team")

    first = create_agent(name="First", model=ScriptedModel([text("draft")]))
    last = create_agent(name="Last", model=ScriptedModel([text("Answer.")]))
    network: Network[Any] = create_network(
        name="N", agents=[first, last], router=route_in_order(first, last), guardrails=[sign]
    )
    run = await network.run("q")
    assert run.output == "Answer.\n-- the support team"
    assert content(run.state.messages[-1]) == "Answer.\n-- the support team"
    assert [r.text for r in run.results] == ["draft", "Answer.\n-- the support team"]


async def test_a_lone_surrogate_in_a_rewrite_reaches_the_model_as_u_fffd_in_both_runners() -> None:
    @input_guardrail
    def odd(ctx: GuardrailContext) -> Verdict:
        return Verdict.rewrite("bad \ud800 text")

    def network(model: ScriptedModel) -> Network[Any]:
        agent = create_agent(name="A", model=model, guardrails=[odd])
        return create_network(name="Odd", agents=[agent], router=route_in_order(agent))

    plain = ScriptedModel([text("ok")])
    await network(plain).run("q")
    assert content(plain.calls[0].last) == "bad \ufffd text"
    durable = ScriptedModel([text("ok")])
    async with served(network(durable)) as executor:
        await executor.run("network-odd", {"input": "q"})
    assert content(durable.calls[0].last) == "bad \ufffd text"
