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

    Consume a Chat Completions stream, passing text to ``on_text``; return the
    answer in the shape of a non-streamed completion.

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
        data = chunk.model_dump(warnings=False) if hasattr(chunk, "model_dump") else dict(chunk)
        for key in ("id", "created", "model"):
            if data.get(key) is not None:
                answer[key] = data[key]
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
                slot = calls.setdefault(
                    int(item.get("index") or 0),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if item.get("id"):
                    slot["id"] = item["id"]
                function = item.get("function") or {}
                if function.get("name"):
                    slot["function"]["name"] += function["name"]
                if function.get("arguments"):
                    slot["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    if finish is None:
        raise stream_cut(provider, "finish_reason")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    answer["choices"] = [{"index": 0, "finish_reason": finish, "message": message}]
    if usage is not None:
        answer["usage"] = usage
    return answer


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
    message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    stopped = False
    async for item in stream:
        event = item.model_dump(warnings=False) if hasattr(item, "model_dump") else dict(item)
        kind = event.get("type")
        if kind == "message_start":
            start = dict(event.get("message") or {})
            usage.update(start.pop("usage", None) or {})
            start.pop("content", None)
            message.update({k: v for k, v in start.items() if v is not None})
        elif kind == "content_block_start":
            index = int(event.get("index") or 0)
            block = dict(event.get("content_block") or {})
            if block.get("type") == "tool_use":
                block["input"] = {}
                partial[index] = []
            blocks[index] = block
        elif kind == "content_block_delta":
            index = int(event.get("index") or 0)
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                piece = str(delta.get("text") or "")
                blocks.setdefault(index, {"type": "text", "text": ""})
                blocks[index]["text"] = str(blocks[index].get("text") or "") + piece
                if piece:
                    await on_text(piece)
            elif delta.get("type") == "input_json_delta":
                partial.setdefault(index, []).append(str(delta.get("partial_json") or ""))
        elif kind == "content_block_stop":
            index = int(event.get("index") or 0)
            if index in partial:
                text = "".join(partial.pop(index))
                try:
                    blocks[index]["input"] = json.loads(text) if text.strip() else {}
                except ValueError:
                    blocks[index]["input"] = text  # reported to the model as unreadable
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            if delta.get("stop_reason"):
                message["stop_reason"] = delta["stop_reason"]
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            stopped = True
    if not stopped:
        raise stream_cut("anthropic", "message_stop")
    message["content"] = [blocks[i] for i in sorted(blocks)]
    message["usage"] = usage
    message.setdefault("stop_reason", "end_turn")
    return message


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
        if not line.startswith("data:"):
            continue  # blank lines, comments (keep-alives), event names
        chunk = json.loads(line[5:].strip() or "{}")
        if not isinstance(chunk, dict):
            raise ValueError(f"a stream chunk is a {type(chunk).__name__}, not an object")
        if chunk.get("error"):
            raise _stream_error(chunk, secrets)
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if chunk.get(key) is not None:
                answer[key] = chunk[key]
        for candidate in chunk.get("candidates") or []:
            finish = candidate.get("finishReason") or finish
            for part in (candidate.get("content") or {}).get("parts") or []:
                text = part.get("text")
                if isinstance(text, str) and not part.get("thought"):
                    if text:
                        await on_text(text)
                    if parts and set(parts[-1]) == {"text"}:
                        parts[-1] = {"text": parts[-1]["text"] + text}
                        continue
                parts.append(dict(part))
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
