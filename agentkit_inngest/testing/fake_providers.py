"""A local fake of the providers' HTTP APIs, speaking their real wire formats.

One app answers OpenAI Chat Completions (``POST /v1/chat/completions``, also used
for Grok), Anthropic Messages (``POST /v1/messages``) and Gemini
(``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``).
Tests queue neutral answers (:func:`~agentkit_inngest.testing.text`,
:func:`~agentkit_inngest.testing.tool_call`), raw wire JSON, or :class:`Fault` s
(HTTP errors, delays, malformed bodies, streams cut short, answers sent slowly),
and read back every request the official SDKs sent. As Gemini does, the Gemini
endpoint answers HTTP 400 ("Unknown name") to a body with a top-level field that
Gemini's ``GenerateContentRequest`` does not have::

    fake = FakeProvider()
    fake.reply(tool_call("save", {"x": 1}), text("done"))
    with fake.serve() as server:  # or fake.serve(host=..., port=...)
        model = openai("gpt-test", base_url=f"{server.url}/v1", api_key="test")
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..models import ModelResponse
from ._fake_wire import (
    ProviderKind,
    anthropic_body,
    error_body,
    gemini_body,
    openai_body,
    stream_events,
)
from .models import _to_response
from .servers import RunningServer, serve

__all__ = ["Fault", "FakeProvider", "ProviderKind", "RecordedRequest"]

KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment, as providers send to keep an idle stream open."""


@dataclasses.dataclass(frozen=True)
class Fault:
    """A failure to answer with instead of a model response.

    Without ``answer`` the fault is an HTTP error (``status``, ``message``) or a raw
    ``body``. With ``answer`` it is that answer, delivered wrongly (HTTP 200): cut
    short (``cut_after``, ``cut_end``) or slowly (``drip``, ``keepalive``).

    Attributes:
        status: the HTTP status to answer with (``None`` keeps 200).
        message: the error message placed in the provider's error body.
        headers: extra headers (e.g. ``{"retry-after": "2"}``).
        delay: seconds to wait before answering (to provoke client timeouts).
        body: a raw body to send instead of the provider's error JSON (malformed
            answers); sent as ``text/event-stream`` when the request asked to stream.
        answer: the model answer the fault delivers (a neutral response or a text).
        cut_after: send only the first ``cut_after`` events of a streamed answer (the
            first bytes of a non-streamed body), then end the response cleanly: no
            error, no end-of-answer signal.
        cut_end: send all of a streamed answer except the provider's end-of-answer
            signal (OpenAI: the chunk with ``finish_reason``, usage and ``[DONE]``;
            Anthropic: ``message_stop``; Gemini: the last chunk, with
            ``finishReason``), then end the response cleanly.
        drip: send the body one byte at a time, ``drip`` seconds apart (with
            ``keepalive``: the keep-alive comments, ``drip`` seconds apart).
        keepalive: a streamed answer first sends this many SSE comments
            (``: keep-alive``), as a provider does while the model thinks.
    """

    status: int | None = 500
    message: str = "fault injected by FakeProvider"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    body: str | bytes | None = None
    answer: ModelResponse | str | None = None
    cut_after: int | None = None
    cut_end: bool = False
    drip: float = 0.0
    keepalive: int = 0


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

