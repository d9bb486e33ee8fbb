"""Provider faults at the HTTP level, through the official SDK clients (httpx for
Gemini) and the local fake servers: streams cut short, answers sent slowly, error
bodies that echo the API key, and ``retry-after`` values of every kind."""

from __future__ import annotations

import asyncio
import collections
import datetime
import gc
import json
import sys
import time
import types
from typing import Any

import pytest

from agentkit_inngest import (
    FatalProviderError,
    InlineRunner,
    Model,
    Network,
    RetriableProviderError,
    TextMessage,
    ToolCallMessage,
    ToolContext,
    create_agent,
    create_network,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.errors import MAX_RETRY_AFTER
from agentkit_inngest.models import ModelRequest, ModelResponse, anthropic
from agentkit_inngest.models._common import redact
from agentkit_inngest.testing import text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

from .message_helpers import content
from .test_durable import app_with
from .test_providers import KINDS, _model
from .test_streaming import Recorder

FULL = "Transfer approved: send $1000 to account 12345 today."
CUT = "Transfer approved: send $1"  # what a cut stream had delivered


def _body(model: Model) -> dict[str, Any]:
    return model.build_body(ModelRequest(messages=[TextMessage(role="user", content="q")]))


async def _streamed(model: Model, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    pieces: list[str] = []

    async def sink(piece: str) -> None:
        pieces.append(piece)

    raw = await model.complete(body, on_text=sink)
    return raw, "".join(pieces)


# -- 4. a stream cut short is an error, never the answer ------------------------------------

CUTS: dict[str, dict[str, Any]] = {
    "after-3-events": {"cut_after": 3},
    "without-the-end-signal": {"cut_end": True},
}
ANSWERS: dict[str, ModelResponse | str] = {
    "text": FULL,
    "tool-call": tool_call("book", {"ref": "A", "note": FULL}, id="c1"),
}


@pytest.mark.parametrize("answer", sorted(ANSWERS))
@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_cut_short_is_a_retriable_error(
    kind: str, cut: str, answer: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    options: dict[str, Any] = dict(CUTS[cut])
    if kind == "gemini" and answer == "tool-call" and "cut_after" in options:
        options["cut_after"] = 0  # Gemini sends a call whole, in the stream's one chunk
    fake_provider.reply(Fault(answer=ANSWERS[answer], **options), ANSWERS[answer])
    model = _model(kind, provider_url)
    with pytest.raises(RetriableProviderError, match="stream ended before the answer was complete"):
        await _streamed(model, _body(model))
    raw, _ = await _streamed(model, _body(model))  # the next attempt gets all of it
    whole = model.parse_response(raw).output[0]
    if answer == "text":
        assert content(whole) == FULL
    else:
        assert isinstance(whole, ToolCallMessage)
        assert whole.tools[0].arguments == {"ref": "A", "note": FULL}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_non_streamed_body_cut_short_is_a_retriable_error(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    """The same rule without streaming (it held before: the parity the fix restores)."""
    fake_provider.reply(Fault(answer=FULL, cut_after=60))
    model = _model(kind, provider_url)
    with pytest.raises(RetriableProviderError):
        await model.complete(_body(model))


def _booking(model: Model, effects: collections.Counter[str]) -> Network[Any]:
    @tool
    def book(ref: str, ctx: ToolContext) -> str:
        """Book a slot."""
        effects[ref] += 1
        ctx.state.kv.set("booked", ref)
        return f"booked {ref}"

    agent = create_agent(name="Booker", model=model, tools=[book], max_iter=2)
    return create_network(name="Booking", agents=[agent], router=route_in_order(agent))


def _cut_then_whole() -> list[Any]:
    return [tool_call("book", {"ref": "A"}), Fault(answer=FULL, cut_after=4), text(FULL)]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cut_stream_is_retried_in_process_and_the_run_completes_whole(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    recorder = Recorder()
    fake_provider.reply(*_cut_then_whole())
    network = _booking(_model(kind, provider_url), effects)
    run = await network.run("book A", runner=InlineRunner(publisher=recorder, backoff=0))
    assert content(run.results[-1].output[-1]) == FULL
    assert effects == {"A": 1} and len(fake_provider.requests) == 3
    deltas = [e for e in recorder.events if e.type == "text.delta"]
    assert {e.attempt for e in deltas} == {0, 1}  # the cut attempt streamed, then the retry


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cut_stream_under_the_executor_is_retried_and_nothing_partial_is_memoized(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(*_cut_then_whole())
    network = _booking(_model(kind, provider_url), effects)

    def function(client: Any) -> Any:
        return network_function(network, client=client, retries=2, publisher=Recorder())

    async with app_with(functions=[function]) as (executor, _):
        run = await executor.run("network-booking", {"input": "book A"})
    assert run.output["output"] == FULL
    assert effects == {"A": 1}  # the memoized tool step never ran again
    retried = [r for r in executor.requests_for(run) if r.attempt > 0]
    assert len(retried) == 1, "the cut stream cost exactly one retry of its step"
    memos = [json.dumps(memo) for memo in run.memos.values()]
    assert any(FULL in memo for memo in memos)
    assert not any(CUT in memo and FULL not in memo for memo in memos)


@pytest.mark.parametrize(
    ("code", "error"),
    [(503, RetriableProviderError), (400, FatalProviderError), (None, RetriableProviderError)],
)
async def test_a_gemini_error_chunk_mid_stream_is_classified_by_its_code(
    code: int | None, error: type[Exception], fake_provider: FakeProvider, provider_url: str
) -> None:
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Transfer "}]}}]}
    failure = {"error": {"code": code, "message": "backend overloaded", "status": "UNAVAILABLE"}}
    stream = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in (first, failure))
    fake_provider.reply(Fault(status=200, body=stream))
    model = _model("gemini", provider_url)
    with pytest.raises(error, match="backend overloaded") as caught:
        await _streamed(model, _body(model))
    assert type(caught.value) is error


async def test_an_error_in_the_text_sink_is_not_taken_for_a_bad_answer(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """A listener that fails (a stream broker down) fails the call with its own error,
    not as an unreadable answer."""
    fake_provider.reply(text(FULL))
    model = _model("openai", provider_url)

    async def broken(piece: str) -> None:
        raise LookupError("the stream broker is gone")

    with pytest.raises(LookupError, match="broker is gone"):
        await model.complete(_body(model), on_text=broken)


def _qualname(code: types.CodeType) -> str:
    """``code``'s qualified name where Python has it (3.11+), else its name."""
    if sys.version_info >= (3, 11):
        return code.co_qualname
    return code.co_name


def _suspended_generators() -> list[str]:
    """The HTTP clients' body generators left suspended mid-stream (alive, not closed).
    (``type(g) is``, not ``isinstance``: the collector also holds dead weak proxies, such
    as the ``websockets`` connection a logger adapter names, and ``isinstance`` on one
    raises ``ReferenceError``.)"""
    return [
        _qualname(g.ag_code)
        for g in gc.get_objects()
        if type(g) is types.AsyncGeneratorType
        and g.ag_frame is not None
        and g.ag_frame.f_lasti >= 0
        if g.ag_code.co_name in ("aiter_raw", "aiter_bytes", "__aiter__", "_iter_events")
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_that_fails_mid_answer_leaves_no_generator_suspended(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    """A malformed event fails the call inside the SDK's own stream generator; the
    generators it was reading are closed then, on this loop, not later by the
    garbage collector in whichever thread it runs (which reported "async generator
    already executing" from unrelated tests)."""
    model = _model(kind, provider_url)
    events = {
        "anthropic": 'event: message_start\ndata: {"type": "message_start", "message": {}}\n\n'
        "event: content_block_delta\ndata: {broken\n\n",
    }.get(kind, 'data: {"choices": []}\n\ndata: {broken\n\n')
    fake_provider.reply(Fault(status=200, body=events + "data: {}\n\n" * 50))
    before = len(_suspended_generators())
    with pytest.raises(RetriableProviderError):
        await _streamed(model, _body(model))
    for _ in range(100):  # the loop runs the closing it was handed, layer by layer
        if len(_suspended_generators()) <= before:
            break
        await asyncio.sleep(0)
    assert len(_suspended_generators()) <= before, _suspended_generators()


# -- 6. the timeout is a deadline for the whole call ------------------------------------------

DEADLINE = 0.5
SLOW = {  # each would hold a call for about 20 s; every pause is shorter than the timeout
    "body-dripped": (False, Fault(answer=FULL, drip=0.05)),
    "stream-dripped": (True, Fault(answer=FULL, drip=0.02)),
    "stream-keep-alives": (True, Fault(answer=FULL, keepalive=400, drip=0.05)),
}


@pytest.mark.parametrize("slow", sorted(SLOW))
@pytest.mark.parametrize("kind", KINDS)
async def test_the_timeout_is_a_deadline_for_the_whole_call(
    kind: str, slow: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    streamed, fault = SLOW[slow]
    fake_provider.reply(text("warm"), fault)
    model = _model(kind, provider_url, timeout=DEADLINE)
    await model.complete(_body(model))  # the client is made (and its SDK imported) first
    call = _streamed(model, _body(model)) if streamed else model.complete(_body(model))
    started = time.monotonic()
    with pytest.raises(RetriableProviderError, match=r"deadline of 0\.5 s") as caught:
        await call
    assert "timed out" in str(caught.value) and caught.value.retriable
    assert time.monotonic() - started < 10 * DEADLINE  # the provider would go on for ~20 s


async def test_a_provider_that_drips_is_cut_at_the_deadline_and_the_run_completes(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(
        tool_call("book", {"ref": "A"}), Fault(answer=FULL, keepalive=400, drip=0.05), text(FULL)
    )
    network = _booking(_model("anthropic", provider_url, timeout=DEADLINE), effects)

    def function(client: Any) -> Any:
        return network_function(network, client=client, retries=2, publisher=Recorder())

    async with app_with(functions=[function]) as (executor, _):
        run = await executor.run("network-booking", {"input": "book A"})
    assert run.output["output"] == FULL and effects == {"A": 1}
    retried = [r for r in executor.requests_for(run) if r.attempt > 0]
    assert len(retried) == 1, "the slow call cost exactly one retry of its step"


# -- 9. an error body that echoes the key leaves no fragment of it --------------------------

KEY = "sk-live-Q9ZpR4wT7mVb3KdN6cHj2LfA8sEu5GnB"  # no "x" or "z": the filler below
CUT_AT = 497  # a provider's error detail keeps its first 497 characters, then "..."


def _keyed(kind: str, url: str) -> Model:
    model = _model(kind, url)
    model._api_key = KEY  # type: ignore[attr-defined]
    return model


def _fragments(text: str, size: int = 4) -> list[str]:
    """The pieces of ``KEY`` (``size`` characters or more) that appear in ``text``."""
    return [KEY[i : i + size] for i in range(len(KEY) - size + 1) if KEY[i : i + size] in text]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_key_echoed_across_the_cut_leaves_no_fragment_at_any_offset(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    model = _keyed(kind, provider_url)
    for offset in range(len(KEY) + 1):  # the cut falls `offset` characters into the key
        echoed = "x" * (CUT_AT - offset) + KEY + "z" * 40
        status = 401 if offset % 2 else 500  # fatal and retriable errors alike
        fake_provider.reply(Fault(status=status, message=echoed))
        with pytest.raises((FatalProviderError, RetriableProviderError)) as caught:
            await model.complete(_body(model))
        message = str(caught.value)
        assert f"HTTP {status}" in message
        assert not _fragments(message), (offset, message[-80:])
        assert caught.value.__cause__ is None  # the SDK's exception held the whole body


@pytest.mark.parametrize("kind", KINDS)
async def test_a_fragment_of_the_key_is_redacted_wherever_it_appears(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    """Providers echo keys masked or cut ("sk-live-Q9ZpR4...GnB"): any piece of 8
    characters or more is withheld."""
    model = _keyed(kind, provider_url)
    fake_provider.reply(
        Fault(status=401, message=f"Incorrect API key: {KEY[:12]}****{KEY[-10:]}, or {KEY[9:30]}")
    )
    with pytest.raises(FatalProviderError) as caught:
        await model.complete(_body(model))
    assert not _fragments(str(caught.value), 8), str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_redact_replaces_the_key_and_every_fragment_of_eight_characters_or_more() -> None:
    assert redact(f"key={KEY}.", [KEY]) == "key=[redacted]."
    assert redact(f"a {KEY[:8]} b {KEY[-9:]}", [KEY]) == "a [redacted] b [redacted]"
    assert redact(f"{KEY[:20]}{KEY[25:]}", [KEY]) == "[redacted]"  # adjacent pieces merge
    assert redact(f"{KEY[:7]} and {KEY[3:10]}", [KEY]) == f"{KEY[:7]} and {KEY[3:10]}"
    assert redact("short secret", ["short"]) == "short secret"  # under 8: left alone
    assert redact("nothing here", [KEY, "another-secret-value"]) == "nothing here"


# -- 11. retry-after: every legal form, capped; garbage ignored ------------------------------

RETRY_AFTER = {
    "seconds": ({"retry-after": "7"}, 7.0),
    "milliseconds": ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
    "huge-seconds": ({"retry-after": "999999999"}, MAX_RETRY_AFTER),
    "far-date": ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_RETRY_AFTER),
    "exponent": ({"retry-after": "1e308"}, None),
    "negative": ({"retry-after": "-5"}, None),
    "nan": ({"retry-after": "nan"}, None),
    "non-ascii-digits": ({"retry-after": "\u0663\u0660"}, None),
}


@pytest.mark.parametrize("case", sorted(RETRY_AFTER))
@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_is_read_in_every_form_and_capped(
    kind: str, case: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    headers, expected = RETRY_AFTER[case]
    # header values travel as bytes: non-ASCII ones as their UTF-8 bytes
    headers = {k: v.encode().decode("latin-1") for k, v in headers.items()}
    fake_provider.reply(Fault(status=429, message="slow down", headers=headers))
    model = _model(kind, provider_url)
    with pytest.raises(RetriableProviderError) as caught:
        await model.complete(_body(model))
    assert caught.value.retry_after == expected


async def test_a_gemini_retry_delay_is_read_and_capped(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    model = _model("gemini", provider_url)
    for delay, expected in (("30s", 30.0), ("1e308s", None), ("1.2.3s", None), ("9" * 30, None)):
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        body = {"error": {"code": 429, "message": "quota", "details": details}}
        fake_provider.reply(Fault(status=429, body=json.dumps(body)))
        with pytest.raises(RetriableProviderError) as caught:
            await model.complete(_body(model))
        assert caught.value.retry_after == expected, delay
    fake_provider.reply(
        Fault(status=429, body=json.dumps({"error": {"details": [{"retryDelay": "86400s"}]}}))
    )
    with pytest.raises(RetriableProviderError) as caught:
        await model.complete(_body(model))
    assert caught.value.retry_after == MAX_RETRY_AFTER


@pytest.mark.parametrize("value", ["999999999", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_huge_retry_after_under_the_executor_asks_inngest_for_at_most_the_cap(
    value: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    effects: collections.Counter[str] = collections.Counter()
    fake_provider.reply(
        tool_call("book", {"ref": "A"}),
        Fault(status=429, message="slow down", headers={"retry-after": value}),
        text(FULL),
    )
    network = _booking(_model("openai", provider_url), effects)

    def function(client: Any) -> Any:
        return network_function(network, client=client, retries=2)

    async with app_with(functions=[function], keep_bodies=True) as (executor, _):
        asked = time.time()
        run = await executor.run("network-booking", {"input": "book A"})
    assert run.output["output"] == FULL and effects == {"A": 1}
    records = executor.requests_for(run)
    assert len([r for r in records if r.attempt > 0]) == 1
    # the failed attempt reported the provider's 429, not an error of its own
    (failed,) = [r for r in records if b"slow down" in (r.response_body or b"")]
    assert b"HTTP 429" in (failed.response_body or b"")
    assert b"OverflowError" not in (failed.response_body or b"")
    for header in executor.retry_after_seen:  # what the app asked Inngest for
        retry_at = datetime.datetime.fromisoformat(header.replace("Z", "+00:00")).timestamp()
        assert retry_at - asked <= MAX_RETRY_AFTER + 5, header


def test_an_answer_too_deep_to_memoize_is_a_retriable_unreadable_answer(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    """An answer is memoized as a step's output: one nested deeper than a step may
    hold (MAX_STEP_DEPTH) is an unreadable answer, retried, never a configuration
    error that fails the run."""
    from agentkit_inngest import InlineRunner, StepError
    from agentkit_inngest._json import MAX_STEP_DEPTH

    deep: object = "x"
    for _ in range(MAX_STEP_DEPTH):
        deep = [deep]
    answer = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi", "extra": deep}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    fake_provider.reply(answer, answer)
    model = anthropic("claude-test", base_url=provider_url, api_key="ant-test")
    agent = create_agent(name="A", model=model)
    with pytest.raises(StepError) as caught:
        agent.run_sync("q", runner=InlineRunner(max_attempts=2, backoff=0))
    assert "answered with a response that cannot be read" in str(caught.value)
    assert "nests deeper than 170 levels" in str(caught.value)
    assert len(fake_provider.requests) == 2  # retried, as an unreadable answer is
