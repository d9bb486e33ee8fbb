"""Reading each provider's stream into the shape of its non-streamed answer.

Text is passed to ``on_text`` as it arrives; the answer returned is what the provider
would have sent without streaming, so a memoized answer does not depend on whether a
run streamed. A stream that ends before its provider's end-of-answer signal is a
retriable error: what arrived may be cut anywhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

from ..errors import RetriableProviderError
from ._base import TextSink
from ._common import clipped, error_detail, status_error, stream_cut

__all__ = [
    "accumulate_anthropic_stream",
    "accumulate_gemini_stream",
    "accumulate_openai_stream",
]


async def accumulate_openai_stream(
    stream: AsyncIterable[Any], on_text: TextSink, *, provider: str
) -> dict[str, Any]:
    """Consume a Chat Completions stream.

    Text is passed to ``on_text``; the answer is returned in the shape of a non-streamed completion.

    Raises:
        RetriableProviderError: the stream ended before a ``finish_reason`` (the
            connection closed mid-answer): what arrived may be cut anywhere.
    """
    answer: dict[str, Any] = {"object": "chat.completion", "choices": []}
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage: dict[str, Any] | None = None
    async for chunk in stream:
        data = _plain(chunk)
        answer.update({k: data[k] for k in ("id", "created", "model") if data.get(k) is not None})
        if data.get("usage"):
            usage = data["usage"]
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if piece:
                if not isinstance(piece, str):
                    raise TypeError(f"a streamed text delta is a {type(piece).__name__}")
                content.append(piece)
                await on_text(piece)
            for item in delta.get("tool_calls") or []:
                _add_openai_call_delta(calls, item)
            finish = choice.get("finish_reason") or finish
    if finish is None:
        raise stream_cut(provider, "finish_reason")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    answer["choices"] = [{"index": 0, "finish_reason": finish, "message": message}]
    if usage is not None:
        answer["usage"] = usage
    return answer


def _plain(item: Any) -> dict[str, Any]:
    """An SDK stream item (a pydantic model) or a mapping, as a dict."""
    return item.model_dump(warnings=False) if hasattr(item, "model_dump") else dict(item)


def _add_openai_call_delta(calls: dict[int, dict[str, Any]], item: dict[str, Any]) -> None:
    """Add a piece of a streamed tool call to the call at its ``index``."""
    slot = calls.setdefault(
        int(item.get("index") or 0),
        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
    )
    if item.get("id"):
        slot["id"] = item["id"]
    function = item.get("function") or {}
    for field in ("name", "arguments"):
        if function.get(field):
            slot["function"][field] += function[field]


async def accumulate_anthropic_stream(
    stream: AsyncIterable[Any], on_text: TextSink
) -> dict[str, Any]:
    """Consume a Messages stream.

    Consume a Messages stream, passing text to ``on_text``; return the answer in
    the shape of a non-streamed message.

    Raises:
        RetriableProviderError: the stream ended before ``message_stop`` (the
            connection closed mid-answer): what arrived may be cut anywhere.
    """
    message = _AnthropicMessage()
    async for item in stream:
        piece = message.add(_plain(item))
        if piece:
            await on_text(piece)
    if not message.stopped:
        raise stream_cut("anthropic", "message_stop")
    return message.answer()


def _index(event: dict[str, Any]) -> int:
    """The content block a Messages stream event is about."""
    return int(event.get("index") or 0)


class _AnthropicMessage:
    """A Messages answer, built from its stream events one at a time."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial: dict[int, list[str]] = {}  # a tool call's input JSON, as it arrives
        self.usage: dict[str, Any] = {}
        self.stopped = False

    def add(self, event: dict[str, Any]) -> str:
        """Apply one stream event; returns the text it adds (``""`` for none)."""
        kind = event.get("type")
        if kind == "message_start":
            self._start(dict(event.get("message") or {}))
        elif kind == "content_block_start":
            index = _index(event)
            block = dict(event.get("content_block") or {})
            if block.get("type") == "tool_use":
                block["input"] = {}
                self.partial[index] = []
            self.blocks[index] = block
        elif kind == "content_block_delta":
            return self._block_delta(_index(event), event.get("delta") or {})
        elif kind == "content_block_stop":
            self._block_stop(_index(event))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            if delta.get("stop_reason"):
                self.message["stop_reason"] = delta["stop_reason"]
            usage = event.get("usage") or {}
            self.usage.update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_stop":
            self.stopped = True
        return ""

    def _start(self, start: dict[str, Any]) -> None:
        self.usage.update(start.pop("usage", None) or {})
        start.pop("content", None)
        self.message.update({k: v for k, v in start.items() if v is not None})

    def _block_delta(self, index: int, delta: dict[str, Any]) -> str:
        if delta.get("type") == "text_delta":
            piece = str(delta.get("text") or "")
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            block["text"] = str(block.get("text") or "") + piece
            return piece
        if delta.get("type") == "input_json_delta":
            self.partial.setdefault(index, []).append(str(delta.get("partial_json") or ""))
        return ""

    def _block_stop(self, index: int) -> None:
        if index in self.partial:
            text = "".join(self.partial.pop(index))
            try:
                self.blocks[index]["input"] = json.loads(text) if text.strip() else {}
            except ValueError:
                self.blocks[index]["input"] = text  # reported to the model as unreadable

    def answer(self) -> dict[str, Any]:
        """The message as the provider would have sent it without streaming."""
        self.message["content"] = [self.blocks[i] for i in sorted(self.blocks)]
        self.message["usage"] = self.usage
        self.message.setdefault("stop_reason", "end_turn")
        return self.message


