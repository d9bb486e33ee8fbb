"""The providers' wire formats, as the fake servers speak them.

Answer bodies, error bodies and streams (server-sent events).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, Literal, TypeAlias

from ..messages import TextMessage, ToolCallMessage
from ..models import ModelResponse
from .models import text_pieces

ProviderKind: TypeAlias = Literal["openai", "anthropic", "gemini"]

END: Final = "<end of the answer>"
"""Marks, in a stream, where the provider's end-of-answer signal begins."""


def error_body(provider: ProviderKind, status: int, message: str) -> dict[str, Any]:
    """The JSON body ``provider`` answers an HTTP error with."""
    if provider == "anthropic":
        body: dict[str, Any] = {
            "type": "error",
            "error": {
                "type": "api_error" if status >= 500 else "invalid_request_error",
                "message": message,
            },
        }
    elif provider == "gemini":
        body = {"error": {"code": status, "message": message, "status": "FAILED"}}
    else:
        body = {"error": {"message": message, "type": "fake_error", "param": None, "code": None}}
    return body


def _texts(response: ModelResponse) -> list[str]:
    return [m.content for m in response.output if isinstance(m, TextMessage)]


def _calls(response: ModelResponse) -> list[Any]:
    return [call for m in response.output if isinstance(m, ToolCallMessage) for call in m.tools]


def openai_body(response: ModelResponse, request: dict[str, Any]) -> dict[str, Any]:
    """``response`` as a non-streamed OpenAI answer to ``request``."""
    calls = _calls(response)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "\n".join(_texts(response)) or None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in calls
        ]
    finish = {"tool": "tool_calls", "length": "length", "content_filter": "content_filter"}.get(
        response.stop_reason, "stop"
    )
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None, "message": message}],
        "usage": {
            "prompt_tokens": response.usage.input_tokens,
            "completion_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
    }


def anthropic_body(response: ModelResponse, request: dict[str, Any]) -> dict[str, Any]:
    """``response`` as a non-streamed Anthropic answer to ``request``."""
    content: list[dict[str, Any]] = [{"type": "text", "text": t} for t in _texts(response)]
    content += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in _calls(response)
    ]
    stop = {"tool": "tool_use", "length": "max_tokens", "content_filter": "refusal"}.get(
        response.stop_reason, "end_turn"
    )
    return {
        "id": f"msg_fake_{time.monotonic_ns()}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", "fake"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
        },
    }


def gemini_body(
    response: ModelResponse,
    request: dict[str, Any],  # noqa: ARG001 - the shape of every provider's body builder
) -> dict[str, Any]:
    """``response`` as a non-streamed Gemini answer to ``request``."""
    parts: list[dict[str, Any]] = [{"text": t} for t in _texts(response)]
    parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in _calls(response)]
    finish = {"length": "MAX_TOKENS", "content_filter": "SAFETY"}.get(response.stop_reason, "STOP")
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": response.usage.input_tokens,
            "candidatesTokenCount": response.usage.output_tokens,
            "totalTokenCount": response.usage.total_tokens,
        },
        "modelVersion": "fake",
    }


# -- streaming answers --------------------------------------------------------------------


def _data(payload: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


def _stream_openai(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = openai_body(response, request)
    base = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _data(
            {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                "usage": None,
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    for text in _texts(response):
        for piece in text_pieces(text):
            yield chunk({"content": piece})
    for index, call in enumerate(_calls(response)):
        arguments = json.dumps(call.arguments)
        half = len(arguments) // 2
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": arguments[:half]},
                    }
                ]
            }
        )
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
    yield END  # the end of the answer: the chunk with finish_reason, usage, [DONE]
    yield chunk({}, body["choices"][0]["finish_reason"])
    if (request.get("stream_options") or {}).get("include_usage"):
        yield _data({**base, "choices": [], "usage": body["usage"]})
    yield "data: [DONE]\n\n"


def _stream_anthropic(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = anthropic_body(response, request)
    start = {k: v for k, v in body.items() if k not in ("content", "stop_reason", "usage")}
    usage = body["usage"]
    yield _data(
        {
            "type": "message_start",
            "message": {
                **start,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
            },
        },
        "message_start",
    )
    for index, block in enumerate(body["content"]):
        if block["type"] == "text":
            yield _data(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
            for piece in text_pieces(block["text"]):
                yield _data(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    "content_block_delta",
                )
        else:
            yield _data(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                },
                "content_block_start",
            )
            arguments = json.dumps(block["input"])
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                yield _data(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                    "content_block_delta",
                )
        yield _data({"type": "content_block_stop", "index": index}, "content_block_stop")
    yield _data(
        {
            "type": "message_delta",
            "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        "message_delta",
    )
    yield END
    yield _data({"type": "message_stop"}, "message_stop")


def _stream_gemini(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = gemini_body(response, request)
    candidate = body["candidates"][0]
    texts = [p for p in candidate["content"]["parts"] if "text" in p]
    calls = [p for p in candidate["content"]["parts"] if "functionCall" in p]
    for part in texts:
        for piece in text_pieces(part["text"]):
            yield _data(
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
                    ]
                }
            )
    yield END  # the last chunk carries finishReason
    yield _data(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": calls},
                    "finishReason": candidate["finishReason"],
                    "index": 0,
                }
            ],
            "usageMetadata": body["usageMetadata"],
            "modelVersion": "fake",
        }
    )


_STREAMERS: dict[ProviderKind, Callable[[ModelResponse, dict[str, Any]], Iterator[str]]] = {
    "openai": _stream_openai,
    "anthropic": _stream_anthropic,
    "gemini": _stream_gemini,
}


def stream_events(
    provider: ProviderKind, response: ModelResponse, request: dict[str, Any]
) -> tuple[list[str], int]:
    """The server-sent events of ``response`` in ``provider``'s stream format.

    Also returns the index of the first event of the provider's end-of-answer signal (OpenAI: the
    chunk with ``finish_reason``, then usage and ``[DONE]``; Anthropic: ``message_stop``; Gemini:
    the last chunk, which carries ``finishReason``).
    """
    events: list[str] = []
    end = -1
    for event in _STREAMERS[provider](response, request):
        if event is END:
            end = len(events)
        else:
            events.append(event)
    return events, end
