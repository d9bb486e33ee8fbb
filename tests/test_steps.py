from __future__ import annotations

import datetime

import pytest

from agentkit_inngest import (
    ConfigurationError,
    EventWait,
    FatalProviderError,
    InlineRunner,
    Invocation,
    RetriableProviderError,
    StepError,
    StepTools,
    ToolContext,
    ToolRetry,
    WaitUnavailableError,
    create_agent,
    tool,
)
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call


async def test_inline_runner_round_trips_outputs_through_json() -> None:
    runner = InlineRunner()
    assert await runner.run("s", lambda: _value({"t": (1, 2), 3: "x"})) == {"t": [1, 2], "3": "x"}
    with pytest.raises(ConfigurationError, match="not JSON"):
        await runner.run("bad", lambda: _value({"x": object()}))
    with pytest.raises(ConfigurationError, match="not JSON"):
        await runner.run("nan", lambda: _value(float("nan")))


async def _value(value: object) -> object:
    return value


async def test_retriable_errors_are_retried_honouring_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("agentkit_inngest._steps._retry.asyncio.sleep", fake_sleep)
    answers: list[Reply] = [
        RetriableProviderError("busy", provider="p", retry_after=2.0),
        RetriableProviderError("busy", provider="p"),
        text("finally"),
    ]

    def respond(call: ModelCall) -> Reply:
        return answers.pop(0)

    runner = InlineRunner(max_attempts=3, backoff=0.1)
    result = await create_agent(name="A", model=FunctionModel(respond)).run("q", runner=runner)
    assert result.text == "finally"
    assert slept == [2.0, 0.2]


async def test_retries_end_in_a_step_error_and_fatal_errors_are_not_retried() -> None:
    calls: list[int] = []

    def always(call: ModelCall) -> Reply:
        calls.append(1)
        return RetriableProviderError("down", provider="p")

    runner = InlineRunner(max_attempts=2, backoff=0)
    with pytest.raises(StepError, match="A#1/infer"):
        await create_agent(name="A", model=FunctionModel(always)).run("q", runner=runner)
    assert len(calls) == 2

    def fatal(call: ModelCall) -> Reply:
        calls.append(1)
        return FatalProviderError("bad key", provider="p", status_code=401)

    with pytest.raises(FatalProviderError):
        await create_agent(name="B", model=FunctionModel(fatal)).run("q", runner=InlineRunner())
    assert len(calls) == 3
    with pytest.raises(ConfigurationError, match="at least 1"):
        InlineRunner(max_attempts=0)


async def test_tool_retry_reruns_the_tool_step() -> None:
    attempts: list[int] = []

    @tool
    def flaky(ctx: ToolContext) -> str:
        """Fail once."""
        attempts.append(1)
        if len(attempts) == 1:
            raise ToolRetry("transient", retry_after=0)
        return "ok"

    agent = create_agent(name="A", model=FunctionModel(lambda c: tool_call("flaky")), tools=[flaky])
    result = await agent.run("q", runner=InlineRunner(backoff=0))
    assert result.tool_calls[0].content == "ok" and len(attempts) == 2


async def test_steps_that_need_inngest_explain_how_to_run_inline() -> None:
    runner = InlineRunner()
    steps = StepTools(runner, "A#1/tool/x")
    with pytest.raises(WaitUnavailableError, match="on_wait_for_event"):
        await steps.wait_for_event("wait", event="app/reply", timeout=1000)
    with pytest.raises(WaitUnavailableError, match="on_invoke"):
        await steps.invoke("call", function_id="fn", data={})
    with pytest.raises(WaitUnavailableError, match="on_send_event"):
        await steps.send_event("send", [{"name": "e"}])
    with pytest.raises(ConfigurationError, match="no '/'"):
        await steps.run("a/b", lambda: 1)


async def test_inline_callbacks_serve_waits_invokes_sends_and_sleeps() -> None:
    waits: list[EventWait] = []
    invocations: list[Invocation] = []
    sent: list[list[dict[str, object]]] = []

    async def on_wait(wait: EventWait) -> dict[str, object] | None:
        waits.append(wait)
        return {"name": wait.event, "data": {"answer": 42}}

    async def on_invoke(invocation: Invocation) -> object:
        invocations.append(invocation)
        return {"summary": "done"}

    async def on_send(events: list[dict[str, object]]) -> list[str]:
        sent.append(events)
        return ["id-1"]

    runner = InlineRunner(on_wait_for_event=on_wait, on_invoke=on_invoke, on_send_event=on_send)
    steps = StepTools(runner, "A#1/tool/x")
    assert steps.prefix == "A#1/tool/x" and not steps.durable
    reply = await steps.wait_for_event(
        "wait", event="app/reply", if_exp="async.data.id == 1", timeout=datetime.timedelta(hours=4)
    )
    assert reply == {"name": "app/reply", "data": {"answer": 42}}
    assert waits[0].step_id == "A#1/tool/x/wait" and waits[0].timeout == datetime.timedelta(hours=4)
    assert await steps.invoke("call", function_id="research", data={"q": 1}, timeout=5000) == {
        "summary": "done"
    }
    assert invocations[0].timeout == datetime.timedelta(seconds=5)
    assert await steps.send_event("send", [{"name": "e", "data": {}}]) == ["id-1"]
    assert await steps.run("sync", lambda: 3) == 3
    await steps.sleep("nap", 1)
    assert runner._claimed >= {
        "A#1/tool/x/wait",
        "A#1/tool/x/call",
        "A#1/tool/x/send",
        "A#1/tool/x/nap",
    }