async def accumulate_gemini_stream(
    lines: AsyncIterator[str], on_text: TextSink, *, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """Consume a Gemini ``streamGenerateContent?alt=sse`` stream.

    Consume ``streamGenerateContent?alt=sse`` lines, passing text to ``on_text``;
    return the answer in the shape of a non-streamed response.

    Raises:
        RetriableProviderError: the stream ended before a chunk with a
            ``finishReason`` (or a blocked prompt's ``promptFeedback``): what arrived
            may be cut anywhere. Also for an error chunk with a retriable code.
        FatalProviderError: an error chunk with any other code.
    """
    parts: list[dict[str, Any]] = []
    answer: dict[str, Any] = {}
    finish: str | None = None
    async for line in lines:
        chunk = _gemini_chunk(line, secrets)
        if chunk is None:
            continue
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if chunk.get(key) is not None:
                answer[key] = chunk[key]
        for candidate in chunk.get("candidates") or []:
            finish = candidate.get("finishReason") or finish
            for part in (candidate.get("content") or {}).get("parts") or []:
                text = _add_gemini_part(parts, part)
                if text:
                    await on_text(text)
    blocked = (answer.get("promptFeedback") or {}).get("blockReason")
    if finish is None and not blocked:
        raise stream_cut("gemini", "finishReason")
    if parts or finish:
        answer["candidates"] = [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": finish,
                "index": 0,
            }
        ]
    return answer


def _gemini_chunk(line: str, secrets: Sequence[str]) -> dict[str, Any] | None:
    """The chunk a ``data:`` line carries; ``None`` for any other line.

    Raises:
        ValueError: the line's data is not a JSON object.
        ProviderError: the chunk is an error (see :func:`_stream_error`).
    """
    if not line.startswith("data:"):
        return None  # blank lines, comments (keep-alives), event names
    chunk = json.loads(line[5:].strip() or "{}")
    if not isinstance(chunk, dict):
        raise ValueError(f"a stream chunk is a {type(chunk).__name__}, not an object")
    if chunk.get("error"):
        raise _stream_error(chunk, secrets)
    return chunk


def _add_gemini_part(parts: list[dict[str, Any]], part: dict[str, Any]) -> str:
    """Add a streamed part to ``parts``, joining consecutive texts; returns the text it adds.

    Thoughts are kept as parts of their own and are not passed on as text.
    """
    text = part.get("text")
    if isinstance(text, str) and not part.get("thought"):
        if parts and set(parts[-1]) == {"text"}:
            parts[-1] = {"text": parts[-1]["text"] + text}
        else:
            parts.append(dict(part))
        return text
    parts.append(dict(part))
    return ""


def _stream_error(chunk: dict[str, Any], secrets: Sequence[str]) -> Exception:
    """An error chunk inside a stream, classified by its code as an HTTP error is."""
    error = chunk.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return status_error("gemini", code, error_detail(chunk), secrets=secrets)
    return RetriableProviderError(
        f"gemini failed while streaming (will retry): {clipped(error_detail(chunk), secrets)}",
        provider="gemini",
    )
