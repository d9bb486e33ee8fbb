"""Where spans go, and what cannot break them.

- Step spans reach the Inngest server's ``/v1/traces/userland`` (the local executor
  serves it as the server does) carrying what ties them to the run and the step;
  the executor sends each call the ``traceparent``/``tracestate`` the server sends.
- Hostile values (lone surrogates, NaN, huge integers and strings, deep nesting) in
  attributes and captured content end as bounded, valid values that encode as OTLP.
- Without the ``otel`` extra (or OpenTelemetry at all) runs are untouched.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from agentkit_inngest import (
    MissingExtraError,
    ToolContext,
    configure_tracing,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest._steps._tracing import NO_TRACING
from agentkit_inngest._tracing import CAPTURE_ENV, parse_trace_headers, reset
from agentkit_inngest._tracing._attrs import MAX_CONTENT, MAX_TEXT, clean, input_messages, to_json
from agentkit_inngest.mcp import MCPServer
from agentkit_inngest.messages import (
    Message,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolResultMessage,
)
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call

from .security_helpers import SIGNING_KEY
from .tracing_helpers import Traced, attrs


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    found = Traced.new()
    configure_tracing(tracer_provider=found.provider)  # with the export to Inngest
    yield found
    reset()
    found.provider.shutdown()


def _network(result: Any = "saved") -> Any:
    @tool
    def save(answer: str, ctx: ToolContext) -> Any:
        """Save the answer."""
        ctx.state.kv.set("answer", answer)
        return result

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("Saved.")
        return tool_call("save", {"answer": "42"}, id="s1")

    agent = create_agent(name="Clerk", model=FunctionModel(respond), tools=[save], max_iter=2)
    return create_network(name="Desk", agents=[agent], router=route_in_order(agent))


async def _run_served(
    executor: LocalExecutor, client: Any, network: Any, *, checkpointing: bool | None = None
) -> Any:
    await executor.attach(
        create_server(client=client, networks=[network], checkpointing=checkpointing)
    )
    return await executor.run("network-desk", {"input": "save it"})


async def test_step_spans_reach_the_executors_trace_endpoint_tied_to_the_run(
    traced: Traced,
) -> None:
    async with LocalExecutor() as executor:
        run = await _run_served(executor, executor.client("trace-app"), _network())
        await asyncio.to_thread(traced.provider.force_flush)
        kept, exports = list(executor.traces.spans), list(executor.traces.exports)
        sent = [tp for run_id, tp in executor.traces.traceparents if run_id == run.id]
    assert exports and all(status == 200 and rejected == 0 for status, _, rejected in exports)
    steps = {s.attributes["inngest.step.id"]: s for s in kept}
    assert set(steps) == {"Clerk#1/infer", "Clerk#1/tool/save", "Clerk#1/infer#2"}
    fn_uuid = executor.checkpoint_api.function_uuid(run.fn_id)
    for span in kept:
        assert span.run_id == run.id and span.function_id == fn_uuid
        assert span.attributes["inngest.step.attempt"] == 0
        assert len(span.attributes["inngest.step.hash"]) == 40
        assert span.attributes["sys.app.id"] and span.attributes["inngest.traceparent"] in sent
        # hung under the very call that ran the step
        assert span.parent_span_id == span.attributes["inngest.traceparent"].split("-")[2]
    assert steps["Clerk#1/tool/save"].name == "execute_tool save"
    # arrays would arrive empty: they are sent as JSON text
    assert json.loads(steps["Clerk#1/infer"].attributes["gen_ai.response.finish_reasons"]) == [
        "tool_calls"
    ]
    assert not [s for s in kept if s.name.startswith(("invoke_", "plan "))]  # logical: not sent
    assert len(traced.named("invoke_workflow")) == 1  # ... but in the user's own backend


async def test_a_production_app_authenticates_its_spans_with_the_signing_key(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNGEST_SIGNING_KEY", SIGNING_KEY)
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("trace-app", signing_key=SIGNING_KEY)
        await _run_served(executor, client, _network())
        await asyncio.to_thread(traced.provider.force_flush)
        assert executor.traces.exports and len(executor.traces.spans) == 3
        async with httpx.AsyncClient() as http:
            refused = await http.post(
                f"{executor.api_url}/v1/traces/userland",
                content=b"",
                headers={"authorization": "Bearer not-the-key"},
            )
    assert refused.status_code == 401


def _otlp(**attributes: Any) -> bytes:
    """One span, encoded by the SDK's own OTLP encoder."""
    found = Traced.new()
    with found.provider.get_tracer("probe").start_as_current_span("probe") as span:
        span.set_attributes(attributes)
    return bytes(encode_spans(found.spans).SerializeToString())