_RENDER: dict[ProviderKind, Callable[[ModelResponse, dict[str, Any]], dict[str, Any]]] = {
    "openai": openai_body,
    "anthropic": anthropic_body,
    "gemini": gemini_body,
}


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

    def serve(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractContextManager[RunningServer]:
        """Serve the fake in a background thread for a ``with`` block.

        Serve the fake on ``host``:``port`` (default: loopback, a free port) in a background
        thread for the duration of a ``with`` block; the server's ``url`` is the base URL
        (``openai(..., base_url=f"{server.url}/v1")``).
        """
        return serve(self.app, host=host, port=port)

    def reply(self, *answers: Answer) -> FakeProvider:
        """Queue answers.

        Neutral responses, text, raw wire dicts, faults, or functions of the
        :class:`RecordedRequest` returning one of those.
        """
        with self._lock:
            self._queue.extend(answers)
        return self

    @property
    def remaining(self) -> int:
        """How many queued answers are left."""
        return len(self._queue)

    def reset(self) -> None:
        """Forget queued answers and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def bodies(self, provider: ProviderKind | None = None) -> list[dict[str, Any]]:
        """The JSON bodies received (of one provider kind, or all)."""
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
        rejected = _gemini_unknown_fields(body) if provider == "gemini" else []
        with self._lock:
            self.requests.append(recorded)
            if rejected:  # as Gemini does, before (and without) answering
                return recorded, Fault(status=400, message=_unknown_names(rejected))
            answer: Any = self._queue.pop(0) if self._queue else None
        if callable(answer) and not isinstance(answer, (Fault, ModelResponse)):
            answer = answer(recorded)
        return recorded, answer

    async def _answer(self, request: Request, provider: ProviderKind) -> Response:
        recorded, answer = await self._next(request, provider)
        streamed = _wants_stream(provider, recorded)
        if answer is None:
            answer = Fault(status=500, message="FakeProvider has no queued answer left")
        if isinstance(answer, Fault):
            if answer.delay:
                await asyncio.sleep(answer.delay)
            return _faulty(provider, recorded, answer, streamed)
        if isinstance(answer, dict):
            return JSONResponse(answer)
        response = _to_response(answer)
        if streamed:
            events, _ = stream_events(provider, response, recorded.body)
            return _send([e.encode() for e in events], media_type="text/event-stream")
        return JSONResponse(_RENDER[provider](response, recorded.body))

    async def _openai(self, request: Request) -> Response:
        return await self._answer(request, "openai")

    async def _anthropic(self, request: Request) -> Response:
        return await self._answer(request, "anthropic")

    async def _gemini(self, request: Request) -> Response:
        return await self._answer(request, "gemini")


_GEMINI_REQUEST = frozenset(
    {
        "model",
        "contents",
        "tools",
        "toolConfig",
        "tool_config",
        "safetySettings",
        "safety_settings",
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
        "cachedContent",
        "cached_content",
        "labels",  # Vertex AI's
    }
)
"""The fields of Gemini's ``GenerateContentRequest`` (JSON names, and the proto names
its parser also reads)."""


def _gemini_unknown_fields(body: dict[str, Any]) -> list[str]:
    return [key for key in body if key not in _GEMINI_REQUEST and key != "_unparseable"]


def _unknown_names(fields: list[str]) -> str:
    """Gemini's words for a request with unknown fields (HTTP 400 INVALID_ARGUMENT)."""
    return " ".join(
        f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.'
        for field in fields
    )


def _wants_stream(provider: ProviderKind, request: RecordedRequest) -> bool:
    if provider == "gemini":
        return ":streamGenerateContent" in request.path
    return bool(request.body.get("stream"))


def _faulty(
    provider: ProviderKind, recorded: RecordedRequest, fault: Fault, streamed: bool
) -> Response:
    """The response ``fault`` describes."""
    headers = dict(fault.headers)
    media = "text/event-stream" if streamed else "application/json"
    if fault.answer is not None:
        response = _to_response(fault.answer)
        if streamed:
            events, end = stream_events(provider, response, recorded.body)
            if fault.cut_end:
                events = events[:end]
            if fault.cut_after is not None:
                events = events[: fault.cut_after]
            pieces = [e.encode() for e in events]
        else:
            body = json.dumps(_RENDER[provider](response, recorded.body)).encode()
            pieces = [body[: fault.cut_after] if fault.cut_after is not None else body]
        status = 200
    elif fault.body is not None:
        raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
        pieces, status = [raw], fault.status or 200
    else:
        status = fault.status or 500
        pieces = [json.dumps(error_body(provider, status, fault.message)).encode()]
        media = "application/json"
    if fault.keepalive:
        return _send(
            [KEEPALIVE] * fault.keepalive + [b"".join(pieces)],
            status=status,
            headers=headers,
            media_type=media,
            pause=fault.drip,
        )
    if fault.drip:
        single = [bytes([byte]) for byte in b"".join(pieces)]
        return _send(single, status=status, headers=headers, media_type=media, pause=fault.drip)
    if not streamed and fault.answer is None:
        return Response(b"".join(pieces), status_code=status, headers=headers, media_type=media)
    return _send(pieces, status=status, headers=headers, media_type=media)


def _send(
    pieces: Iterable[bytes],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str,
    pause: float = 0.0,
) -> StreamingResponse:
    """A response sending ``pieces`` one after the other, ``pause`` seconds apart."""

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece
            await asyncio.sleep(pause)

    return StreamingResponse(
        body(), status_code=status, headers=dict(headers or {}), media_type=media_type
    )
