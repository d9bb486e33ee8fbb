"""One model call as a step of your own Inngest function: AgentKit's ``step.ai.infer``.

::

    @create_function(client=client, fn_id="research-web-tool", input=Research)
    async def research(ctx: inngest.Context, request: Research) -> dict:
        queries = await infer(
            "generate-search-queries",
            model=openai("gpt-4o"),
            system="Write three web search queries, one per line.",
            prompt=request.input,
        )
        ...
        return {"queries": queries.text.splitlines()}

Inside an Inngest function the call is a step of that function (found without being
passed, see :func:`~agentkit_inngest._steps.default_runner`): offloaded to the
Inngest server with ``step.ai.infer`` when the model can be (OpenAI, Anthropic,
Gemini, Grok), so your app holds no compute while the model thinks, else made in
process inside a ``step.run``. In plain Python it runs inline.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ..messages import Message, TextMessage, ToolCall, ToolCallMessage, Usage
from ..models import Model, ModelRequest, ModelResponse, ToolChoice
from ..tools import Tool
from ._current import default_runner
from ._runner import StepRunner

__all__ = ["InferResult", "infer"]


@dataclasses.dataclass(frozen=True)
class InferResult:
    """What :func:`infer` returns: the neutral response and the provider's raw JSON.

    Attributes:
        response: the answer as neutral messages, stop reason and usage.
        raw: the provider's raw answer (what TypeScript's ``step.ai.infer`` returns).
    """

    response: ModelResponse
    raw: dict[str, Any]

    @property
    def text(self) -> str:
        """The text the model wrote (its text messages joined by newlines)."""
        return "\n".join(
            m.content for m in self.response.output if isinstance(m, TextMessage) and m.content
        )

    @property
    def output(self) -> list[Message]:
        """The assistant's messages."""
        return self.response.output

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the model asked for, in order."""
        return [
            call for m in self.response.output if isinstance(m, ToolCallMessage) for call in m.tools
        ]

    @property
    def usage(self) -> Usage:
        """Tokens the call used."""
        return self.response.usage


async def infer(
    step_id: str,
    *,
    model: Model,
    prompt: str | None = None,
    system: str | None = None,
    messages: Sequence[Message] = (),
    tools: Sequence[Tool] = (),
    tool_choice: ToolChoice = "auto",
    offload: bool | None = None,
    runner: StepRunner | None = None,
) -> InferResult:
    """One model call as the step ``step_id`` (AgentKit's ``step.ai.infer``).

    Args:
        step_id: the step's ID in the function (unique in the run).
        model: the model (``openai("gpt-4o")``...).
        prompt: the user's message, appended after ``messages``.
        system: a system prompt, placed first.
        messages: the conversation (neutral messages).
        tools: tools the model may ask for (their calls are returned, not run).
        tool_choice: ``"auto"``, ``"any"`` or a tool's name.
        offload: ``True``: hand the call to the Inngest server (``step.ai.infer``);
            ``False``: call the provider from the app, in a step; ``None``
            (default): offload when the model can be.
        runner: the steps to use; default: the Inngest function this is called in
            (else inline, in plain Python).

    Raises:
        ConfigurationError: nothing to send, or ``offload=True`` with a model that
            cannot be offloaded.
    """
    conversation: list[Message] = []
    if system:
        conversation.append(TextMessage(role="system", content=system))
    conversation.extend(messages)
    if prompt:
        conversation.append(TextMessage(role="user", content=prompt))
    if not conversation:
        raise ConfigurationError(f"infer({step_id!r}): give prompt=, system= or messages=")
    request = ModelRequest(
        messages=conversation, tools=[t.definition for t in tools], tool_choice=tool_choice
    )
    chosen = _with_inference(model, offload)
    steps = runner if runner is not None else default_runner("infer()", own=True)
    raw = await steps.infer(step_id, chosen, lambda: chosen.build_body(request))
    return InferResult(chosen.parse_response(raw), raw)


def _with_inference(model: Model, offload: bool | None) -> Model:
    """``model``, offloaded or in process as asked (a copy when that changes)."""
    if offload is None:
        try:
            model.ai_adapter()
        except ConfigurationError:
            return _copy(model, "in_process")
        return _copy(model, "offload")
    if offload:
        model.ai_adapter()  # raises, saying why, for a model that cannot be offloaded
    return _copy(model, "offload" if offload else "in_process")


def _copy(model: Model, inference: str) -> Model:
    if model.inference == inference:
        return model
    twin = copy.copy(model)
    twin.inference = "offload" if inference == "offload" else "in_process"
    return twin
