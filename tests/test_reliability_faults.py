"""Faults: provider failures and failing tools, through the real app and executor.

Each run first books something with a tool (a side effect, counted), then meets the
fault on its next inference, so every case also proves that retrying the failed
step never runs the memoized tool again. The provider is the local fake speaking
OpenAI's wire format to the official ``openai`` client (in-process inference) or to
the executor standing in for Inngest's AI gateway (offloaded inference).

Documented outcomes (RELIABILITY.md): timeouts, 429 (waiting as ``retry-after``
says), 5xx and unreadable answers are retried and the run completes; when the
retries are spent, or the failure is one retrying cannot fix (4xx), the run fails
with a message that names the step and the cause.
"""

from __future__ import annotations

import collections
import datetime
import time
from typing import Any

import pytest

from agentkit_inngest import (
    InlineRunner,
    Network,
    StepError,
    ToolContext,
    ToolRetry,
    create_agent,
    create_network,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.models import Inference, openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import (
    Answer,
    FakeProvider,
    Fault,
    RecordedRequest,
)

from .message_helpers import content
from .test_durable import app_with

RETRIES = 2  # three attempts per step keeps failing cases short
TIMEOUT = 1.0  # the model's timeout in the timeout cases (the fake then stalls 3 s)
STALL = Fault(status=200, delay=3.0)


def booking_network(
    provider_url: str,
    effects: collections.Counter[str],
    *,
    inference: Inference = "in_process",
    timeout: float = 30.0,
) -> Network[Any]:
    @tool
    def book(ref: str, ctx: ToolContext) -> str:
        """Book a slot."""
        effects[ref] += 1
        ctx.state.kv.set("booked", ref)
        return f"booked {ref}"

    model = openai(
        "gpt-test",
        base_url=f"{provider_url}/v1",
        api_key="sk-test",
        inference=inference,
        timeout=timeout,
    )
    agent = create_agent(name="Booker", model=model, tools=[book], max_iter=2)
    return create_network(name="Booking", agents=[agent], router=route_in_order(agent))


def functions_for(network: Network[Any]) -> list[Any]:
    return [lambda client: network_function(network, client=client, retries=RETRIES)]


RECOVERABLE: dict[str, list[Answer]] = {
    "timeout": [STALL],
    "http-500": [Fault(status=500, message="internal error")],
    "http-503-twice": [Fault(status=503, message="overloaded")] * 2,
    "http-429": [Fault(status=429, message="rate limited", headers={"retry-after": "0"})],
    "malformed-json": [Fault(status=200, body='{"choices": [ {"message": ')],
    "json-without-choices": [{"id": "x", "object": "chat.completion", "choices": []}],
    "not-an-object": [Fault(status=200, body="[1, 2, 3]")],
}


@pytest.mark.parametrize("fault", sorted(RECOVERABLE))
async def test_a_recoverable_provider_fault_is_retried_and_the_run_completes(
    fault: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    faults = RECOVERABLE[fault]
    fake_provider.reply(tool_call("book", {"ref": "A"}), *faults, text("all booked"))
    network = booking_network(provider_url, effects, timeout=TIMEOUT if STALL in faults else 30)
    async with app_with(functions=functions_for(network)) as (executor, _):
        run = await executor.run("network-booking", {"input": "book A"})
    assert run.output["output"] == "all booked"
    assert run.output["state"]["kv"] == {"booked": "A"}
    assert effects == {"A": 1}  # the memoized tool step never ran again
    assert len(fake_provider.requests) == 2 + len(faults)
    retried = [r for r in executor.requests_for(run) if r.attempt > 0]
    assert len(retried) == len(faults), "each fault cost exactly one retry of the infer step"
    assert {r.step for r in retried} == {retried[0].step}


async def test_429_retry_after_is_passed_to_inngest_and_honoured(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """The provider asks for 2 s; the app tells Inngest to retry no earlier than that
    (``retry-after`` on the step's response); the executor waits as Inngest does."""
    arrivals: list[float] = []

    def answer(reply: Any) -> Any:
        def respond(request: RecordedRequest) -> Any:
            arrivals.append(time.time())
            return reply

        return respond

    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(
        answer(tool_call("book", {"ref": "A"})),
        answer(Fault(status=429, message="slow down", headers={"retry-after": "2"})),
        answer(text("all booked")),
    )
    network = booking_network(provider_url, effects)
    async with app_with(
        functions=functions_for(network), honour_retry_after=True, max_retry_after=10
    ) as (executor, _):
        run = await executor.run("network-booking", {"input": "book A"})
    assert run.output["output"] == "all booked" and effects == {"A": 1}
    (header,) = executor.retry_after_seen
    retry_at = datetime.datetime.fromisoformat(header.replace("Z", "+00:00")).timestamp()
    # the app asked for the provider's 2 seconds (counted from when it saw the 429) ...
    assert 1.5 <= retry_at - arrivals[1] <= 5.0
    # ... and the provider was not called again before then
    assert arrivals[2] >= retry_at


@pytest.mark.parametrize("inference", ["in_process", "offload"])
async def test_a_provider_5xx_is_retried_in_both_inference_modes(
    inference: Inference, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(tool_call("book", {"ref": "B"}), Fault(status=502), text("all booked"))
    network = booking_network(provider_url, effects, inference=inference)
    async with app_with(functions=functions_for(network)) as (executor, _):
        run = await executor.run("network-booking", {"input": "book B"})
    assert run.output["output"] == "all booked" and effects == {"B": 1}
    assert len(fake_provider.requests) == 3


FATAL = {
    # fault, how many provider calls, what the error says
    "http-400": (Fault(status=400, message="max_tokens is too large"), 1, "HTTP 400"),
    "http-401": (Fault(status=401, message="invalid key"), 1, "check the API key"),
    "always-500": (Fault(status=500, message="down"), RETRIES + 1, "HTTP 500"),
    "always-timeout": (STALL, RETRIES + 1, "timed out"),
    "always-malformed": (Fault(status=200, body="<html>"), RETRIES + 1, "not JSON"),
}


@pytest.mark.parametrize("case", sorted(FATAL))
async def test_a_fault_retrying_cannot_fix_fails_the_run_clearly_without_repeating_tools(
    case: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    fault, provider_calls, says = FATAL[case]
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(tool_call("book", {"ref": "C"}), *[fault] * provider_calls)
    network = booking_network(provider_url, effects, timeout=TIMEOUT if fault is STALL else 30)
    async with app_with(functions=functions_for(network)) as (executor, _):
        run = await executor.run("network-booking", {"input": "book C"}, check=False)
    assert run.status == "failed"
    message = run.error["message"]
    assert says in message and "Booker#1/infer#2" in str(run.error), run.error
    assert effects == {"C": 1}
    assert len(fake_provider.requests) == 1 + provider_calls  # 4xx: no retry at all
    assert len(executor.requests_for(run)) <= 3 + RETRIES + 2  # bounded: no retry loop


@pytest.mark.parametrize("inference", ["in_process", "offload"])
async def test_a_step_whose_retries_are_spent_says_it_gave_up_and_after_how_many(
    inference: Inference, fake_provider: FakeProvider, provider_url: str
) -> None:
    """The last attempt's error no longer says "(will retry)": the run's error says how
    many attempts were made and that it gave up, in both runners."""
    down = [Fault(status=500, message="down")] * (RETRIES + 1)
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(tool_call("book", {"ref": "G"}), *down)
    network = booking_network(provider_url, effects, inference=inference)
    async with app_with(functions=functions_for(network)) as (executor, _):
        run = await executor.run("network-booking", {"input": "book G"}, check=False)
    message = run.error["message"]
    assert run.error["name"] == "NonRetriableError" and "'Booker#1/infer#2'" in message
    assert message.endswith(f"(gave up after {RETRIES + 1} attempts)") and "500" in message, message
    assert "will retry" not in message
    if inference == "offload":
        return
    fake_provider.reset()
    fake_provider.reply(tool_call("book", {"ref": "G"}), *down)
    plain = booking_network(provider_url, effects)
    with pytest.raises(StepError) as caught:
        await plain.run("book G", runner=InlineRunner(max_attempts=RETRIES + 1, backoff=0))
    assert str(caught.value).startswith("step 'Booker#1/infer#2' failed: openai answered HTTP 500")
    assert str(caught.value).endswith(f"(gave up after {RETRIES + 1} attempts)")
    assert "HTTP 500" in str(caught.value) and "will retry" not in str(caught.value)
    assert effects == {"G": 2}  # once per runner


async def test_an_unreadable_offloaded_answer_fails_at_once(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """The AI gateway memoizes the answer before the app reads it, so retrying cannot
    change it: one failing replay, not five."""
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(tool_call("book", {"ref": "D"}), {"choices": []})
    network = booking_network(provider_url, effects, inference="offload")
    async with app_with(functions=functions_for(network)) as (executor, _):
        run = await executor.run("network-booking", {"input": "book D"}, check=False)
    assert run.error["name"] == "NonRetriableError"
    assert "Booker#1/infer#2" in run.error["message"]
    assert "cannot be read: ValueError: the answer has no choices" in run.error["message"]
    assert [r.attempt for r in executor.requests_for(run)][-1] == 0
    assert effects == {"D": 1}


# -- tools that fail ----------------------------------------------------------------------


async def test_a_tool_that_raises_reports_to_the_model_and_runs_once() -> None:
    calls: list[str] = []

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        calls.append(key)
        raise KeyError(f"no such key: {key}")

    model = ScriptedModel(
        [tool_call("lookup", {"key": "k1"}), lambda c: text(f"sorry: {content(c.last)}")]
    )
    agent = create_agent(name="A", model=model, tools=[lookup], max_iter=2)
    network: Network[Any] = create_network(
        name="Look", agents=[agent], router=route_in_order(agent)
    )
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-look", {"input": "find k1"})
    assert calls == ["k1"]  # not retried: a tool error is an answer, not a fault
    result = run.output["results"][0]["tool_calls"][0]
    assert result["is_error"] and result["content"] == {
        "error": "KeyError",
        "message": "'no such key: k1'",
    }
    assert "no such key: k1" in run.output["output"]


async def test_tool_retry_reruns_only_that_step_and_gives_up_clearly() -> None:
    attempts: collections.Counter[str] = collections.Counter()

    @tool
    def flaky(name: str, ctx: ToolContext) -> str:
        """Fail while the backend is warming up."""
        attempts[name] += 1
        if name == "never" or attempts[name] < 3:
            raise ToolRetry(f"{name} backend is warming up")
        ctx.state.kv.set(name, "done")
        return "ok"

    def network_for(arg: str) -> Network[Any]:
        model = ScriptedModel([tool_call("flaky", {"name": arg}), text("finished")])
        agent = create_agent(name="A", model=model, tools=[flaky], max_iter=2)
        return create_network(name=f"Flaky {arg}", agents=[agent], router=route_in_order(agent))

    ok, never = network_for("soon"), network_for("never")
    functions = [
        lambda c: network_function(ok, client=c, retries=RETRIES),
        lambda c: network_function(never, client=c, retries=RETRIES),
    ]
    async with app_with(functions=functions) as (executor, _):
        good = await executor.run("network-flaky-soon", {"input": "go"})
        bad = await executor.run("network-flaky-never", {"input": "go"}, check=False)
    assert good.output["state"]["kv"] == {"soon": "done"} and attempts["soon"] == 3
    assert bad.status == "failed" and attempts["never"] == RETRIES + 1
    assert "never backend is warming up" in bad.error["message"]
    assert "A#1/tool/flaky" in str(bad.error)


async def test_a_step_inside_a_tool_that_asks_to_retry_later_is_retried_not_reported() -> None:
    """A step of a tool that orchestrates steps fails with a delay (``ToolRetry`` with
    ``retry_after``, or a provider's 429): the request is retried after the delay, the
    model never sees the failure, and plain Python and Inngest give the same result."""

    def network_and_calls() -> tuple[Network[Any], list[int]]:
        calls: list[int] = []

        def read() -> str:
            calls.append(1)
            if len(calls) == 1:
                raise ToolRetry("the page is busy", retry_after=0.01)
            return "the page"

        @tool(uses_steps=True)
        async def fetch(ctx: ToolContext) -> str:
            """Fetch a page in a step."""
            return str(await ctx.step.run("page", read))

        model = ScriptedModel([tool_call("fetch", id="f1"), lambda c: text(str(content(c.last)))])
        agent = create_agent(name="A", model=model, tools=[fetch], max_iter=2)
        return create_network(name="Later", agents=[agent], router=route_in_order(agent)), calls

    network, calls = network_and_calls()
    plain = await network.run("go", runner=InlineRunner(backoff=0))
    assert plain.output == "the page" and len(calls) == 2
    network, calls = network_and_calls()
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-later", {"input": "go"})
    assert run.output["output"] == "the page" and len(calls) == 2
    assert len(executor.retry_after_seen) == 1  # Inngest was asked to wait
    assert run.output["results"] == plain.to_json()["results"]
