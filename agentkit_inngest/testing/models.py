"""Test doubles for models: a function-backed model and a scripted model.

Both speak the neutral format end to end: the request body is the neutral
conversation and the "raw" answer is neutral messages, so they run through the
same step seam, memoization and replay as real providers.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

from ..errors import ProviderError
from ..messages import (
    Message,
    StopReason,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    Usage,
    dump_history,
    load_history,
)
from ..models import Model, ModelResponse, TextSink

__all__ = [
    "FunctionModel",
    "ModelCall",
    "Reply",
    "ScriptedModel",
    "text",
    "tool_call",
    "tool_calls",
]


@dataclasses.dataclass(frozen=True)
class ModelCall:
    """What a test model received: the conversation, the tools offered and the choice."""

    messages: list[Message]
    tools: list[dict[str, Any]]
    tool_choice: str
    body: dict[str, Any]

    @property
    def system(self) -> str:
        """The system messages' text, joined by newlines."""
        return "\n".join(
            m.content for m in self.messages if isinstance(m, TextMessage) and m.role == "system"
        )

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools offered."""
        return [t["name"] for t in self.tools]

    @property
    def last(self) -> Message | None:
        """The last message of the conversation, or ``None`` when it is empty."""
        return self.messages[-1] if self.messages else None


Reply: TypeAlias = "str | Message | Sequence[Message] | ModelResponse | ProviderError"
"""What a test model answers: text, messages, a full response, or an error to raise."""

Responder: TypeAlias = Callable[[ModelCall], "Reply | Awaitable[Reply]"]

_ids = itertools.count(1)


def text(content: str, *, usage: Usage | None = None) -> ModelResponse:
    """A plain text answer."""
    return ModelResponse(
        output=[TextMessage(role="assistant", content=content, stop_reason="stop")],
        stop_reason="stop",
        usage=usage or Usage(input_tokens=10, output_tokens=5),
    )


def tool_call(
    name: str, arguments: Mapping[str, Any] | None = None, *, id: str | None = None
) -> ModelResponse:
    """An answer that calls one tool."""
    return tool_calls((name, arguments or {}, id))


def tool_calls(
    *calls: tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str | None],
) -> ModelResponse:
    """An answer that calls several tools at once (parallel tool calls)."""
    built = []
    for item in calls:
        name, arguments = item[0], item[1]
        call_id = item[2] if len(item) > 2 else None
        built.append(
            ToolCall(id=call_id or f"call_{next(_ids)}", name=name, arguments=dict(arguments))
        )
    return ModelResponse(
        output=[ToolCallMessage(tools=tuple(built))],
        stop_reason="tool",
        usage=Usage(input_tokens=10, output_tokens=5),
    )


def text_pieces(text: str) -> list[str]:
    """``text`` cut into word-sized pieces, as a streaming model would send it."""
    return re.findall(r"\S+\s*|\s+", text)


def _to_response(reply: Reply) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        return reply
    if isinstance(reply, str):
        return text(reply)
    if isinstance(reply, (TextMessage, ToolCallMessage)):
        messages: list[Message] = [reply]
    elif isinstance(reply, (list, tuple)):
        messages = list(reply)
    else:
        raise TypeError(f"a test model cannot answer with {type(reply).__name__}")
    stop: StopReason = "tool" if any(isinstance(m, ToolCallMessage) for m in messages) else "stop"
    return ModelResponse(
        output=messages, stop_reason=stop, usage=Usage(input_tokens=10, output_tokens=5)
    )


class _NeutralModel(Model):
    """Shared parts: neutral bodies and neutral raw answers.

    Attributes:
        calls: every request the model received, in order, as a :class:`ModelCall`
            (``messages``, ``tools``, ``tool_choice``, the raw ``body``; ``system``,
            ``tool_names`` and ``last`` read them). Under Inngest a replay reads the
            inference's memo and does not call the model, so this lists each inference
            once (twice when a step was retried).
    """

    provider: ClassVar[str] = "test"

    def __init__(self, *, model: str = "test-model") -> None:
        super().__init__(model=model)
        self.calls: list[ModelCall] = []

    async def _answer(self, call: ModelCall) -> Reply:
        raise NotImplementedError

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        call = ModelCall(
            messages=load_history(body.get("messages", [])),
            tools=list(body.get("tools", [])),
            tool_choice=str(body.get("tool_choice", "auto")),
            body=body,
        )
        self.calls.append(call)
        reply = await self._answer(call)
        if isinstance(reply, ProviderError):
            raise reply
        response = _to_response(reply)
        if on_text is not None:
            for message in response.output:
                if isinstance(message, TextMessage):
                    for piece in text_pieces(message.content):
                        await on_text(piece)
        return {
            "output": dump_history(response.output),
            "stop_reason": response.stop_reason,
            "usage": response.usage.model_dump(),
        }


class FunctionModel(_NeutralModel):
    """A model whose answers come from a function of the :class:`ModelCall`.

    Every request is recorded in :attr:`calls`.

    The function may be sync or async and returns a :data:`Reply`; returning (not
    raising) a :class:`~agentkit_inngest.errors.ProviderError` makes the call fail
    with it.
    """

    def __init__(self, function: Responder, *, model: str = "function-model") -> None:
        super().__init__(model=model)
        self.function = function

    async def _answer(self, call: ModelCall) -> Reply:
        reply = self.function(call)
        if inspect.isawaitable(reply):
            reply = await reply
        return reply


class ScriptedModel(_NeutralModel):
    """A model that gives queued answers in order and records every request.

    Every request is recorded in :attr:`calls` (a list of :class:`ModelCall`).

    Each entry is a :data:`Reply` or a function of the :class:`ModelCall` returning
    one. Running out of answers raises :class:`AssertionError` naming the call.
    """

    def __init__(
        self, responses: Iterable[Reply | Responder] = (), *, model: str = "scripted-model"
    ) -> None:
        super().__init__(model=model)
        self._queue: list[Reply | Responder] = list(responses)

    def add(self, *responses: Reply | Responder) -> ScriptedModel:
        """Queue more answers after those already queued; returns the model."""
        self._queue.extend(responses)
        return self

    @property
    def remaining(self) -> int:
        """How many queued answers are left."""
        return len(self._queue)

    async def _answer(self, call: ModelCall) -> Reply:
        if not self._queue:
            raise AssertionError(
                f"{self.model} has no scripted answer left for call #{len(self.calls)} "
                f"(last message: {call.last!r})"
            )
        entry = self._queue.pop(0)
        if callable(entry) and not isinstance(entry, ProviderError):
            reply = entry(call)
            if inspect.isawaitable(reply):
                reply = await reply
            return reply
        return entry
