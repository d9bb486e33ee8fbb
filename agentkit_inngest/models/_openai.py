"""OpenAI Chat Completions (and any OpenAI-compatible endpoint: Ollama, vLLM, LiteLLM...)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigurationError, FatalProviderError
from ..messages import (
    Message,
    StopReason,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolResultMessage,
    Usage,
)
from ..tools._definition import ToolDefinition
from ._base import Inference, Model, ModelRequest, ModelResponse, TextSink, env_or
from ._clients import LoopLocal
from ._common import (
    as_dict,
    error_detail,
    sdk_errors,
    sdk_events,
    within_deadline,
)
from ._schema import OpenAIDialect, StrictTools
from ._streams import accumulate_openai_stream
from ._structured import OutputSchema

if TYPE_CHECKING:
    import openai as openai_sdk
    from inngest.experimental.ai.base import BaseAdapter

__all__ = ["OpenAIModel", "openai"]

_FINISH: dict[str, StopReason] = {
    "stop": "stop",
    "tool_calls": "tool",
    "function_call": "tool",
    "length": "length",
    "content_filter": "content_filter",
}


class OpenAIModel(Model):
    """A Chat Completions model. See :func:`openai`."""

    provider: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    key_variables: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    url_variables: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL",)
    default_strict_tools: ClassVar[StrictTools] = "auto"
    _dialect: OpenAIDialect

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        default_parameters: Mapping[str, Any] | None = None,
        inference: Inference = "in_process",
        timeout: float = 120.0,
        headers: Mapping[str, str] | None = None,
        strict_tools: StrictTools | None = None,
    ) -> None:
        super().__init__(model=model, default_parameters=default_parameters, inference=inference)
        self._dialect = OpenAIDialect(strict_tools or self.default_strict_tools)
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._clients: LoopLocal[openai_sdk.AsyncOpenAI] = LoopLocal(
            self._new_client, close=lambda client: client.close()
        )

    # -- configuration --------------------------------------------------------------

    @property
    def strict_tools(self) -> StrictTools:
        """How tool schemas are sent: see :data:`~agentkit_inngest.models.StrictTools`."""
        return self._dialect.strict_tools

    @property
    def base_url(self) -> str:
        return (env_or(self._base_url, *self.url_variables) or self.default_base_url).rstrip("/")

    def api_key(self) -> str:
        key = env_or(self._api_key, *self.key_variables)
        if not key:
            raise ConfigurationError(
                f"{self.label} needs an API key: pass api_key= or set "
                f"{' or '.join(self.key_variables)}"
            )
        return key

    def _new_client(self) -> openai_sdk.AsyncOpenAI:
        import openai as openai_sdk

        return openai_sdk.AsyncOpenAI(
            api_key=self.api_key(),
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
            default_headers=self.headers or None,
            # a plain client: the SDK's own closes itself on whatever loop runs when it
            # is collected (see LoopLocal, which closes it with its loop instead)
            http_client=openai_sdk.DefaultAsyncHttpxClient(timeout=self.timeout),
        )

    def ai_adapter(self) -> BaseAdapter:
        from inngest.experimental.ai import openai as ai_openai

        return ai_openai.Adapter(
            auth_key=self.api_key(), base_url=self.base_url, model=self.model, headers=self.headers
        )

    # -- the pure pair --------------------------------------------------------------

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages),
        }
        if request.tools:
            body["tools"] = [self._function(tool) for tool in request.tools]
            choice = request.tool_choice
            if choice == "auto":
                body["tool_choice"] = "auto"
            elif choice == "any":
                body["tool_choice"] = "required"
            else:
                body["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if request.output is not None:
            body["response_format"] = self._response_format(request.output)
        body.update(self.default_parameters)
        return body

    def _response_format(self, output: OutputSchema) -> dict[str, Any]:
        """A structured answer as ``response_format``.

        A JSON Schema, strict where the schema allows (as a tool's is).
        """
        schema = self._dialect.schema(output.definition)
        spec: dict[str, Any] = {"name": output.name, "schema": schema.parameters}
        if output.description:
            spec["description"] = output.description
        if schema.strict is not None:
            spec["strict"] = schema.strict
        return {"type": "json_schema", "json_schema": spec}

    def _function(self, tool: ToolDefinition) -> dict[str, Any]:
        schema = self._dialect.schema(tool)
        function: dict[str, Any] = {
            "name": tool.name,
            "description": tool.description,
            "parameters": schema.parameters,
        }
        if schema.strict is not None:
            function["strict"] = schema.strict
        return {"type": "function", "function": function}

    def parse_response(self, raw: Mapping[str, Any]) -> ModelResponse:
        return parse_openai_response(raw, provider=self.provider)

    # -- the call -------------------------------------------------------------------

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        # the SDK is imported and the client made before the clock starts
        client = self._clients.get()
        return await within_deadline(self.provider, self.timeout, self._send(client, body, on_text))

    async def _send(
        self, client: openai_sdk.AsyncOpenAI, body: dict[str, Any], on_text: TextSink | None
    ) -> dict[str, Any]:
        import openai as openai_sdk
        from openai.types.chat import ChatCompletionChunk

        # the body is already in the wire format: it is posted as it is (the SDK's
        # create() would walk and re-encode the whole conversation on every call)
        with sdk_errors(self.provider, openai_sdk, self.secrets()):
            if on_text is None:
                data = await client.post("/chat/completions", body=body, cast_to=object)
                return as_dict(data, self.provider)
            stream = await client.post(
                "/chat/completions",
                body={**body, "stream": True, "stream_options": {"include_usage": True}},
                cast_to=ChatCompletionChunk,
                stream=True,
                stream_cls=openai_sdk.AsyncStream[ChatCompletionChunk],
            )
            async with sdk_events(stream) as events:  # closed however the call ends
                return await accumulate_openai_stream(events, on_text, provider=self.provider)


def openai(
    model: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    default_parameters: Mapping[str, Any] | None = None,
    inference: Inference = "in_process",
    timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
    strict_tools: StrictTools = "auto",
) -> OpenAIModel:
    """An OpenAI (or OpenAI-compatible) chat model.

    Args:
        model: e.g. ``"gpt-4o-mini"``.
        api_key: default ``$OPENAI_API_KEY``.
        base_url: default ``$OPENAI_BASE_URL`` or ``https://api.openai.com/v1``; point
            it at Ollama, vLLM or a LiteLLM proxy to use those.
        default_parameters: body fields for every request (``temperature``,
            ``max_completion_tokens``, ``parallel_tool_calls``...).
        inference: ``"in_process"`` or ``"offload"`` (``step.ai.infer``).
        timeout: seconds an in-process call may take in all (connecting, reading,
            streaming) before it gives up and is retried.
        headers: extra HTTP headers.
        strict_tools: ``"auto"`` (strict schemas whenever a tool's parameters allow
            it), ``"off"`` (plain schemas, ``"strict": false``) or ``"omit"`` (plain
            schemas and no ``strict`` field, for compatible servers that reject it);
            see :data:`~agentkit_inngest.models.StrictTools`.
    """
    return OpenAIModel(
        model=model,
        api_key=api_key,
        base_url=base_url,
        default_parameters=default_parameters,
        inference=inference,
        timeout=timeout,
        headers=headers,
        strict_tools=strict_tools,
    )


# -- converters ---------------------------------------------------------------------------


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, TextMessage):
            if message.role == "assistant" and out and _open_assistant(out[-1]):
                previous = out[-1]
                previous["content"] = _join(previous.get("content"), message.content)
                continue
            out.append({"role": message.role, "content": message.content})
        elif isinstance(message, ToolCallMessage):
            calls = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments_text(call)},
                }
                for call in message.tools
            ]
            if out and _open_assistant(out[-1]):
                out[-1].setdefault("tool_calls", []).extend(calls)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif isinstance(message, ToolResultMessage):
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "content": message.content_text(),
                }
            )
    return out


def _open_assistant(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant"


def _join(first: object, second: str) -> str:
    if not isinstance(first, str) or not first:
        return second
    return f"{first}\n{second}" if second else first


def _arguments_text(call: ToolCall) -> str:
    if call.arguments_error is not None and call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(call.arguments, ensure_ascii=False)


def parse_tool_arguments(text: object) -> tuple[dict[str, Any], str | None, str | None]:
    """Arguments from the model's JSON text: ``(arguments, error, raw_text)``."""
    if isinstance(text, dict):
        return dict(text), None, None
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}, None, None
    raw = str(text)
    try:
        value = json.loads(raw)
    except ValueError as err:
        return {}, f"the arguments are not valid JSON ({err})", raw
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, got {type(value).__name__}", raw
    return value, None, None


