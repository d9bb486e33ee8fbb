"""Google Gemini ``generateContent`` (REST, over httpx)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

import httpx

from ..errors import (
    ConfigurationError,
    FatalProviderError,
    bounded_retry_after,
)
from ..messages import (
    Message,
    StopReason,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    Usage,
)
from ._base import Inference, Model, ModelRequest, ModelResponse, TextSink, env_or
from ._clients import LoopLocal
from ._common import (
    UNREADABLE,
    as_dict,
    decimal_seconds,
    error_detail,
    split_system,
    status_error,
    transport_error,
    unreadable,
    within_deadline,
)
from ._gemini_config import gemini_parameters
from ._schema import GeminiDialect
from ._streams import accumulate_gemini_stream

if TYPE_CHECKING:
    from inngest.experimental.ai.base import BaseAdapter

__all__ = ["GeminiModel", "gemini"]

_FINISH: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


class GeminiModel(Model):
    """A Gemini model. See :func:`gemini`."""

    provider: ClassVar[str] = "gemini"
    _dialect = GeminiDialect()

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        default_parameters: Mapping[str, Any] | None = None,
        inference: Inference = "in_process",
        timeout: float = 120.0,
    ) -> None:
        parameters = gemini_parameters(f"{self.provider}/{model}", default_parameters)
        super().__init__(model=model, default_parameters=parameters, inference=inference)
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout
        self._clients: LoopLocal[httpx.AsyncClient] = LoopLocal(
            lambda: httpx.AsyncClient(timeout=self.timeout), close=httpx.AsyncClient.aclose
        )

    @property
    def base_url(self) -> str:
        found = env_or(self._base_url, "GEMINI_BASE_URL")
        return (found or "https://generativelanguage.googleapis.com/v1beta").rstrip("/")

    def api_key(self) -> str:
        key = env_or(self._api_key, "GEMINI_API_KEY", "GOOGLE_API_KEY")
        if not key:
            raise ConfigurationError(
                f"{self.label} needs an API key: pass api_key= or set GEMINI_API_KEY"
            )
        return key

    def ai_adapter(self) -> BaseAdapter:
        from inngest.experimental.ai import gemini as ai_gemini

        return ai_gemini.Adapter(auth_key=self.api_key(), base_url=self.base_url, model=self.model)

    # -- the pure pair --------------------------------------------------------------

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        system, contents = to_gemini_contents(request.messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            declarations = []
            for tool in request.tools:
                declaration: dict[str, Any] = {"name": tool.name, "description": tool.description}
                schema = self._dialect.schema(tool).parameters
                if schema.get("properties"):
                    declaration["parameters"] = schema
                declarations.append(declaration)
            body["tools"] = [{"functionDeclarations": declarations}]
            choice = request.tool_choice
            if choice == "auto":
                config: dict[str, Any] = {"mode": "AUTO"}
            elif choice == "any":
                config = {"mode": "ANY"}
            else:
                config = {"mode": "ANY", "allowedFunctionNames": [choice]}
            body["toolConfig"] = {"functionCallingConfig": config}
        body.update(self.default_parameters)
        if request.output is not None:  # merged into the settings' generationConfig
            body["generationConfig"] = {
                **(body.get("generationConfig") or {}),
                "responseMimeType": "application/json",
                "responseSchema": self._dialect.schema(request.output.definition).parameters,
            }
        return body

    def parse_response(self, raw: Mapping[str, Any]) -> ModelResponse:
        return parse_gemini_response(raw)

    # -- the call -------------------------------------------------------------------

    def _status_error(self, response: httpx.Response, text: str) -> Exception:
        return status_error(
            self.provider,
            response.status_code,
            error_detail(text),
            dict(response.headers),
            retry_after=_retry_delay(text),
            secrets=self.secrets(),
        )

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        # the client is made before the clock starts
        client = self._clients.get()
        return await within_deadline(self.provider, self.timeout, self._send(client, body, on_text))

    async def _send(
        self, client: httpx.AsyncClient, body: dict[str, Any], on_text: TextSink | None
    ) -> dict[str, Any]:
        headers = {"x-goog-api-key": self.api_key()}
        try:
            if on_text is not None:
                url = f"{self.base_url}/models/{self.model}:streamGenerateContent?alt=sse"
                async with client.stream("POST", url, json=body, headers=headers) as streamed:
                    if streamed.status_code >= 400:
                        text = (await streamed.aread()).decode("utf-8", "replace")
                        raise self._status_error(streamed, text)
                    lines = cast("AsyncGenerator[str, None]", streamed.aiter_lines())
                    try:
                        return await accumulate_gemini_stream(
                            lines, on_text, secrets=self.secrets()
                        )
                    finally:  # closed here however reading ends (see sdk_events)
                        await lines.aclose()
            url = f"{self.base_url}/models/{self.model}:generateContent"
            response = await client.post(url, json=body, headers=headers)
        except httpx.TimeoutException as err:
            raise transport_error(self.provider, err, timeout=True) from err
        except httpx.TransportError as err:
            raise transport_error(self.provider, err, timeout=False) from err
        except UNREADABLE as err:  # a stream's chunks of the wrong shape, or not JSON
            raise unreadable(self.provider, err, self.secrets()) from err
        if response.status_code >= 400:
            raise self._status_error(response, response.text)
        try:
            data = response.json()
        except (ValueError, RecursionError) as err:
            raise status_error(self.provider, 502, "the answer is not JSON") from err
        return as_dict(data, self.provider)


def gemini(
    model: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    default_parameters: Mapping[str, Any] | None = None,
    inference: Inference = "in_process",
    timeout: float = 120.0,
) -> GeminiModel:
    """A Google Gemini model.

    Args:
        model: e.g. ``"gemini-2.5-flash"``.
        api_key: default ``$GEMINI_API_KEY`` (or ``$GOOGLE_API_KEY``).
        base_url: default ``$GEMINI_BASE_URL`` or the public ``v1beta`` endpoint.
        default_parameters: settings for every request. The native request fields
            (``generationConfig``, ``safetySettings``, ``systemInstruction``,
            ``toolConfig``, ``cachedContent``, ``labels``) are sent as they are;
            sampling settings given flat, as for other providers (``temperature``,
            ``top_p``, ``max_tokens``, ``stop``, ``seed``...), go into
            ``generationConfig``. Anything else raises a :class:`ConfigurationError`
            listing what is accepted (Gemini would reject the request).
        inference: ``"in_process"`` or ``"offload"`` (``step.ai.infer``; the key then
            travels in the URL the Inngest server calls).
        timeout: seconds an in-process call may take in all (connecting, reading,
            streaming) before it gives up and is retried.
    """
    return GeminiModel(
        model=model,
        api_key=api_key,
        base_url=base_url,
        default_parameters=default_parameters,
        inference=inference,
        timeout=timeout,
    )


# -- converters ---------------------------------------------------------------------------


def to_gemini_contents(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """``(system, contents)``: system texts joined; consecutive parts of one role merged."""
    return split_system(messages, _gemini_parts, "parts")


def _gemini_parts(message: Message) -> list[tuple[str, dict[str, Any]]]:
    """The parts a message (not a system text) becomes, each with its role."""
    if isinstance(message, TextMessage):
        if not message.content:
            return []
        return [("model" if message.role == "assistant" else "user", {"text": message.content})]
    if isinstance(message, ToolCallMessage):
        parts: list[tuple[str, dict[str, Any]]] = []
        for call in message.tools:
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
            if call.meta and "thoughtSignature" in call.meta:
                part["thoughtSignature"] = call.meta["thoughtSignature"]
            parts.append(("model", part))
        return parts
    key = "error" if message.is_error else "output"  # a ToolResultMessage
    content = message.content
    response = content if isinstance(content, dict) and not message.is_error else {key: content}
    return [("user", {"functionResponse": {"name": message.name, "response": response}})]


def parse_gemini_response(raw: Mapping[str, Any]) -> ModelResponse:
    if raw.get("error"):
        raise FatalProviderError(
            f"gemini returned an error: {error_detail(dict(raw))}", provider="gemini"
        )
    usage = raw.get("usageMetadata") or {}
    counted = Usage(
        input_tokens=int(usage.get("promptTokenCount") or 0),
        output_tokens=int(usage.get("candidatesTokenCount") or 0)
        + int(usage.get("thoughtsTokenCount") or 0),
    )
    candidates = raw.get("candidates")
    if not candidates:
        feedback = raw.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            text = f"(the prompt was blocked: {feedback['blockReason']})"
            return ModelResponse(
                output=[TextMessage(role="assistant", content=text, stop_reason="content_filter")],
                stop_reason="content_filter",
                usage=counted,
            )
        raise ValueError("the answer has no candidates")
    candidate = candidates[0]
    finish = str(candidate.get("finishReason") or "STOP")
    stop: StopReason = _FINISH.get(finish, "other")
    parts = (candidate.get("content") or {}).get("parts") or []
    # Gemini rarely gives call ids: derive stable ones from the answer itself.
    digest = hashlib.sha1(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:10]
    texts: list[str] = []
    calls: list[ToolCall] = []
    for index, part in enumerate(parts):
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionCall" in part:
            call = part["functionCall"] or {}
            args = call.get("args")
            meta = (
                {"thoughtSignature": part["thoughtSignature"]}
                if "thoughtSignature" in part
                else None
            )
            calls.append(
                ToolCall(
                    id=str(call.get("id") or f"call_{digest}_{index}"),
                    name=str(call.get("name", "")),
                    arguments=args if isinstance(args, dict) else {},
                    meta=meta,
                )
            )
    output: list[Message] = []
    text = "".join(texts)
    if text.strip():
        output.append(TextMessage(role="assistant", content=text, stop_reason=stop))
    if calls:
        output.append(ToolCallMessage(tools=tuple(calls)))
        stop = "tool"
    return ModelResponse(output=output, stop_reason=stop, usage=counted)


def _retry_delay(text: str) -> float | None:
    """The ``retryDelay`` a Gemini error body asks for, capped.

    The ``retryDelay`` (``"30s"``) a Gemini error body asks for, capped; ``None``
    when there is none or it is not a plain number of seconds.
    """
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s") and delay.isascii():
            seconds = decimal_seconds(delay[:-1])
            if seconds is not None:
                return bounded_retry_after(seconds)
    return None
