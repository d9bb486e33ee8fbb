"""The stream events of an agent call, emitted from one place.

Every event an agent call emits (``agent.started``, ``text.delta``, ``usage``,
``tool.call``, ``tool.result``, ``agent.finished``) goes through
:class:`CallEvents`, which names the agent and the call once. The run's
:class:`~agentkit_inngest._steps.RunStream` decides when each is published.
"""

from __future__ import annotations

from typing import Any

from .._steps import RunStream
from ..messages import ToolCall, Usage
from ..models import Model, TextSink

__all__ = ["CallEvents"]


class CallEvents:
    """The events of one agent call (``Triage#1``) on the run's stream."""

    def __init__(self, stream: RunStream, agent: str, call: str) -> None:
        self.stream = stream
        self.agent = agent
        self.call = call

    @property
    def enabled(self) -> bool:
        """Whether the events go anywhere."""
        return self.stream.enabled

    async def started(self) -> None:
        """The call began."""
        await self.stream.emit("agent.started", agent=self.agent, call=self.call)

    async def finished(self, output: str, usage: Usage) -> None:
        """The call ended with ``output``."""
        if not self.stream.enabled:  # no publisher: spare the usage's dump on every replay
            return
        await self.stream.emit(
            "agent.finished",
            agent=self.agent,
            call=self.call,
            output=output,
            usage=usage.model_dump(),
        )

    async def text(self, step: str, delta: str) -> None:
        """Text the model wrote in step ``step``."""
        await self.stream.emit(
            "text.delta", agent=self.agent, call=self.call, step=step, delta=delta
        )

    def text_sink(self, model: Model, step: str) -> TextSink | None:
        """Where an in-process inference streams its text (``None``: nowhere)."""
        if not (self.stream.enabled and model.inference == "in_process"):
            return None

        async def on_text(delta: str) -> None:
            await self.text(step, delta)

        return on_text

    async def usage(
        self, usage: Usage, *, model: str | None = None, cost_usd: float | None = None
    ) -> None:
        """Tokens, model and estimated cost of one inference.

        Tokens one inference used, the model that answered and its estimated cost
        (``None`` when the model has no price).
        """
        await self.stream.emit(
            "usage",
            agent=self.agent,
            call=self.call,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model=model,
            cost_usd=cost_usd,
        )

    async def tool_call(self, call: ToolCall) -> None:
        """A tool call starts."""
        if self.stream.enabled:
            await self.stream.emit(
                "tool.call",
                agent=self.agent,
                call=self.call,
                id=call.id,
                name=call.name,
                arguments=call.arguments,
            )

    async def tool_result(self, call: ToolCall, content: Any, is_error: bool) -> None:
        """A tool call ended."""
        if self.stream.enabled:
            await self.stream.emit(
                "tool.result",
                agent=self.agent,
                call=self.call,
                id=call.id,
                name=call.name,
                content=content,
                is_error=is_error,
            )