def parse_openai_response(raw: Mapping[str, Any], *, provider: str) -> ModelResponse:
    if raw.get("error"):
        raise FatalProviderError(
            f"{provider} returned an error: {error_detail(dict(raw))}", provider=provider
        )
    choices = raw.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("the answer has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    finish = str(choice.get("finish_reason") or "stop")
    stop: StopReason = _FINISH.get(finish, "other")
    output: list[Message] = []
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    if isinstance(content, str) and content.strip():
        output.append(
            TextMessage(
                role="assistant", content=content, stop_reason="stop" if stop == "tool" else stop
            )
        )
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        output.append(TextMessage(role="assistant", content=refusal, stop_reason="content_filter"))
    calls: list[ToolCall] = []
    for index, item in enumerate(message.get("tool_calls") or []):
        function = item.get("function") or {}
        arguments, error, raw_text = parse_tool_arguments(function.get("arguments"))
        calls.append(
            ToolCall(
                id=str(item.get("id") or f"call_{index}"),
                name=str(function.get("name", "")),
                arguments=arguments,
                arguments_error=error,
                raw_arguments=raw_text,
            )
        )
    if calls:
        output.append(ToolCallMessage(tools=tuple(calls)))
        stop = "tool"
    usage = raw.get("usage") or {}
    return ModelResponse(
        output=output,
        stop_reason=stop,
        usage=Usage(
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        ),
    )
