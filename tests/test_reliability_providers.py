"""Hostile provider answers and headers, generated, over real HTTP.

The official SDK clients (httpx for Gemini) read answers from the local fake servers:
answers and streams with lone surrogates (``\\ud800`` escapes, which a provider can
send although the Inngest server never does), ``NaN`` / ``Infinity`` literals, huge
integers, deep nesting, NUL, bytes that are not UTF-8 and fields of the wrong type.
Each answer is read, or fails as a classified provider error; what is read can be
memoized (strict JSON, UTF-8) and reads the same after a JSON round trip. Never an
unhandled exception. ``retry-after`` values of every kind give a bounded delay or
none. (``tests/test_reliability_input.py`` feeds the converters the same way without
HTTP.)
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from agentkit_inngest import (
    FatalProviderError,
    Model,
    ProviderError,
    RetriableProviderError,
    TextMessage,
)
from agentkit_inngest.durable import to_inngest_error
from agentkit_inngest.errors import MAX_RETRY_AFTER
from agentkit_inngest.models import ModelRequest
from agentkit_inngest.models._common import retry_after_seconds
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault
from agentkit_inngest.testing.servers import serve

from .test_providers import KINDS, _model
from .test_reliability_input import LoopThread, examples

HTTP, HEADERS = 60, 300
TRIED = {
    "provider answers over HTTP (4 adapters x plain and streamed)": HTTP * len(KINDS) * 2,
    "retry-after headers": HEADERS,
    "retry delays given to errors": HEADERS,
}
"""Inputs each property tries in CI (RELIABILITY.md quotes the total)."""


# -- strategies: hostile JSON, written as text ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raw:
    """A JSON token written as it is (``NaN``, huge numbers, deep nesting): what
    Python's encoder would not write. Kept short until written, so that examples
    print readably."""

    kind: str
    size: int = 0

    def text(self) -> str:
        if self.kind == "digits":
            return "9" * self.size
        if self.kind == "arrays":
            return "[" * self.size + "]" * self.size
        if self.kind == "objects":
            return '{"a":' * self.size + "1" + "}" * self.size
        return self.kind  # a literal: NaN, Infinity...


def dump(value: Any) -> str:
    """``value`` as JSON text, :class:`Raw` tokens verbatim (strings are escaped with
    ``ensure_ascii``: a lone surrogate becomes a ``\\ud800`` escape)."""
    if isinstance(value, Raw):
        return value.text()
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


lone_surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
# values an answer may hold and still be read: they must come out fit for a memo
odd = st.one_of(
    lone_surrogates,
    st.text(max_size=8).map(lambda t: f"a\x00{t}"),  # NUL
    st.text(max_size=6).map(lambda t: f"{t}\ud83d\ude00\u2028"),  # a pair, a separator
    st.sampled_from([Raw("digits", 30), Raw("-0"), Raw("objects", 10)]),
)
# values that break a JSON parser, JSON itself, or the answer's shape
breaking: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999")]),
    st.sampled_from([400, 5000]).map(lambda n: Raw("digits", n)),  # huge integers
    st.sampled_from([300, 2000]).map(lambda n: Raw("objects", n)),  # deep nesting
    st.sampled_from([3000, 100_000]).map(lambda n: Raw("arrays", n)),
    st.sampled_from([None, True, 0, -1, 1.5, "", [], {}, [None], {"x": []}]),  # wrong types
)


@dataclasses.dataclass(frozen=True)
class Leaves:
    """What the fields of generated answers hold."""

    text: st.SearchStrategy[Any]
    any: st.SearchStrategy[Any]
    bad: st.SearchStrategy[Any]  # in place of a whole object or list

    @classmethod
    def of(cls, hostile: st.SearchStrategy[Any], *, shapes: bool) -> Leaves:
        plain = st.text(max_size=20)
        return cls(
            text=st.one_of(plain, plain, hostile),
            any=st.one_of(plain, st.integers(), hostile),
            bad=hostile if shapes else st.nothing(),
        )


# mild answers have the right shape and odd values; wild ones anything that breaks
MILD = Leaves.of(odd, shapes=False)
WILD = Leaves.of(st.one_of(odd, breaking), shapes=True)


def _usage(leaves: Leaves, keys: list[str]) -> st.SearchStrategy[Any]:
    counts = st.fixed_dictionaries({k: st.one_of(st.integers(0, 99), leaves.any) for k in keys})
    return st.one_of(counts, counts, leaves.bad)


def openai_answers(x: Leaves) -> st.SearchStrategy[dict[str, Any]]:
    call = st.fixed_dictionaries(
        {"id": x.text, "function": st.fixed_dictionaries({"name": x.text, "arguments": x.text})}
    )
    message = st.fixed_dictionaries(
        {"content": x.text},
        optional={"tool_calls": st.lists(call, max_size=2) | x.bad, "refusal": x.text},
    )
    choice = st.fixed_dictionaries(
        {
            "finish_reason": st.one_of(st.sampled_from(["stop", "tool_calls"]), x.any),
            "message": message | x.bad,
        }
    )
    return st.fixed_dictionaries(
        {"choices": st.lists(choice, min_size=1, max_size=2) | x.bad},
        optional={"usage": _usage(x, ["prompt_tokens", "completion_tokens"]), "id": x.any},
    )


def anthropic_answers(x: Leaves) -> st.SearchStrategy[dict[str, Any]]:
    block = st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": x.text}),
        st.fixed_dictionaries(
            {"type": st.just("tool_use"), "id": x.text, "name": x.text, "input": x.any}
        ),
        x.bad,
    )
    return st.fixed_dictionaries(
        {
            "type": st.just("message"),
            "content": st.lists(block, max_size=3) | x.bad,
            "stop_reason": st.one_of(st.sampled_from(["end_turn", "tool_use"]), x.any),
        },
        optional={"usage": _usage(x, ["input_tokens", "output_tokens"])},
    )


def gemini_answers(x: Leaves) -> st.SearchStrategy[dict[str, Any]]:
    call = st.fixed_dictionaries({"name": x.text, "args": x.any})
    part = st.one_of(
        st.fixed_dictionaries({"text": x.text}),
        st.fixed_dictionaries({"functionCall": call}),
        x.bad,
    )
    content = st.fixed_dictionaries({"parts": st.lists(part, max_size=3) | x.bad})
    candidate = st.fixed_dictionaries(
        {"content": content | x.bad, "finishReason": st.one_of(st.just("STOP"), x.any)}
    )
    return st.fixed_dictionaries(
        {"candidates": st.lists(candidate, min_size=1, max_size=2) | x.bad},
        optional={"usageMetadata": _usage(x, ["promptTokenCount", "candidatesTokenCount"])},
    )


ANSWERS = {
    kind: st.one_of(factory(MILD), factory(WILD))
    for kind, factory in (
        ("openai", openai_answers),
        ("grok", openai_answers),
        ("anthropic", anthropic_answers),
        ("gemini", gemini_answers),
    )
}


def _events(kind: str, answer: dict[str, Any]) -> list[str]:
    """``answer`` cut into the stream events of ``kind``'s wire format (JSON text)."""
    if kind in ("openai", "grok"):
        choices = answer["choices"] if isinstance(answer["choices"], list) else [answer["choices"]]
        chunks = []
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else choice
            finish = choice.get("finish_reason") if isinstance(choice, dict) else None
            chunks.append({"choices": [{"index": 0, "delta": message, "finish_reason": None}]})
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        return [f"data: {dump(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    if kind == "anthropic":
        events: list[Any] = [{"type": "message_start", "message": {"usage": answer.get("usage")}}]
        blocks = answer["content"] if isinstance(answer["content"], list) else [answer["content"]]
        for index, block in enumerate(blocks):
            events.append({"type": "content_block_start", "index": index, "content_block": block})
            if isinstance(block, dict) and "text" in block:
                delta = {"type": "text_delta", "text": block["text"]}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
            events.append({"type": "content_block_stop", "index": index})
        events.append({"type": "message_delta", "delta": {"stop_reason": answer["stop_reason"]}})
        events.append({"type": "message_stop"})
        return [f"event: {e['type']}\ndata: {dump(e)}\n\n" for e in events]
    return [f"data: {dump(answer)}\n\n"]


corruptions = st.sampled_from(["none", "none", "none", "invalid-utf8", "latin-1", "cut"])


def _corrupt(body: bytes, how: str) -> bytes:
    if how == "invalid-utf8":
        return body.replace(b'"', b'"\xff\xfe', 1) if b'"' in body else body + b"\xc3"
    if how == "latin-1":
        return body.decode("utf-8", "replace").encode("latin-1", "replace") + b"\xe9"
    if how == "cut":
        return body[: len(body) // 2]
    return body


# -- over HTTP ----------------------------------------------------------------------------


class Served:
    def __init__(self, fake: FakeProvider, url: str, loop: LoopThread) -> None:
        self.fake, self.loop = fake, loop
        self.models: dict[str, Model] = {kind: _model(kind, url) for kind in KINDS}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    fake = FakeProvider()
    loop = LoopThread()
    with serve(fake.app) as server:
        try:
            yield Served(fake, server.url, loop)
        finally:
            loop.close()


def _read(served: Served, kind: str, body: bytes, streamed: bool) -> None:
    """One hostile answer, read through the adapter: the property's checks."""
    model = served.models[kind]
    served.fake.reset()
    served.fake.reply(Fault(status=200, body=body))
    request = model.build_body(ModelRequest(messages=[TextMessage(role="user", content="q")]))
    pieces: list[str] = []

    async def sink(piece: str) -> None:
        pieces.append(piece)

    async def call() -> dict[str, Any]:
        return await (
            model.complete(request, on_text=sink) if streamed else model.complete(request)
        )

    failure: ProviderError | None = None
    try:
        raw = served.loop.call(call())
    except (FatalProviderError, RetriableProviderError) as err:
        failure = err
    if failure is not None:  # a classified error, naming the provider
        assert str(failure) and failure.provider == model.provider, repr(failure)
        event(f"{type(failure).__name__}: {str(failure).split(':')[0][:60]}")
        return
    event("read")
    # what was read can be memoized: strict JSON, UTF-8, the same after a round trip
    text = json.dumps(raw, allow_nan=False)
    text.encode("utf-8")
    again = json.loads(text)
    assert model.parse_response(again) == model.parse_response(raw)
    "".join(pieces).encode("utf-8")


@pytest.mark.parametrize("kind", KINDS)
@examples(HTTP)
@given(data=st.data(), how=corruptions)
def test_any_answer_over_http_is_read_or_fails_as_a_provider_error(
    served: Served, kind: str, data: st.DataObject, how: str
) -> None:
    answer = data.draw(ANSWERS[kind])
    _read(served, kind, _corrupt(dump(answer).encode(), how), streamed=False)


@pytest.mark.parametrize("kind", KINDS)
@examples(HTTP)
@given(data=st.data(), how=corruptions, cut=st.booleans())
def test_any_stream_over_http_is_read_or_fails_as_a_provider_error(
    served: Served, kind: str, data: st.DataObject, how: str, cut: bool
) -> None:
    events = _events(kind, data.draw(ANSWERS[kind]))
    if cut:
        events = events[: data.draw(st.integers(0, len(events) - 1))]
    _read(served, kind, _corrupt("".join(events).encode(), how), streamed=True)


# -- retry-after ----------------------------------------------------------------------------

NOW = 1_800_000_000.0
dates = st.floats(-1e12, 1e12).map(lambda offset: NOW + offset)
header_values = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0, 1e6).map(lambda f: f"{f:.3f}"),
    st.sampled_from(
        ["nan", "inf", "-inf", "1e308", "-5", "1_000", " 7 ", "+3", "0x10", "9" * 5000]
    ),
    st.text(max_size=40),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=5),  # digits of any script
    dates.filter(lambda t: 0 < t < 253402300799).map(
        lambda t: email.utils.formatdate(t, usegmt=True)
    ),
    dates.filter(lambda t: 0 < t < 253402300799).map(
        lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%c")
    ),
)


