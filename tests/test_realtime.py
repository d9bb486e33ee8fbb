"""The Inngest Realtime transport: a served network publishes every event once to
the executor's realtime API (channel = thread, topic = event type), and the app
issues the subscription tokens ``@inngest/realtime`` reads."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import inngest
import pytest

from agentkit_inngest import (
    ToolContext,
    create_agent,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.streaming import EVENT_TYPES, MemoryBroker, RealtimePublisher, StreamEvent
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call


def _network() -> Any:
    @tool
    def convert(celsius: float, ctx: ToolContext) -> str:
        """Convert Celsius to Fahrenheit."""
        return f"{celsius * 9 / 5 + 32:.1f}F"

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("It is 71.6F outside.")
        return tool_call("convert", {"celsius": 22}, id="c1")

    agent = create_agent(name="Weather", model=FunctionModel(respond), tools=[convert], max_iter=2)
    return create_network(name="Weather desk", agents=[agent], router=route_in_order(agent))


async def test_realtime_gets_every_event_once_on_the_thread_channel() -> None:
    broker = MemoryBroker()
    async with LocalExecutor() as executor, executor.subscribe() as published:
        client = executor.client("realtime")
        app = create_server(client=client, networks=[_network()], broker=broker, realtime=True)
        url = await executor.attach(app)
        async with broker.subscribe("t-rt") as via_sse:
            await executor.run("network-weather-desk", {"input": "weather?", "thread_id": "t-rt"})
            sse_events: list[StreamEvent] = []
            async for event in via_sse:
                sse_events.append(event)
                if event.type == "run.completed":
                    break
        messages = [published.get_nowait() for _ in range(published.qsize())]
        async with httpx.AsyncClient(timeout=30) as http:
            token = await http.get(url.removesuffix("/api/inngest") + "/streams/t-rt/token")
    assert messages == executor.published
    assert {channel for channel, _, _ in messages} == {"t-rt"}
    events = [StreamEvent.model_validate(data) for _, _, data in messages]
    assert [topic for _, topic, _ in messages] == [e.type for e in events]
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), "an event was published to Realtime twice"
    # the two transports carry the same events, in the same order
    assert events == sse_events
    assert [e.type for e in events] == [
        "run.started",
        "agent.started",
        "usage",
        "tool.call",
        "tool.result",
        *["text.delta"] * 4,
        "usage",
        "agent.finished",
        "run.completed",
    ]
    call = next(e for e in events if e.type == "tool.call")
    assert call.data["name"] == "convert" and call.data["arguments"] == {"celsius": 22}
    # what @inngest/realtime's subscribe() takes: the channel, its topics and a key
    assert token.status_code == 200
    assert token.json() == {
        "channel": "t-rt",
        "topics": list(EVENT_TYPES),
        "key": "local-token-t-rt",
    }


async def test_a_failing_realtime_api_does_not_fail_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Streaming is best effort: the run completes when publishing fails."""
    async with LocalExecutor() as executor:
        client = executor.client("realtime-down")
        # a Realtime API that refuses connections (nothing listens on port 9)
        unreachable = inngest.Inngest(
            app_id="realtime-down", api_base_url="http://127.0.0.1:9", is_production=False
        )
        fn = network_function(_network(), client=client, publisher=RealtimePublisher(unreachable))
        await executor.attach(create_server(client=client, functions=[fn]))
        with caplog.at_level(logging.WARNING, logger="agentkit_inngest"):
            run = await executor.run("network-weather-desk", {"input": "weather?"})
    assert run.status == "completed"
    assert run.output["output"] == "It is 71.6F outside."
    failures = [r.getMessage() for r in caplog.records if "publishing" in r.getMessage()]
    assert failures and failures[0].startswith("publishing run.started (seq ")
