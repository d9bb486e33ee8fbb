"""Anthropic Messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigurationError, FatalProviderError
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
    as_dict,
    error_detail,
    sdk_errors,
    sdk_events,
    split_system,
    within_deadline,
)
from ._streams import accumulate_anthropic_stream

if TYPE_CHECKING:
    import anthropic as anthropic_sdk
    from inngest.experimental.ai.base import BaseAdapter

__all__ = ["AnthropicModel", "anthropic"]

DEFAULT_MAX_TOKENS = 4096

_STOP: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicModel(Model):
    """A Claude model. See :func:`anthropic`."""

    provider: ClassVar[str] = "anthropic"
    native_output: ClassVar[bool] = False  # typed answers go through a final-answer tool

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        default_parameters: Mapping[str, Any] | None = None,
        beta_headers: Sequence[str] = (),
        inference: Inference = "in_process",
        timeout: float = 300.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        params = dict(default_parameters or {})
        params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        if not isinstance(params["max_tokens"], int) or params["max_tokens"] < 1:
            raise ConfigurationError(
                f"anthropic/{model}: default_parameters['max_tokens'] must be a positive integer"
            )
        super().__init__(model=model, default_parameters=params, inference=inference)
        self._api_key = api_key
        self._base_url = base_url
        self.beta_headers = list(beta_headers)
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._clients: LoopLocal[anthropic_sdk.AsyncAnthropic] = LoopLocal(
            self._new_client, close=lambda client: client.close()
        )

    @property
    def base_url(self) -> str:
        """The API origin, without ``/v1`` (as the ``anthropic`` SDK expects)."""
        found = env_or(self._base_url, "ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        found = found.rstrip("/")
        return found[: -len("/v1")] if found.endswith("/v1") else found

    def api_key(self) -> str:
        key = env_or(self._api_key, "ANTHROPIC_API_KEY")
        if not key:
            raise ConfigurationError(
                f"{self.label} needs an API key: pass api_key= or set ANTHROPIC_API_KEY"
            )
        return key

    def _extra_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.beta_headers:
            headers["anthropic-beta"] = ",".join(self.beta_headers)
        return headers

    def _new_client(self) -> anthropic_sdk.AsyncAnthropic:
        import anthropic as anthropic_sdk

        return anthropic_sdk.AsyncAnthropic(
            api_key=self.api_key(),
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
            default_headers=self._extra_headers() or None,
            # a plain client, closed with its loop (see LoopLocal)
            http_client=anthropic_sdk.DefaultAsyncHttpxClient(timeout=self.timeout),
        )

    def ai_adapter(self) -> BaseAdapter:
        from inngest.experimental.ai import anthropic as ai_anthropic

        headers = {"anthropic-version": "2023-06-01", **self._extra_headers()}
        return ai_anthropic.Adapter(
            auth_key=self.api_key(),
            base_url=f"{self.base_url}/v1",
            model=self.model,
            headers=headers,
        )

    # -- the pure pair --------------------------------------------------------------

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        system, messages = to_anthropic_messages(request.messages)
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": self._dialect.schema(tool).parameters,
                }
                for tool in request.tools
            ]
            choice = request.tool_choice
            if choice in ("auto", "any"):
                body["tool_choice"] = {"type": choice}
            else:
                body["tool_choice"] = {"type": "tool", "name": choice}
        body.update(self.default_parameters)
        return body

    def parse_response(self, raw: Mapping[str, Any]) -> ModelResponse:
        return parse_anthropic_response(raw)

    # -- the call -------------------------------------------------------------------

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        # the SDK is imported and the client made before the clock starts
        client = self._clients.get()
        return await within_deadline(self.provider, self.timeout, self._send(client, body, on_text))

    async def _send(
        self, client: anthropic_sdk.AsyncAnthropic, body: dict[str, Any], on_text: TextSink | None
    ) -> dict[str, Any]:
        import anthropic as anthropic_sdk
        from anthropic.types import RawMessageStreamEvent

        # the body is already in the wire format: it is posted as it is (the SDK's
        # create() would walk and re-encode the whole conversation on every call)
        payload = {"max_tokens": DEFAULT_MAX_TOKENS, **body}
        with sdk_errors(self.provider, anthropic_sdk, self.secrets()):
            if on_text is None:
                data = await client.post("/v1/messages", body=payload, cast_to=object)
                return as_dict(data, self.provider)
            event_type: Any = RawMessageStreamEvent  # a union: the SDK reads it at run time
            stream = await client.post(
                "/v1/messages",
                body={**payload, "stream": True},
                cast_to=event_type,
                stream=True,
                stream_cls=anthropic_sdk.AsyncStream[RawMessageStreamEvent],
            )
            async with sdk_events(stream) as events:  # closed however the call ends
                return await accumulate_anthropic_stream(events, on_text)


def anthropic(
    model: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    default_parameters: Mapping[str, Any] | None = None,
    beta_headers: Sequence[str] = (),
    inference: Inference = "in_process",
    timeout: float = 300.0,
    headers: Mapping[str, str] | None = None,
) -> AnthropicModel:
    """An Anthropic Claude model.

    Args:
        model: e.g. ``"claude-3-5-haiku-latest"``.
        api_key: default ``$ANTHROPIC_API_KEY``.
        base_url: default ``$ANTHROPIC_BASE_URL`` or ``https://api.anthropic.com``.
        default_parameters: body fields for every request; ``max_tokens`` defaults to
            4096. (Current Anthropic API versions reject sampling parameters such as
            ``temperature``.)
        beta_headers: beta feature names, sent as ``anthropic-beta``.
        inference: ``"in_process"`` or ``"offload"`` (``step.ai.infer``).
        timeout: seconds an in-process call may take in all (connecting, reading,
            streaming) before it gives up and is retried.
        headers: extra HTTP headers.
    """
    return AnthropicModel(
        model=model,
        api_key=api_key,
        base_url=base_url,
        default_parameters=default_parameters,
        beta_headers=beta_headers,
        inference=inference,
        timeout=timeout,
        headers=headers,
    )


# -- converters ---------------------------------------------------------------------------


def to_anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)``: system texts joined; consecutive blocks of one role merged."""
    return split_system(messages, _anthropic_blocks, "content")