@examples(HEADERS)
@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "x-other"]),
        header_values,
        max_size=3,
    )
)
def test_any_retry_after_gives_a_bounded_delay_or_none(headers: dict[str, str]) -> None:
    delay = retry_after_seconds(headers, now=NOW)
    assert delay is None or 0 <= delay <= MAX_RETRY_AFTER
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    ms, seconds = lowered.get("retry-after-ms", ""), lowered.get("retry-after", "")
    if ms.isdigit() and ms.isascii() and len(ms) <= 20:
        assert delay == min(int(ms) / 1000, MAX_RETRY_AFTER)
    elif not (ms or seconds):
        assert delay is None
    elif seconds.isdigit() and seconds.isascii() and len(seconds) <= 20 and not ms:
        assert delay == min(int(seconds), MAX_RETRY_AFTER)
    error = RetriableProviderError("429", provider="p", retry_after=delay)
    to_inngest_error(error)  # a delay Inngest's SDK can always carry


@examples(HEADERS)
@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**400), 10**400),
        st.none(),
        st.booleans(),
        st.text(max_size=5),
    )
)
def test_any_retry_after_given_to_an_error_is_bounded(value: Any) -> None:
    error = RetriableProviderError("429", provider="p", retry_after=value)
    assert error.retry_after is None or 0 <= error.retry_after <= MAX_RETRY_AFTER
    to_inngest_error(error)
