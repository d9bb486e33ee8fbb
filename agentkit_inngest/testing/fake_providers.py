"""A local fake of the providers' HTTP APIs, speaking their real wire formats.

One app answers OpenAI Chat Completions (``POST /v1/chat/completions``, also used
for Grok), Anthropic Messages (``POST /v1/messages``) and Gemini
(``POST /v1beta/models/{model}:generateContent``). Tests queue neutral answers
(:func:`~agentkit_inngest.testing.text`, :func:`~agentkit_inngest.testing.tool_call`),
raw wire JSON, or :class:`Fault` s (HTTP errors, delays, malformed bodies), and read
back every request the official SDKs sent::

    fake = FakeProvider()
    fake.reply(tool_call("save", {"x": 1}), text("done"))
    with serve(fake.app) as server:
        model = openai("gpt-test", base_url=f"{server.url}/v1", api_key="test")
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Literal, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..messages import TextMessage, ToolCallMessage
from ..models.base import ModelResponse
from .models import _to_response, text_pieces

__all__ = ["Fault", "FakeProvider", "ProviderKind", "RecordedRequest"]

ProviderKind: TypeAlias = Literal["openai", "anthropic", "gemini"]


@dataclasses.dataclass(frozen=True)
class Fault:
    """A failure to answer with instead of a model response.

    Attributes:
        status: the HTTP status to answer with (``None`` keeps 200).
        message: the error message placed in the provider's error body.
        headers: extra headers (e.g. ``{"retry-after": "2"}``).
        delay: seconds to wait before answering (to provoke client timeouts).
        body: a raw body to send instead of the provider's error JSON (malformed answers).
    """

    status: int | None = 500
    message: str = "fault injected by FakeProvider"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received."""

    provider: ProviderKind
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Answer: TypeAlias = (
    "ModelResponse | str | Fault | dict[str, Any] | Callable[[RecordedRequest], Any]"
)


class FakeProvider:
    """Queued answers for every provider kind; thread-safe, records all requests."""

    def __init__(self) -> None:
        self._queue: list[Answer] = []
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1beta/models/{target:path}", self._gemini, methods=["POST"]),
            ]
        )

    def reply(self, *answers: Answer) -> FakeProvider:
        """Queue answers: neutral responses, text, raw wire dicts, faults, or functions
        of the :class:`RecordedRequest` returning one of those."""
        with self._lock:
            self._queue.extend(answers)
        return self

    @property
    def remaining(self) -> int:
        return len(self._queue)

    def reset(self) -> None:
        """Forget queued answers and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def bodies(self, provider: ProviderKind | None = None) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if provider is None or r.provider == provider]

    async def _next(self, request: Request, provider: ProviderKind) -> tuple[RecordedRequest, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_unparseable": raw.decode("utf-8", "replace")}
        recorded = RecordedRequest(
            provider=provider,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(recorded)
            answer: Any = self._queue.pop(0) if self._queue else None
        if callable(answer) and not isinstance(answer, (Fault, ModelResponse)):
            answer = answer(recorded)
        return recorded, answer

    async def _answer(
        self,
        request: Request,
        provider: ProviderKind,
        render: Callable[[ModelResponse, dict[str, Any]], dict[str, Any]],
    ) -> Response:
        recorded, answer = await self._next(request, provider)
        if answer is None:
            return _error(provider, 500, "FakeProvider has no queued answer left", {})
        if isinstance(answer, Fault):
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.body is not None:
                return Response(
                    answer.body,
                    status_code=answer.status or 200,
                    headers=dict(answer.headers),
                    media_type="application/json",
                )
            return _error(provider, answer.status or 500, answer.message, dict(answer.headers))
        if isinstance(answer, dict):
            return JSONResponse(answer)
        response = _to_response(answer)
        if _wants_stream(provider, recorded):
            chunks = _STREAMERS[provider](response, recorded.body)
            return StreamingResponse(_sse(chunks), media_type="text/event-stream")
        return JSONResponse(render(response, recorded.body))

    async def _openai(self, request: Request) -> Response:
        return await self._answer(request, "openai", _openai_body)

    async def _anthropic(self, request: Request) -> Response:
        return await self._answer(request, "anthropic", _anthropic_body)

    async def _gemini(self, request: Request) -> Response:
        return await self._answer(request, "gemini", _gemini_body)


def _error(provider: ProviderKind, status: int, message: str, headers: dict[str, str]) -> Response:
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
    return JSONResponse(body, status_code=status, headers=headers)


def _texts(response: ModelResponse) -> list[str]:
    return [m.content for m in response.output if isinstance(m, TextMessage)]


def _calls(response: ModelResponse) -> list[Any]:
    return [call for m in response.output if isinstance(m, ToolCallMessage) for call in m.tools]


def _openai_body(response: ModelResponse, request: dict[str, Any]) -> dict[str, Any]:
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


def _anthropic_body(response: ModelResponse, request: dict[str, Any]) -> dict[str, Any]:
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


def _gemini_body(response: ModelResponse, request: dict[str, Any]) -> dict[str, Any]:
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


def _wants_stream(provider: ProviderKind, request: RecordedRequest) -> bool:
    if provider == "gemini":
        return ":streamGenerateContent" in request.path
    return bool(request.body.get("stream"))


async def _sse(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk.encode()
        await asyncio.sleep(0)


def _data(payload: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


def _stream_openai(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = _openai_body(response, request)
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
    yield chunk({}, body["choices"][0]["finish_reason"])
    if (request.get("stream_options") or {}).get("include_usage"):
        yield _data({**base, "choices": [], "usage": body["usage"]})
    yield "data: [DONE]\n\n"


def _stream_anthropic(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = _anthropic_body(response, request)
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
    yield _data({"type": "message_stop"}, "message_stop")


def _stream_gemini(response: ModelResponse, request: dict[str, Any]) -> Iterator[str]:
    body = _gemini_body(response, request)
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
