"""OpenTelemetry spans of a run: one tree, GenAI conventions, once per step execution.

Spans land in the SDK's in-memory exporter. Models are the OpenAI adapter over real
HTTP against the local fake provider; durable runs go through the real app driven by
the local Inngest executor, so every span of a run comes from many requests.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from agentkit_inngest import (
    ToolContext,
    ToolRetry,
    configure_tracing,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest._steps._tracing import NO_TRACING, RunTracing
from agentkit_inngest._tracing import CAPTURE_ENV, reset
from agentkit_inngest.messages import Usage
from agentkit_inngest.models import openai
from agentkit_inngest.testing import LocalExecutor, text, tool_call, tool_calls
from agentkit_inngest.testing.fake_providers import FakeProvider

from .tracing_helpers import Traced, attrs, parents_resolve, render, waterfall_svg


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    found = Traced.new()
    configure_tracing(tracer_provider=found.provider, inngest=False)
    yield found
    reset()
    found.provider.shutdown()


def _model(provider_url: str, **kw: Any) -> Any:
    return openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test", **kw)


def _support_network(provider_url: str, effects: collections.Counter[str]) -> Any:
    @tool
    def save_answer(answer: str, ctx: ToolContext) -> str:
        """Save the answer."""
        effects[answer] += 1
        ctx.state.kv.set("answer", answer)
        return "saved"

    agent = create_agent(
        name="Support",
        system="You answer questions.",
        model=_model(provider_url),
        tools=[save_answer],
        max_iter=2,
    )
    return create_network(name="Helpdesk", agents=[agent], router=route_in_order(agent))


DOCS = Path(__file__).resolve().parents[1] / "docs" / "tracing.md"
ARTIFACTS = DOCS.parents[1] / "tests" / ".artifacts"  # the trace picture of each run (git-ignored)

PLAIN_TREE = """\
invoke_workflow Helpdesk
├─ plan router
├─ invoke_agent Support
│  ├─ chat gpt-test [attempt 0]
│  ├─ execute_tool save_answer [attempt 0]
│  └─ chat gpt-test [attempt 0]
└─ plan router"""


async def test_a_plain_run_is_one_tree_of_genai_spans(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        dataclasses.replace(
            tool_call("save_answer", {"answer": "42"}, id="call-1"), usage=Usage(input_tokens=7)
        ),
        text("It is 42.", usage=Usage(input_tokens=11, output_tokens=4)),
    )
    await _support_network(provider_url, collections.Counter()).run("What is it?")
    spans = traced.spans
    assert render(spans) == PLAIN_TREE
    assert parents_resolve(spans) and len({s.context.trace_id for s in spans}) == 1
    run, agent = traced.named("invoke_workflow")[0], traced.named("invoke_agent")[0]
    chats, tools = traced.named("chat"), traced.named("execute_tool")
    assert attrs(run)["gen_ai.operation.name"] == "invoke_workflow"
    assert attrs(run)["gen_ai.workflow.name"] == "Helpdesk"
    assert attrs(agent) | {"gen_ai.usage.input_tokens": 18} == attrs(agent)
    assert attrs(agent)["gen_ai.agent.id"] == "Support#1"
    first = attrs(chats[0])
    assert first["gen_ai.operation.name"] == "chat" and chats[0].kind is SpanKind.CLIENT
    assert first["gen_ai.provider.name"] == first["gen_ai.system"] == "openai"
    assert first["gen_ai.request.model"] == first["gen_ai.response.model"] == "gpt-test"
    assert str(first["gen_ai.response.id"]).startswith("chatcmpl-fake-")
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first["gen_ai.usage.input_tokens"] == 7
    assert first["server.address"] == "127.0.0.1" and first["agentkit.step.id"] == "Support#1/infer"
    assert attrs(chats[1])["gen_ai.response.finish_reasons"] == ("stop",)
    tool_span = attrs(tools[0])
    assert tool_span["gen_ai.tool.name"] == "save_answer"
    assert tool_span["gen_ai.tool.call.id"] == "call-1"
    assert tool_span["gen_ai.tool.type"] == "function"
    assert tools[0].kind is SpanKind.INTERNAL
    assert tools[0].parent is not None and tools[0].parent.span_id == agent.context.span_id
    assert not [k for s in spans for k in attrs(s) if "messages" in k or "arguments" in k]


def _flaky_network(effects: collections.Counter[str], provider_url: str) -> Any:
    @tool
    def note(fact: str, ctx: ToolContext) -> str:
        """Record a fact."""
        effects[fact] += 1
        if fact == "WAL" and effects[fact] == 1:
            raise ToolRetry("the notebook is busy")
        return "noted"

    agent = create_agent(name="Researcher", model=_model(provider_url), tools=[note], max_iter=2)
    return create_network(name="Research", agents=[agent], router=route_in_order(agent))


async def test_a_durable_run_emits_each_span_once_and_a_retry_as_a_new_attempt(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(
        tool_calls(("note", {"fact": "MVCC"}, "n1"), ("note", {"fact": "WAL"}, "n2")),
        text("Two facts."),
    )
    async with LocalExecutor() as executor:
        client = executor.client("trace-app")
        network = _flaky_network(effects, provider_url)
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-research", {"input": "postgres"})
        requests = executor.requests_for(run)
        emitted = len(traced.spans)
        answer = await executor.replay(run)  # a replay after the last step
        assert answer.status_code == 200 and len(traced.spans) == emitted
    spans = traced.spans
    # checkpointed (the default), the first request runs until the tool asks for a retry;
    # the retry and the requests after it replay the earlier steps
    assert len(requests) >= 3 and parents_resolve(spans)
    assert len({s.context.trace_id for s in spans}) == 1
    by_step = collections.defaultdict(list)
    for span in spans:
        if "agentkit.step.id" in attrs(span):
            by_step[attrs(span)["agentkit.step.id"]].append(span)
    assert {k: len(v) for k, v in by_step.items()} == {
        "Researcher#1/infer": 1,
        "Researcher#1/tool/note": 1,
        "Researcher#1/tool/note#2": 2,
        "Researcher#1/infer#2": 1,
    }
    retried = by_step["Researcher#1/tool/note#2"]
    assert [attrs(s)["agentkit.step.attempt"] for s in retried] == [0, 1]
    assert retried[0].status.status_code.name == "ERROR"
    assert attrs(retried[0])["error.type"] == "ToolRetry"
    assert retried[1].status.status_code.name == "UNSET"
    logical = [s.name for s in spans if "agentkit.step.id" not in attrs(s)]
    assert sorted(logical) == sorted(
        ["invoke_workflow Research", "invoke_agent Researcher", "plan router"] * 1 + ["plan router"]
    )
    agent = traced.named("invoke_agent")[0]
    assert {s.parent.span_id for v in by_step.values() for s in v if s.parent} == {
        agent.context.span_id
    }
    run_span = traced.named("invoke_workflow")[0]
    assert run_span.start_time is not None and agent.start_time is not None
    assert run_span.start_time <= agent.start_time <= min(s.start_time or 0 for s in retried)
    assert effects == {"MVCC": 1, "WAL": 2}


async def test_parallel_tool_steps_from_separate_requests_share_their_agent(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    facts = ["MVCC", "TOAST", "VACUUM"]
    fake_provider.reply(
        tool_calls(*[("note", {"fact": f}, f"c{i}") for i, f in enumerate(facts)]),
        text("Three facts."),
    )
    async with LocalExecutor(seed=7) as executor:
        client = executor.client("trace-app")
        network = _flaky_network(effects, provider_url)
        # planned parallel steps: the request-per-step path (checkpointing off or fallen back)
        app = create_server(client=client, networks=[network], checkpointing=False)
        await executor.attach(app)
        run = await executor.run("network-research", {"input": "postgres"})
        targeted = [r.step for r in executor.requests_for(run) if r.step != "step"]
    assert len(targeted) >= 3  # each parallel step ran in a request of its own
    tools = traced.named("execute_tool")
    agent = traced.named("invoke_agent")[0]
    assert sorted(attrs(s)["gen_ai.tool.call.id"] for s in tools) == ["c0", "c1", "c2"]
    assert all(s.parent is not None and s.parent.span_id == agent.context.span_id for s in tools)
    assert all(s.context.trace_id == agent.context.trace_id for s in tools)


async def test_parallel_tools_in_plain_python_hang_under_their_agent(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        tool_calls(("note", {"fact": "a"}, "a1"), ("note", {"fact": "b"}, "b1")), text("ok")
    )
    await _flaky_network(collections.Counter(), provider_url).run("go")
    agent = traced.named("invoke_agent")[0]
    tools = traced.named("execute_tool")
    assert len(tools) == 2
    assert {s.parent.span_id for s in tools if s.parent} == {agent.context.span_id}


@pytest.mark.parametrize(
    ("argument", "env", "recorded"),
    [
        (None, None, False),
        (None, "false", False),
        (None, "true", True),
        (None, "SPAN_ONLY", True),
        (True, None, True),
        (False, "true", False),
    ],
)
async def test_prompts_and_completions_are_recorded_only_when_opted_in(
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
    argument: bool | None,
    env: str | None,
    recorded: bool,
) -> None:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(CAPTURE_ENV, env)
    found = Traced.new()
    configure_tracing(tracer_provider=found.provider, capture_content=argument, inngest=False)
    try:
        fake_provider.reply(
            tool_call("save_answer", {"answer": "my secret"}, id="s1"), text("Saved.")
        )
        await _support_network(provider_url, collections.Counter()).run("I am Ada, 36.")
    finally:
        reset()
    chat, tool_span = found.named("chat")[0], found.named("execute_tool")[0]
    content = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
    assert (content <= set(attrs(chat))) is recorded
    assert ("gen_ai.tool.call.arguments" in attrs(tool_span)) is recorded
    if recorded:
        sent = json.loads(attrs(chat)["gen_ai.input.messages"])
        assert sent == [{"role": "user", "parts": [{"type": "text", "content": "I am Ada, 36."}]}]
        answered = json.loads(attrs(chat)["gen_ai.output.messages"])
        assert answered[0]["parts"][0]["type"] == "tool_call"
        assert answered[0]["parts"][0]["arguments"] == {"answer": "my secret"}
        system = json.loads(attrs(chat)["gen_ai.system_instructions"])
        assert system == [{"type": "text", "content": "You answer questions."}]
        assert json.loads(attrs(tool_span)["gen_ai.tool.call.result"]) == "saved"
    else:
        assert not any("my secret" in str(v) or "Ada" in str(v) for v in attrs(chat).values())


async def test_tracing_off_is_the_no_op_seam(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    reset()  # nothing configured, and the global provider is OpenTelemetry's proxy
    fake_provider.reply(text("hi"))
    run = await _support_network(provider_url, collections.Counter()).run("hello")
    assert run.runner.tracing is NO_TRACING and not run.runner.stream.gated
    configure_tracing(enabled=False)  # off even when something is configured
    try:
        fake_provider.reply(text("hi"))
        run = await _support_network(provider_url, collections.Counter()).run("hello")
        assert run.runner.tracing is NO_TRACING
    finally:
        reset()


async def test_a_run_nests_under_the_callers_span_in_plain_python(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("hi"), text("hello again"))
    tracer = traced.provider.get_tracer("the-app")
    with tracer.start_as_current_span("handle request") as outer:
        run = await _support_network(provider_url, collections.Counter()).run("hello")
        await _support_network(provider_url, collections.Counter()).run("again")
    assert isinstance(run.runner.tracing, RunTracing)
    workflows = traced.named("invoke_workflow")
    assert len(workflows) == 2 and len(traced.named("invoke_agent")) == 2
    assert {w.parent.span_id for w in workflows if w.parent} == {outer.get_span_context().span_id}
    assert {s.context.trace_id for s in traced.spans} == {outer.get_span_context().trace_id}
    assert len({s.context.span_id for s in traced.spans}) == len(traced.spans)
    one = "invoke_workflow Helpdesk", "plan router", "invoke_agent Support", "chat gpt-test"
    assert render(traced.spans).splitlines() == [
        "handle request",
        *[f"├─ {one[0]}", f"│  ├─ {one[1]}", f"│  ├─ {one[2]}", f"│  │  └─ {one[3]} [attempt 0]"],
        "│  └─ plan router",
        *[f"└─ {one[0]}", f"   ├─ {one[1]}", f"   ├─ {one[2]}", f"   │  └─ {one[3]} [attempt 0]"],
        "   └─ plan router",
    ]


async def test_the_trace_shown_in_the_docs_is_what_a_durable_run_emits(
    traced: Traced, fake_provider: FakeProvider, provider_url: str
) -> None:
    """docs/tracing.md shows this test's span tree (rendered as text: no trace UI runs
    in CI); the docs change when the spans do."""
    fake_provider.reply(
        tool_calls(("note", {"fact": "MVCC"}, "n1"), ("note", {"fact": "WAL"}, "n2")),
        text("Two facts."),
    )
    async with LocalExecutor() as executor:
        client = executor.client("trace-app")
        network = _flaky_network(collections.Counter(), provider_url)
        await executor.attach(create_server(client=client, networks=[network]))
        await executor.run("network-research", {"input": "postgres"})
    tree = render(traced.spans)
    docs = DOCS.read_text()
    assert f"```text\n{tree}\n```" in docs, tree
    # the same spans as a picture (docs/img/trace.svg is one such run's), a bar per span
    picture = waterfall_svg(traced.spans)
    assert picture.count('class="span"') == len(traced.spans) == len(tree.splitlines())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "trace.svg").write_text(picture)
