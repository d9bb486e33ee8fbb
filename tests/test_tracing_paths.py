"""Spans of the other paths a run takes: failures, offloaded inference, fast turns and
routing agents, in plain Python and under the local Inngest executor."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import inngest
import pytest

from agentkit_inngest import (
    ToolContext,
    configure_tracing,
    create_agent,
    create_network,
    create_routing_agent,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest._tracing import CAPTURE_ENV, reset
from agentkit_inngest.errors import FatalProviderError
from agentkit_inngest.models import openai
from agentkit_inngest.streaming import CallbackPublisher, StreamEvent
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

from .tracing_helpers import Traced, attrs, parents_resolve, render


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    found = Traced.new()
    configure_tracing(tracer_provider=found.provider, inngest=False)
    yield found
    reset()
    found.provider.shutdown()


def _solo(provider_url: str, **model: Any) -> Any:
    @tool
    def lookup(key: str, ctx: ToolContext) -> str:
        """Look a key up."""
        return f"value of {key}"

    agent = create_agent(
        name="Clerk",
        model=openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test", **model),
        tools=[lookup],
        max_iter=2,
    )
    return create_network(name="Office", agents=[agent], router=route_in_order(agent))


FAILED_TREE = """\
invoke_workflow Office (ERROR {error})
├─ plan router
└─ invoke_agent Clerk (ERROR {error})
   └─ chat gpt-test [attempt 0] (ERROR 400)"""


async def test_a_failed_plain_run_marks_the_failing_spans(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=400, message="max_tokens is too large"))
    with pytest.raises(FatalProviderError):
        await _solo(provider_url).run("look it up")
    assert render(traced.spans) == FAILED_TREE.format(error="400")  # the provider's status
    chat = traced.named("chat")[0]
    assert "max_tokens is too large" in str(chat.status.description)
    assert [e.name for e in chat.events] == ["exception"]


async def test_a_durable_run_that_fails_for_good_emits_its_spans_once(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=400, message="max_tokens is too large"))
    async with LocalExecutor() as executor:
        # once across the replay that reads the failure: the request-per-step path
        # (checkpointing off, or fallen back)
        client = executor.client("trace-app")
        app = create_server(client=client, networks=[_solo(provider_url)], checkpointing=False)
        await executor.attach(app)
        run = await executor.run("network-office", {"input": "look it up"}, check=False)
    assert run.status == "failed" and len(executor.requests_for(run)) >= 2
    assert render(traced.spans) == FAILED_TREE.format(error="StepError")


async def test_a_retriable_failure_is_not_the_end_of_a_durable_run(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=500, message="down"), text("Found it."))
    async with LocalExecutor() as executor:
        await executor.attach(
            create_server(client=executor.client("trace-app"), networks=[_solo(provider_url)])
        )
        await executor.run("network-office", {"input": "look it up"})
    chats = traced.named("chat")
    assert [(attrs(c)["agentkit.step.attempt"], attrs(c).get("error.type")) for c in chats] == [
        (0, "500"),
        (1, None),
    ]
    assert attrs(chats[0])["agentkit.step.retried"] is True
    assert all(s.status.status_code.name != "ERROR" for s in traced.named("invoke_"))


async def test_an_offloaded_inference_is_one_span_of_the_servers_call(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(tool_call("lookup", {"key": "k"}, id="l1"), text("Found it."))
    async with LocalExecutor() as executor:
        network = _solo(provider_url, inference="offload")
        await executor.attach(
            create_server(client=executor.client("trace-app"), networks=[network])
        )
        await executor.run("network-office", {"input": "look it up"})
    chats = traced.named("chat")
    agent = traced.named("invoke_agent")[0]
    assert len(chats) == 2 and parents_resolve(traced.spans)
    for chat in chats:
        assert attrs(chat)["agentkit.inference"] == "offload"
        assert chat.start_time == chat.end_time  # the server timed the call
        assert chat.parent is not None and chat.parent.span_id == agent.context.span_id
    assert attrs(chats[0])["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attrs(chats[0])["gen_ai.usage.output_tokens"] == 5


def _fast_network() -> Any:
    @tool
    def note(fact: str, ctx: ToolContext) -> str:
        """Record a fact."""
        return "noted"

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("Two facts.")
        return tool_calls(("note", {"fact": "a"}, "f1"), ("note", {"fact": "b"}, "f2"))

    agent = create_agent(name="Fast", model=FunctionModel(respond), tools=[note], max_iter=2)
    return create_network(
        name="Quick", agents=[agent], router=route_in_order(agent), fast_turns=True
    )


FAST_TREE = """\
invoke_workflow Quick
├─ plan router
├─ invoke_agent Fast
│  ├─ chat function-model [attempt 0]
│  │  ├─ execute_tool note
│  │  └─ execute_tool note
│  └─ chat function-model [attempt 0]
└─ plan router"""


async def test_a_fast_turn_is_a_chat_span_with_its_tool_calls_inside(traced: Traced) -> None:
    async with LocalExecutor() as executor:
        await executor.attach(
            create_server(client=executor.client("trace-app"), networks=[_fast_network()])
        )
        await executor.run("network-quick", {"input": "go"})
    assert render(traced.spans) == FAST_TREE
    turn = traced.named("chat")[0]
    assert attrs(turn)["agentkit.step.id"] == "Fast#1/turn"
    tools = traced.named("execute_tool")
    assert {attrs(t)["gen_ai.tool.call.id"] for t in tools} == {"f1", "f2"}


ROUTED_TREE = """\
invoke_workflow Desk
├─ plan Dispatcher
│  └─ invoke_agent Dispatcher
│     └─ chat function-model [attempt 0]
├─ invoke_agent Billing
│  └─ chat function-model [attempt 0]
└─ plan Dispatcher
   └─ invoke_agent Dispatcher
      └─ chat function-model [attempt 0]"""


async def test_a_routing_agents_decision_holds_its_call(traced: Traced) -> None:
    calls: collections.Counter[str] = collections.Counter()

    def respond(call: ModelCall) -> Any:
        calls[call.system] += 1
        return text("Billing" if calls[call.system] == 1 else "done")

    model = FunctionModel(respond)
    billing = create_agent(name="Billing", system="You bill.", model=model)

    def on_route(*, result: Any, **_: Any) -> list[str]:
        return ["Billing"] if result.text == "Billing" else []

    router = create_routing_agent(
        name="Dispatcher", system="You route.", model=model, on_route=on_route
    )
    await create_network(name="Desk", agents=[billing], router=router).run("invoice?")
    assert render(traced.spans) == ROUTED_TREE
    plans = traced.named("plan")
    assert attrs(plans[0])["agentkit.route.kind"] == "agent"
    assert attrs(plans[0])["agentkit.route.next"] == ("Billing",)
    assert attrs(plans[1])["agentkit.route.next"] == ()


async def test_tracing_leaves_the_stream_of_a_durable_run_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spans and stream events share one gate: with tracing on, the run publishes the
    same events, with the same sequence numbers, as without it."""
    monkeypatch.delenv(CAPTURE_ENV, raising=False)

    async def published(found: Traced | None) -> list[tuple[str, int]]:
        events: list[StreamEvent] = []

        async def keep(event: StreamEvent) -> None:
            events.append(event)

        if found is not None:
            configure_tracing(tracer_provider=found.provider, inngest=False)
        try:
            async with LocalExecutor() as executor:
                client = executor.client("trace-app")
                function = network_function(
                    _fast_network(), client=client, publisher=CallbackPublisher(keep)
                )
                await executor.attach(create_server(client=client, functions=[function]))
                await executor.run("network-quick", {"input": "go"})
        finally:
            reset()
        return sorted((e.type, e.seq) for e in events)

    found = Traced.new()
    plain, traced_events = await published(None), await published(found)
    assert traced_events == plain and len(plain) > 8
    assert render(found.spans) == FAST_TREE


async def test_a_run_in_your_own_function_found_by_the_middleware_is_one_whole_trace(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(tool_call("lookup", {"key": "k"}), text("Found it."))
    async with LocalExecutor() as executor:
        client = executor.client("trace-app")

        @client.create_function(fn_id="office", trigger=inngest.TriggerEvent(event="office/run"))
        async def office(ctx: inngest.Context) -> Any:
            return await _solo(provider_url).run(ctx.event.data["input"])  # no runner

        await executor.attach(create_server(client=client, functions=[office]))
        run = await executor.run("office", {"input": "look it up"})
    assert run.output["output"] == "Found it."
    # the run span too, though nothing called runner.stream.flush(): the middleware
    # flushes the runs it found when the function returns
    assert render(traced.spans) == (
        "invoke_workflow Office\n"
        "├─ plan router\n"
        "├─ invoke_agent Clerk\n"
        "│  ├─ chat gpt-test [attempt 0]\n"
        "│  ├─ execute_tool lookup [attempt 0]\n"
        "│  └─ chat gpt-test [attempt 0]\n"
        "└─ plan router"
    )
    assert parents_resolve(traced.spans)