async def test_the_trace_endpoint_keeps_only_spans_it_can_tie_to_a_run() -> None:
    async with LocalExecutor() as executor:
        await executor.attach(create_server(client=executor.client("probe"), networks=[_network()]))
        fn_uuid = executor.checkpoint_api.function_uuid(executor.function_id("network-desk"))
        traceref = urllib.parse.quote(json.dumps({"tp": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}))
        good = {"inngest.traceref": traceref, "sdk.run.id": "01J" + "0" * 23}
        good["sys.function.id"] = fn_uuid
        cases = {
            "kept": (good, 0),
            "no traceref": ({k: v for k, v in good.items() if k != "inngest.traceref"}, 1),
            "traceref without tp": ({**good, "inngest.traceref": "%7B%7D"}, 1),
            "run id not a ULID": ({**good, "sdk.run.id": "run-1"}, 1),
            "unknown function": (
                {**good, "sys.function.id": "0" * 8 + "-0000-0000-0000-" + "0" * 12},
                1,
            ),
        }
        url = f"{executor.api_url}/v1/traces/userland"
        async with httpx.AsyncClient() as http:
            for name, (attributes, rejected) in cases.items():
                answer = await http.post(
                    url,
                    content=_otlp(**attributes),
                    headers={"content-type": "application/x-protobuf"},
                )
                assert answer.status_code == 200, name
                assert executor.traces.exports[-1] == (200, 1, rejected), name
            garbage = await http.post(url, content=b"\xff\x00not otlp")
            too_big = await http.post(url, content=b"\0" * (executor.traces.max_body + 1))
    assert garbage.status_code == 400 and too_big.status_code == 413
    assert len(executor.traces.spans) == 1


async def test_every_call_carries_the_run_trace_headers_the_server_sends() -> None:
    # several calls of one run: the request-per-step path (checkpointing off or fallen back)
    async with LocalExecutor() as executor:
        client = executor.client("trace-app")
        run = await _run_served(executor, client, _network(), checkpointing=False)
    sent = [tp for run_id, tp in executor.traces.traceparents if run_id == run.id]
    assert len(sent) == len(executor.requests_for(run)) >= 3
    assert len({tp.split("-")[1] for tp in sent}) == 1  # one trace per run
    assert len({tp.split("-")[2] for tp in sent}) == len(sent)  # a span per call
    headers = executor.traces.headers(run)
    parsed = parse_trace_headers(headers["traceparent"], headers["tracestate"])
    assert parsed is not None and parsed.fn_id == executor.checkpoint_api.function_uuid(run.fn_id)
    assert json.loads(urllib.parse.unquote(parsed.traceref)) == {"tp": parsed.traceparent, "ts": ""}
    assert parse_trace_headers(headers["traceparent"], "vendor=1") is None
    assert parse_trace_headers("not-a-traceparent", headers["tracestate"]) is None


async def test_an_mcp_call_is_described_on_its_tool_span(traced: Traced) -> None:
    script = str(Path(__file__).with_name("mcp_test_server.py"))
    calc = MCPServer.stdio("calc", command=sys.executable, args=[script])

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("42")
        return tool_call("calc-add", {"a": 2, "b": 40}, id="m1")

    agent = create_agent(name="Calc", model=FunctionModel(respond), mcp_servers=[calc], max_iter=2)
    await agent.run("2 + 40?")
    listing, call = traced.named("tools/list")[0], traced.named("execute_tool calc-add")[0]
    assert attrs(listing)["mcp.method.name"] == "tools/list"
    assert attrs(call)["mcp.method.name"] == "tools/call"
    assert (
        attrs(call)["agentkit.mcp.server"] == "calc" and attrs(call)["agentkit.mcp.tool"] == "add"
    )


