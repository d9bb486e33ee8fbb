"""The model interface: one abstract method plus a pure pair of converters.

A :class:`Model` turns a neutral :class:`ModelRequest` into a provider body
(:meth:`Model.build_body`), sends it (:meth:`Model.request`, the one abstract
method) and turns the provider's raw JSON back into neutral messages
(:meth:`Model.parse_response`). The converters are pure, so a memoized raw
response is parsed again on replay without any I/O, and the same code serves
in-process inference and inference offloaded to the Inngest server.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

from ..errors import AgentKitError, ConfigurationError, ProviderError, RetriableProviderError
from ..messages import Message, StopReason, Usage
from ..tools import Tool
from ..tools._definition import ToolDefinition
from ._answer_json import json_answer, json_text
from ._common import redact
from ._schema import SchemaDialect
from ._structured import OutputSchema

if TYPE_CHECKING:
    from inngest.experimental.ai.base import BaseAdapter

__all__ = [
    "Inference",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "TextSink",
    "ToolChoice",
]

TextSink: TypeAlias = "Callable[[str], Awaitable[None]]"
"""Receives text as the model writes it (streaming)."""

ToolChoice: TypeAlias = str
"""``"auto"`` (the model decides), ``"any"`` (it must call some tool) or a tool's name."""

Inference: TypeAlias = Literal["in_process", "offload"]
"""Where a durable run makes the provider call: in the app inside ``step.run`` (the
default), or on the Inngest server through ``step.ai.infer``."""


@dataclasses.dataclass(frozen=True)
class ModelRequest:
    """A provider-neutral request: the conversation, the tools and the tool choice.

    Attributes:
        messages: the conversation so far.
        tools: what the model is told about each tool it may call (neutral
            :class:`ToolDefinition` s: ``[tool.definition for tool in tools]``).
            Deprecated, for one version: :class:`~agentkit_inngest.Tool` objects are
            still accepted and replaced by their ``definition`` (with a
            :class:`DeprecationWarning`).
        tool_choice: see :data:`ToolChoice`.
        output: a structured answer to ask for natively (models whose
            :attr:`Model.native_output` is ``True``); ``None`` for free text.
    """

    messages: list[Message]
    tools: list[ToolDefinition] = dataclasses.field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    output: OutputSchema | None = None

    def __post_init__(self) -> None:
        given: list[object] = list(self.tools)
        if all(isinstance(item, ToolDefinition) for item in given):
            return
        definitions: list[ToolDefinition] = []
        for item in given:
            if isinstance(item, ToolDefinition):
                definitions.append(item)
            elif isinstance(item, Tool):
                definitions.append(item.definition)
            else:
                raise TypeError(
                    "ModelRequest.tools holds ToolDefinition objects (tool.definition), "
                    f"not {type(item).__name__}"
                )
        warnings.warn(
            "ModelRequest(tools=[Tool, ...]) is deprecated: pass the tools' definitions "
            "([tool.definition for tool in tools])",
            DeprecationWarning,
            stacklevel=3,
        )
        object.__setattr__(self, "tools", definitions)


@dataclasses.dataclass(frozen=True)
class ModelResponse:
    """A provider-neutral response."""

    output: list[Message]
    stop_reason: StopReason
    usage: Usage


