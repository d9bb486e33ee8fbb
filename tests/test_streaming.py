"""The progress stream: typed events, real token streaming, exactly-once across replays."""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agentkit_inngest import (
    InlineRunner,
    State,
    ToolContext,
    agent_function,
    create_agent,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.errors import FatalProviderError, RetriableProviderError
from agentkit_inngest.models import Model, anthropic, gemini, grok, openai
from agentkit_inngest.streaming import (
    BrokerPublisher,
    CallbackPublisher,
    FanOut,
    MemoryBroker,
    StreamEvent,
)
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

from .redis_server import BrokerFactory, make_broker, redis_server

__all__ = ["make_broker", "redis_server"]  # fixtures used here


class Recorder:
    """A publisher that keeps every event it is given (duplicates included)."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def publish(self, event: StreamEvent) -> None:
        self.events.append(event)

    def summary(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for event in sorted(self.events, key=lambda e: e.seq):
            if event.type == "text.delta":
                if out and out[-1][0] == "text":
                    out[-1] = ("text", out[-1][1] + event.data["delta"])
                else:
                    out.append(("text", event.data["delta"]))
            elif event.type in ("tool.call", "tool.result"):
                out.append((event.type, event.data["name"]))
            elif event.type in ("agent.started", "agent.finished"):
                out.append((event.type, event.agent))
            else:
                out.append((event.type, None))
        return out


def _respond(call: ModelCall) -> Any:
    last = call.last
    if last is not None and last.kind == "tool_result":
        return text("The answer is saved. Goodbye!")
    return tool_call("save", {"answer": "forty two"}, id="s1")


def _network(model: Any, effects: collections.Counter[str] | None = None) -> Any:
    @tool
    def save(answer: str, ctx: ToolContext) -> str:
        """Save the answer."""
        if effects is not None:
            effects[answer] += 1
        ctx.state.kv.set("answer", answer)
        return "saved"

    agent = create_agent(name="Writer", model=model, tools=[save], max_iter=2)
    return create_network(name="Stream", agents=[agent], router=route_in_order(agent))


EXPECTED = [
    ("run.started", None),
    ("agent.started", "Writer"),
    ("usage", None),
    ("tool.call", "save"),
    ("tool.result", "save"),
    ("text", "The answer is saved. Goodbye!"),
    ("usage", None),
    ("agent.finished", "Writer"),
    ("run.completed", None),
]


async def test_plain_python_stream_is_typed_and_ordered() -> None:
    recorder = Recorder()
    run = await _network(FunctionModel(_respond)).run(
        "q", runner=InlineRunner(publisher=recorder, channel="thread-1")
    )
    assert recorder.summary() == EXPECTED
    seqs = [e.seq for e in recorder.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {e.channel for e in recorder.events} == {"thread-1"}
    deltas = [e.data["delta"] for e in recorder.events if e.type == "text.delta"]
    assert len(deltas) == 5  # word by word, as streamed
    steps = {e.data["step"] for e in recorder.events if e.type == "text.delta"}
    assert steps == {"Writer#1/infer#2"}  # the second inference wrote the text
    finished = next(e for e in recorder.events if e.type == "agent.finished")
    assert finished.data["output"] == "The answer is saved. Goodbye!"
    completed = recorder.events[-1]
    assert completed.data["output"] == run.output and completed.data["usage"]["total_tokens"] == 30


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "grok"])
async def test_providers_stream_real_tokens(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    models: dict[str, Callable[[], Model]] = {
        "openai": lambda: openai("m", base_url=f"{provider_url}/v1", api_key="k"),
        "grok": lambda: grok("m", base_url=f"{provider_url}/v1", api_key="k"),
        "anthropic": lambda: anthropic("m", base_url=provider_url, api_key="k"),
        "gemini": lambda: gemini("m", base_url=f"{provider_url}/v1beta", api_key="k"),
    }
    streamed, plain = Recorder(), State[Any]()
    fake_provider.reply(
        tool_call("save", {"answer": "forty two"}, id="s1"), text("The answer is saved. Goodbye!")
    )
    network = _network(models[kind]())
    run = await network.run("q", runner=InlineRunner(publisher=streamed))
    assert streamed.summary() == EXPECTED
    assert len([e for e in streamed.events if e.type == "text.delta"]) == 5
    assert run.state.kv.get("answer") == "forty two"
    if kind == "gemini":
        assert ":streamGenerateContent" in fake_provider.requests[0].path
    else:
        assert fake_provider.requests[0].body["stream"] is True
    # the streamed answer is recorded in the same shape as a non-streamed one
    fake_provider.reply(
        tool_call("save", {"answer": "forty two"}, id="s1"), text("The answer is saved. Goodbye!")
    )
    again = await _network(models[kind]()).run("q", state=plain)
    assert [r.output for r in again.results] == [r.output for r in run.results]
    assert again.usage == run.usage


async def test_durable_stream_publishes_each_event_once_across_replays(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    inline = Recorder()
    fake_provider.reply(
        tool_call("save", {"answer": "forty two"}, id="s1"), text("The answer is saved. Goodbye!")
    )
    await _network(openai("m", base_url=f"{provider_url}/v1", api_key="k")).run(
        "q", runner=InlineRunner(publisher=inline)
    )
    fake_provider.reply(
        tool_call("save", {"answer": "forty two"}, id="s1"), text("The answer is saved. Goodbye!")
    )
    effects: collections.Counter[str] = collections.Counter()
    durable = Recorder()
    network = _network(openai("m", base_url=f"{provider_url}/v1", api_key="k"), effects)
    async with LocalExecutor() as executor:
        client = executor.client("stream")
        # replays: the request-per-step path (checkpointing off, or a checkpoint that fell
        # back); test_checkpointing.py streams a checkpointed run
        fn = network_function(network, client=client, publisher=durable, checkpointing=False)
        await executor.attach(create_server(client=client, functions=[fn]))
        run = await executor.run("network-stream", {"input": "q", "thread_id": "t-7"})
        assert (
            len(executor.requests_for(run)) == 4
        )  # three steps, each request replaying the earlier ones
    seqs = [e.seq for e in durable.events]
    assert len(seqs) == len(set(seqs)), "an event was published twice"
    assert durable.summary() == inline.summary() == EXPECTED
    assert {e.channel for e in durable.events} == {"t-7"}
    assert {e.thread_id for e in durable.events} == {"t-7"}
    assert len([e for e in durable.events if e.type == "text.delta"]) == 5
    assert effects == {"forty two": 1}


async def test_offloaded_inference_publishes_text_when_the_step_completes(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        tool_call("save", {"answer": "x"}, id="s1"), text("The answer is saved. Goodbye!")
    )
    recorder = Recorder()
    model = openai("m", base_url=f"{provider_url}/v1", api_key="k", inference="offload")
    async with LocalExecutor() as executor:
        client = executor.client("offload")
        fn = network_function(_network(model), client=client, publisher=recorder)
        await executor.attach(create_server(client=client, functions=[fn]))
        await executor.run("network-stream", {"input": "q"})
    assert recorder.summary() == EXPECTED
    deltas = [e for e in recorder.events if e.type == "text.delta"]
    assert [d.data["delta"] for d in deltas] == ["The answer is saved. Goodbye!"]
    assert not any(r.body.get("stream") for r in fake_provider.requests)
    assert {e.channel for e in recorder.events} == {f"run:{recorder.events[0].run_id}"}


async def test_a_failed_run_publishes_run_failed(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=401, message="bad key"))
    recorder = Recorder()
    model = openai("m", base_url=f"{provider_url}/v1", api_key="k")
    async with LocalExecutor() as executor:
        client = executor.client("fails")
        fn = network_function(_network(model), client=client, publisher=recorder)
        await executor.attach(create_server(client=client, functions=[fn]))
        run = await executor.run("network-stream", {"input": "q", "thread_id": "t-9"}, check=False)
        assert run.status == "failed"
        failure = next(r for r in executor.runs.values() if r.fn_id.endswith("-failure"))
        await failure.wait()
    failed = [e for e in recorder.events if e.type == "run.failed"]
    assert len(failed) == 1 and failed[0].channel == "t-9" and failed[0].run_id == run.id
    assert "HTTP 401" in failed[0].data["error"]
    assert failed[0].seq == max(e.seq for e in recorder.events)


async def test_a_broker_dedupes_and_resumes(make_broker: BrokerFactory) -> None:
    broker: Any = make_broker(retain=3)
    event = StreamEvent(type="usage", seq=1, run_id="r", channel="c")
    async with broker.subscribe("c") as live:
        await broker.publish("c", event)
        await broker.publish("c", event)  # a retried step publishing again
        got = [await anext(live)]
        for seq in (2, 3, 4):
            await broker.publish("c", event.model_copy(update={"seq": seq}))
            got.append(await anext(live))
        await broker.publish("c", event.model_copy(update={"seq": 2}))  # again, later
        assert [e.seq for e in got] == [1, 2, 3, 4]
        assert broker.subscriber_count == 1
    assert broker.subscriber_count == 0
    async with broker.subscribe("c", after="r:2") as resumed:
        assert [(await anext(resumed)).seq for _ in range(2)] == [3, 4]
        assert resumed.gap is None
    publisher = CallbackPublisher(lambda e: broker.publish(e.channel, e))
    await publisher.publish(event.model_copy(update={"seq": 9}))
    async with broker.subscribe("c", after="r:4") as tail:
        assert (await anext(tail)).seq == 9


async def test_a_memory_broker_queues_past_what_it_retains() -> None:
    broker = MemoryBroker(retain=3)
    event = StreamEvent(type="usage", seq=1, run_id="r", channel="c")
    async with broker.subscribe("c") as live:
        for seq in (1, 2, 3, 4):  # published before the reader reads any
            await broker.publish("c", event.model_copy(update={"seq": seq}))
        assert [(await anext(live)).seq for _ in range(4)] == [1, 2, 3, 4]
    assert broker.channels() == ["c"]


async def test_sse_endpoint_streams_a_durable_run(make_broker: BrokerFactory) -> None:
    broker: Any = make_broker()
    network = _network(FunctionModel(_respond))
    async with LocalExecutor() as executor:
        client = executor.client("sse")
        url = await executor.attach(create_server(client=client, networks=[network], broker=broker))
        base = url.removesuffix("/api/inngest")
        received: list[dict[str, Any]] = []
        ids: list[str] = []

        async def listen() -> None:
            async with (
                httpx.AsyncClient(timeout=30) as http,
                http.stream("GET", f"{base}/streams/t-1", params={"until": "done"}) as response,
            ):
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    if line.startswith("data:") and "run_id" in line:
                        received.append(json.loads(line[5:]))
                    elif line.startswith("id:"):
                        ids.append(line[3:].strip())

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(broker.wait_for_subscribers("t-1"), 10)
        await executor.run("network-stream", {"input": "q", "thread_id": "t-1"})
        await asyncio.wait_for(listener, 30)
    assert received[0]["type"] == "run.started"
    assert received[-1]["type"] == "run.completed"
    assert ids == [f"{e['run_id']}:{e['seq']}" for e in received]
    assert [e["seq"] for e in received] == sorted(e["seq"] for e in received)
    assert broker.subscriber_count == 0


def _parallel_network(model: Any) -> Any:
    @tool
    def lookup(key: str, ctx: ToolContext) -> str:
        """Look a key up."""
        return f"value of {key}"

    @tool
    def remember(key: str, ctx: ToolContext) -> str:
        """Remember a key."""
        ctx.state.kv.set(key, True)
        return "remembered"

    agent = create_agent(name="Planner", model=model, tools=[lookup, remember], max_iter=2)
    return create_network(name="Parallel", agents=[agent], router=route_in_order(agent))


def _parallel_respond(call: ModelCall) -> Any:
    if call.last is not None and call.last.kind == "tool_result":
        return text("Both done.")
    return tool_calls(("lookup", {"key": "a"}, "c1"), ("remember", {"key": "b"}, "c2"))


async def test_parallel_steps_publish_each_event_once() -> None:
    """Parallel tool calls are planned in one request and run in requests that
    target one step each; only the planning request publishes the held events."""
    inline = Recorder()
    await _parallel_network(FunctionModel(_parallel_respond)).run(
        "q", runner=InlineRunner(publisher=inline)
    )
    durable = Recorder()
    network = _parallel_network(FunctionModel(_parallel_respond))
    async with LocalExecutor() as executor:
        client = executor.client("parallel")
        # planned parallel steps: the request-per-step path (checkpointing off or fallen back)
        fn = network_function(network, client=client, publisher=durable, checkpointing=False)
        await executor.attach(create_server(client=client, functions=[fn]))
        run = await executor.run("network-parallel", {"input": "q", "thread_id": "t-p"})
        targeted = [r for r in executor.requests_for(run) if r.step != "step"]
        assert len(targeted) >= 3  # both tools and the inference after them
    seqs = [e.seq for e in durable.events]
    assert len(seqs) == len(set(seqs)), [(e.type, e.seq) for e in durable.events]
    # the same events; inline, the two tools interleave, durable they sort by step
    assert sorted(durable.summary()) == sorted(inline.summary())
    tools = [(kind, name) for kind, name in durable.summary() if kind.startswith("tool.")]
    assert tools == [
        ("tool.call", "lookup"),
        ("tool.result", "lookup"),
        ("tool.call", "remember"),
        ("tool.result", "remember"),
    ]


class _FailsMidStream(FunctionModel):
    """Streams a few words, then fails retriably, once; then answers normally."""

    def __init__(self) -> None:
        super().__init__(lambda call: text("Hi there, all fine"))
        self.failed = False

    async def request(self, body: dict[str, Any], *, on_text: Any = None) -> dict[str, Any]:
        if not self.failed:
            self.failed = True
            if on_text is not None:
                await on_text("Hello ")
                await on_text("wor")
            raise RetriableProviderError("the connection dropped mid-stream", provider="test")
        return await super().request(body, on_text=on_text)


def _latest_text(events: list[StreamEvent]) -> str:
    """What a client shows: per inference step, the deltas of its highest attempt."""
    latest: dict[str, int] = {}
    for event in events:
        if event.type == "text.delta":
            step = event.data["step"]
            latest[step] = max(latest.get(step, 0), event.attempt)
    return "".join(
        e.data["delta"]
        for e in sorted(events, key=lambda e: e.seq)
        if e.type == "text.delta" and e.attempt == latest[e.data["step"]]
    )


def _single_agent(model: Any) -> Any:
    agent = create_agent(name="Talker", model=model, max_iter=1)
    return create_network(name="Retry", agents=[agent], router=route_in_order(agent))


async def test_a_retried_inference_streams_again_under_a_new_attempt() -> None:
    inline = Recorder()
    await _single_agent(_FailsMidStream()).run(
        "q", runner=InlineRunner(publisher=inline, backoff=0)
    )
    broker = MemoryBroker()
    durable = Recorder()
    async with LocalExecutor() as executor, broker.subscribe("t-r") as live:
        client = executor.client("retry")
        fn = network_function(
            _single_agent(_FailsMidStream()),
            client=client,
            publisher=FanOut(durable, BrokerPublisher(broker)),
        )
        await executor.attach(create_server(client=client, functions=[fn]))
        await executor.run("network-retry", {"input": "q", "thread_id": "t-r"})
        delivered: list[StreamEvent] = []
        async for event in live:
            delivered.append(event)
            if event.type == "run.completed":
                break
    # the retry re-sends the events held before the step, under the same seqs
    by_seq: dict[int, StreamEvent] = {}
    for event in durable.events:
        assert by_seq.setdefault(event.seq, event) == event
    for events in (inline.events, list(by_seq.values()), delivered):
        deltas = [e for e in events if e.type == "text.delta"]
        assert [(e.data["delta"], e.attempt) for e in deltas] == [
            ("Hello ", 0),
            ("wor", 0),
            ("Hi ", 1),
            ("there, ", 1),
            ("all ", 1),
            ("fine", 1),
        ]
        assert {e.data["step"] for e in deltas} == {"Talker#1/infer"}
        assert _latest_text(events) == "Hi there, all fine"
        assert len({e.seq for e in events}) == len(events)


async def test_a_plain_python_failure_publishes_run_failed() -> None:
    recorder = Recorder()
    model = FunctionModel(lambda call: FatalProviderError("HTTP 401: bad key", provider="test"))
    with pytest.raises(FatalProviderError):
        await _single_agent(model).run("q", runner=InlineRunner(publisher=recorder))
    assert [e.type for e in recorder.events] == ["run.started", "agent.started", "run.failed"]
    assert recorder.events[-1].data == {"error": "HTTP 401: bad key"}


async def test_an_agent_function_streams_a_whole_run() -> None:
    recorder = Recorder()
    agent = create_agent(name="Solo", model=FunctionModel(lambda call: text("Just me.")))
    async with LocalExecutor() as executor:
        client = executor.client("solo")
        fn = agent_function(agent, client=client, publisher=recorder)
        await executor.attach(create_server(client=client, functions=[fn]))
        await executor.run("agent-solo", {"input": "q", "thread_id": "t-s"})
    assert recorder.summary() == [
        ("run.started", None),
        ("agent.started", "Solo"),
        ("text", "Just me."),
        ("usage", None),
        ("agent.finished", "Solo"),
        ("run.completed", None),
    ]
    started, completed = recorder.events[0], recorder.events[-1]
    assert started.agent == "Solo" and started.data == {"input": "q", "network": None}
    assert completed.data["output"] == "Just me."