# -- hostile values --------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(),
    st.just("\ud800 lone \udfff surrogates"),
    st.just("\0NUL\0"),
    st.builds(lambda n: "x" * n, st.integers(0, 200_000)),
)
HOSTILE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        HOSTILE_TEXT,
        st.binary(max_size=16),
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _encodes(value: object) -> None:
    """``value`` as an attribute goes through a real span and the OTLP encoder."""
    cleaned = clean(value)
    if cleaned is None:
        return
    found = Traced.new()
    with found.provider.get_tracer("probe").start_as_current_span("probe") as span:
        span.set_attribute("probe", cleaned)
    assert found.spans[0].attributes is not None and "probe" in found.spans[0].attributes
    encoded = encode_spans(found.spans)  # the OTLP encoder drops a value it cannot encode
    kept = encoded.resource_spans[0].scope_spans[0].spans[0].attributes
    assert [kv.key for kv in kept] == ["probe"]
    encoded.SerializeToString()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(HOSTILE)
def test_hostile_values_become_bounded_attributes_that_encode(value: object) -> None:
    cleaned = clean(value)
    if isinstance(cleaned, str):
        assert len(cleaned) <= MAX_TEXT
        cleaned.encode("utf-8")  # no lone surrogate left
    if isinstance(cleaned, float):
        assert math.isfinite(cleaned)
    if isinstance(cleaned, int) and not isinstance(cleaned, bool):
        assert -(2**63) <= cleaned < 2**63
    _encodes(value)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(HOSTILE_TEXT, HOSTILE)
def test_captured_content_stays_valid_json_within_its_bound(words: str, result: object) -> None:
    conversation: list[Message] = [
        TextMessage(role="user", content=words),
        ToolCallMessage(tools=(ToolCall(id="c", name="t", arguments={"v": words}),)),
        ToolResultMessage(tool_call_id="c", name="t", content=words),
    ]
    encoded = input_messages(conversation)
    assert len(encoded) <= MAX_CONTENT and isinstance(json.loads(encoded), list)
    encoded.encode("utf-8")
    as_result = to_json(result)
    assert len(as_result) <= MAX_CONTENT
    json.loads(as_result)
    _encodes(encoded)


async def test_a_tool_with_a_hostile_result_is_traced_with_content_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = Traced.new()
    configure_tracing(tracer_provider=found.provider, capture_content=True, inngest=False)
    try:
        hostile = {"nan": math.nan, "big": 2**90, "text": "\ud800" + "y" * 300_000}
        run = await _network(hostile).run("save it")
    finally:
        reset()
    assert run.state.kv.get("answer") is None  # not JSON: reported to the model instead
    tool_span = found.named("execute_tool")[0]
    assert attrs(tool_span)["error.type"] == "tool_error"
    result = attrs(tool_span)["gen_ai.tool.call.result"]
    assert len(result) <= MAX_CONTENT
    json.loads(result)
    encode_spans(found.spans).SerializeToString()


# -- without the extra -------------------------------------------------------------------------


def _hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``module`` and its submodules look uninstalled (as tests/test_extras.py does)."""
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)


async def test_without_the_otel_extra_configuring_names_it_and_runs_are_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset()
    _hide(monkeypatch, "opentelemetry.sdk")
    with pytest.raises(MissingExtraError, match=r"agentkit-inngest\[otel\]"):
        configure_tracing()
    run = await _network().run("save it")
    assert run.runner.tracing is NO_TRACING and run.state.kv.get("answer") == "42"


async def test_without_opentelemetry_at_all_runs_are_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset()
    _hide(monkeypatch, "opentelemetry")
    run = await _network().run("save it")
    assert run.runner.tracing is NO_TRACING and run.state.kv.get("answer") == "42"
    assert "opentelemetry.trace" not in sys.modules  # nothing imported it again