def _anthropic_blocks(message: Message) -> list[tuple[str, dict[str, Any]]]:
    """The content blocks a message (not a system text) becomes, each with its role."""
    if isinstance(message, TextMessage):
        if not message.content:
            return []
        return [(message.role, {"type": "text", "text": message.content})]
    if isinstance(message, ToolCallMessage):
        return [
            ("assistant", {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
            for c in message.tools
        ]
    block: dict[str, Any] = {  # a ToolResultMessage
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content_text(),
    }
    if message.is_error:
        block["is_error"] = True
    return [("user", block)]


def parse_anthropic_response(raw: Mapping[str, Any]) -> ModelResponse:
    if raw.get("type") == "error" or raw.get("error"):
        raise FatalProviderError(
            f"anthropic returned an error: {error_detail(dict(raw))}", provider="anthropic"
        )
    content = raw.get("content")
    if not isinstance(content, list):
        raise ValueError("the answer has no content list")
    stop: StopReason = _STOP.get(str(raw.get("stop_reason") or "end_turn"), "other")
    output: list[Message] = []
    pending: list[ToolCall] = []

    def flush() -> None:
        if pending:
            output.append(ToolCallMessage(tools=tuple(pending)))
            pending.clear()

    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            flush()
            text = str(block.get("text") or "")
            if text:
                output.append(
                    TextMessage(
                        role="assistant",
                        content=text,
                        stop_reason="stop" if stop == "tool" else stop,
                    )
                )
        elif kind == "tool_use":
            arguments = block.get("input")
            pending.append(
                ToolCall(
                    id=str(block.get("id")),
                    name=str(block.get("name")),
                    arguments=arguments if isinstance(arguments, dict) else {},
                    arguments_error=None
                    if isinstance(arguments, dict)
                    else "the arguments must be a JSON object",
                )
            )
        # thinking and other block kinds carry nothing the conversation needs
    flush()
    if any(isinstance(m, ToolCallMessage) for m in output):
        stop = "tool"
    usage = raw.get("usage") or {}
    return ModelResponse(
        output=output,
        stop_reason=stop,
        usage=Usage(
            input_tokens=int(usage.get("input_tokens") or 0)
            + int(usage.get("cache_creation_input_tokens") or 0)
            + int(usage.get("cache_read_input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
        ),
    )