class Model(ABC):
    """A model of one provider.

    Subclasses implement :meth:`request`; providers also override the converters.

    Args:
        model: the provider's model name.
        default_parameters: extra body fields sent with every request
            (``temperature``, ``max_tokens``...).
        inference: ``"in_process"`` (default) or ``"offload"``; see :data:`Inference`.
    """

    provider: ClassVar[str] = "custom"
    native_output: ClassVar[bool] = True
    """Whether ``build_body`` asks the provider for a :class:`OutputSchema` answer
    natively (``ModelRequest.output``); else typed answers use a final-answer tool."""
    _dialect: SchemaDialect = SchemaDialect()  # how the provider wants tool schemas

    def __init__(
        self,
        *,
        model: str,
        default_parameters: Mapping[str, Any] | None = None,
        inference: Inference = "in_process",
    ) -> None:
        if inference not in ("in_process", "offload"):
            raise ConfigurationError(
                f"inference must be 'in_process' or 'offload', got {inference!r}"
            )
        self.model = model
        self.default_parameters: dict[str, Any] = dict(default_parameters or {})
        self.inference: Inference = inference

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, inference={self.inference!r})"

    @property
    def label(self) -> str:
        """``provider/model``, for logs and errors."""
        return f"{self.provider}/{self.model}"

    @abstractmethod
    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        """Send ``body`` to the provider in this process; return its raw JSON answer.

        With ``on_text`` the call streams: text is passed to ``on_text`` as it
        arrives, and the returned JSON has the same shape as a non-streamed answer
        (so memoized answers do not depend on whether a run streamed).

        Raises:
            RetriableProviderError: rate limits, server errors, timeouts.
            FatalProviderError: any other failure.
        """

    def secrets(self) -> list[str]:
        """Values that must never appear in an error message.

        The API key of a model with an ``api_key()`` method. Override to add others.
        """
        api_key = getattr(self, "api_key", None)
        if callable(api_key):
            try:
                key = api_key()
            except ConfigurationError:
                return []
            if isinstance(key, str) and key:
                return [key]
        return []

    async def complete(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        """:meth:`request`, then check that the answer can be memoized and read.

        :meth:`request`, then checks that the answer can be memoized and read, so a
        bad answer fails (and retries) its step instead of being memoized.

        Whatever the provider sends, the outcome is the answer or a
        :class:`ProviderError`: an answer that cannot be read (not JSON, ``NaN``,
        nested too deeply, the wrong shape) is a :class:`RetriableProviderError`.
        Lone surrogates in the answer (and in streamed text) become U+FFFD. A
        provider error that repeats a secret (some echo the API key) is redacted.
        """
        sink = None if on_text is None else _checked_sink(on_text)
        try:
            # a custom model may not stream: only ask for it when there is a listener
            raw = await (self.request(body) if sink is None else self.request(body, on_text=sink))
        except ProviderError as err:
            cleaned = redact_error(err, self.secrets())
            if cleaned is err:
                raise
            raise cleaned from None
        except _SinkFailed as failed:
            raise failed.error from None
        try:
            answer: dict[str, Any] = json_answer(raw)
            self.parse_response(answer)
        except AgentKitError:
            raise
        except Exception as err:
            raise self._unreadable(err) from err
        return answer

    def _unreadable(self, err: BaseException) -> RetriableProviderError:
        reason = redact(f"{type(err).__name__}: {err}", self.secrets())
        if len(reason) > 500:
            reason = reason[:497] + "..."
        return RetriableProviderError(
            f"{self.label} answered with a response that cannot be read (will retry): {reason}",
            provider=self.provider,
        )

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The provider request body for ``request`` (pure)."""
        from ..messages import dump_history

        return {
            "model": self.model,
            "messages": dump_history(request.messages),
            "tools": [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }
                for tool in request.tools
            ],
            "tool_choice": request.tool_choice,
            **({"output": dataclasses.asdict(request.output)} if request.output else {}),
            **self.default_parameters,
        }

    def parse_response(self, raw: Mapping[str, Any]) -> ModelResponse:
        """Neutral messages and usage from a raw answer (pure)."""
        from ..messages import load_history

        return ModelResponse(
            output=load_history(raw.get("output", [])),
            stop_reason=raw.get("stop_reason", "stop"),
            usage=Usage.model_validate(raw.get("usage") or {}),
        )

    def answered_by(self, raw: Mapping[str, Any]) -> Model:  # noqa: ARG002 - read by overrides
        """The model that gave the memoized answer ``raw``.

        This one (a model that delegates, like :class:`~agentkit_inngest.models.FallbackModel`, says
        which). Its provider and name price the answer.
        """
        return self

    def ai_adapter(self) -> BaseAdapter:
        """The ``inngest.experimental.ai`` adapter used when ``inference="offload"``."""
        raise ConfigurationError(
            f"model {self.label} cannot offload inference to Inngest; use inference='in_process'"
        )


class _SinkFailed(Exception):
    """Carries an exception raised by the text sink out through the adapter.

    That way it is not mistaken for an unreadable answer.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _checked_sink(on_text: TextSink) -> TextSink:
    async def sink(piece: str) -> None:
        if not isinstance(piece, str):  # an adapter passed on what the provider sent
            raise TypeError(f"streamed text is a {type(piece).__name__}, not a string")
        try:
            await on_text(json_text(piece))
        except Exception as err:
            raise _SinkFailed(err) from err

    return sink


def redact_error(err: ProviderError, secrets: list[str]) -> ProviderError:
    """``err`` with any secret it mentions redacted.

    ``err`` itself when neither it nor an exception it was raised from mentions a
    secret; else a copy with a redacted message and no chain (a chained provider SDK
    exception would carry the secret into tracebacks and Inngest's error stack).
    """
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    texts = [str(item) for item in chain]
    if not any(redact(text, secrets) != text for text in texts):
        return err
    message = redact(str(err), secrets)
    if redact(str(err), secrets) == str(err):
        message += " (details from the provider were withheld: they contained a secret)"
    return type(err)(
        message,
        provider=err.provider,
        status_code=err.status_code,
        retry_after=err.retry_after,
    )


def env_or(value: str | None, *names: str) -> str | None:
    """``value`` when given, else the first environment variable of ``names`` that is set."""
    if value:
        return value
    for name in names:
        found = os.environ.get(name)
        if found:
            return found
    return None
