"""What each span of a run is called and carries (the GenAI semantic conventions).

A :class:`SpanSpec` describes a span before it exists: its name (``chat gpt-4o``,
``execute_tool save_answer``, ``invoke_agent Triage``...), its kind, the attributes
known at its start, and how to read what it produced (a provider's raw answer, a
tool call's memo) into attributes at its end. A :class:`Unit` collects what a
logical unit learns while it runs (usage totals, the agents a router chose).
Attributes are built only for spans that record, and content (prompts,
completions, tool arguments and results) only when capture is on.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import inngest

from .._tracing._attrs import (
    AttrValue,
    clean,
    clean_attrs,
    error_type,
    input_messages,
    output_messages,
    provider_name,
    system_instructions,
    text,
    to_json,
)
from ..errors import AgentKitError
from ..messages import ToolCall, Usage
from ..models import Model, ModelRequest

__all__ = ["SpanSpec", "SpecMaker", "Unit", "finish_step", "retriable_failure"]

_FINISH = {"stop": "stop", "tool": "tool_calls", "length": "length"}
_REQUEST_PARAMETERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


@dataclasses.dataclass
class Unit:
    """What a span learns while its unit runs."""

    attributes: dict[str, object] = dataclasses.field(default_factory=dict)
    output: object = None
    error: BaseException | None = None

    def usage(self, usage: Usage) -> None:
        """The tokens the unit's inferences used."""
        self.attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        self.attributes["gen_ai.usage.output_tokens"] = usage.output_tokens


def retriable_failure(err: BaseException) -> bool:
    """Whether Inngest (or the inline retry policy) tries again after ``err``."""
    if isinstance(err, AgentKitError):
        return err.retriable
    return not isinstance(err, inngest.NonRetriableError)


def _model_attributes(model: Model) -> dict[str, object]:
    provider = provider_name(model.provider)
    attributes: dict[str, object] = {
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # deprecated name; Inngest's AI view reads it
        "gen_ai.request.model": model.model,
    }
    base_url = getattr(model, "base_url", None)
    if isinstance(base_url, str):
        parsed = urllib.parse.urlsplit(base_url)
        attributes["server.address"] = parsed.hostname
        attributes["server.port"] = parsed.port or (443 if parsed.scheme == "https" else 80)
    for name, value in model.default_parameters.items():
        if name in _REQUEST_PARAMETERS:
            attributes[_REQUEST_PARAMETERS[name]] = value
    if model.inference == "offload":
        attributes["agentkit.inference"] = "offload"
    return attributes


@dataclasses.dataclass(frozen=True)
class SpanSpec:
    """A span to be: its name, kind, start attributes and how it reads its outcome."""

    name: str
    role: str
    """``chat``, ``turn``, ``tool``, ``unit`` or ``step``: how :meth:`finish` reads."""
    attributes: Mapping[str, object] = dataclasses.field(default_factory=dict)
    client: bool = False
    model: Model | None = None
    request: ModelRequest | None = None
    call: ToolCall | None = None

    # -- the spans of a run --------------------------------------------------------------

    @classmethod
    def generic(cls, step_id: str) -> SpanSpec:
        """A step the run layer did not describe (history, a tool's own steps)."""
        return cls(name=step_id, role="step")

    @classmethod
    def chat(
        cls, model: Model, request: ModelRequest, *, agent: str, turn: bool = False
    ) -> SpanSpec:
        """An inference (``chat {model}``); ``turn``: with the turn's tool calls."""
        attributes: dict[str, object] = {"gen_ai.operation.name": "chat"}
        attributes["gen_ai.agent.name"] = agent
        attributes.update(_model_attributes(model))
        return cls(
            name=f"chat {model.model}",
            role="turn" if turn else "chat",
            attributes=attributes,
            client=True,
            model=model,
            request=request,
        )

    @classmethod
    def tool(cls, call: ToolCall, *, description: str = "") -> SpanSpec:
        """A tool call (``execute_tool {name}``)."""
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.description": description or None,
        }
        return cls(name=f"execute_tool {call.name}", role="tool", attributes=attributes, call=call)

    @classmethod
    def agent(cls, name: str, key: str, model: Model, *, description: str = "") -> SpanSpec:
        """An agent call (``invoke_agent {name}``)."""
        attributes: dict[str, object] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.agent.id": key,
            "gen_ai.agent.description": description or None,
        }
        attributes.update(_model_attributes(model))
        return cls(name=f"invoke_agent {name}", role="unit", attributes=attributes)

    @classmethod
    def run(cls, *, network: str | None, agent: str | None, run_id: str) -> SpanSpec:
        """A whole run: ``invoke_workflow {network}``, or ``invoke_agent {agent}``."""
        if network is not None:
            attributes: dict[str, object] = {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": network,
            }
            name = f"invoke_workflow {network}"
        else:
            attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
            name = f"invoke_agent {agent}"
        attributes["agentkit.run.id"] = run_id
        return cls(name=name, role="unit", attributes=attributes)

    @classmethod
    def plan(cls, router: str, kind: str) -> SpanSpec:
        """A routing decision (``plan {router}``): ``kind`` ``code`` or ``agent``."""
        attributes = {"gen_ai.operation.name": "plan", "agentkit.route.router": router}
        attributes["agentkit.route.kind"] = kind
        return cls(name=f"plan {router}", role="unit", attributes=attributes)

    @classmethod
    def mcp_list(cls, server: str) -> SpanSpec:
        """The step that lists an MCP server's tools (``tools/list {server}``)."""
        attributes = {"mcp.method.name": "tools/list", "agentkit.mcp.server": server}
        return cls(name=f"tools/list {server}", role="step", attributes=attributes, client=True)

    # -- reading ---------------------------------------------------------------------------

    def start_attributes(self) -> dict[str, AttrValue]:
        """The attributes known at the start, made safe."""
        return clean_attrs(self.attributes)

    def span_kind(self) -> Any:
        """``CLIENT`` for calls out of the process, else ``INTERNAL``."""
        from opentelemetry.trace import SpanKind

        return SpanKind.CLIENT if self.client else SpanKind.INTERNAL

    def finish(self, span: Any, unit: Unit, capture: bool) -> None:
        """Set what the span's unit produced on ``span``."""
        if not span.is_recording():
            return
        if unit.attributes:
            span.set_attributes(clean_attrs(unit.attributes))
        if self.role in ("chat", "turn"):
            self._answer(span, unit.output, capture)
        elif self.role == "tool":
            self._tool(span, unit.output, capture)

    def failed(self, span: Any, err: BaseException, *, retried: bool) -> None:
        """Record ``err`` on ``span`` (status ERROR, ``error.type``)."""
        from opentelemetry.trace import Status, StatusCode

        if not span.is_recording():
            return
        span.set_attribute("error.type", error_type(err))
        if retried:
            span.set_attribute("agentkit.step.retried", True)
        span.set_status(Status(StatusCode.ERROR, text(str(err) or type(err).__name__, 1024)))
        span.record_exception(err, attributes={"exception.message": text(str(err), 4096)})

    def _answer(self, span: Any, output: object, capture: bool) -> None:
        raw = output.get("raw") if self.role == "turn" and isinstance(output, dict) else output
        if not isinstance(raw, dict) or self.model is None:
            return
        try:
            response = self.model.parse_response(raw)
        except Exception:  # noqa: BLE001 - the run reports an unreadable answer itself
            return
        usage = response.usage
        reason = _FINISH.get(response.stop_reason, response.stop_reason)
        attributes = {
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.response.finish_reasons": [str(reason)],
            "gen_ai.response.id": raw.get("id") or raw.get("responseId"),
            "gen_ai.response.model": raw.get("model") or raw.get("modelVersion"),
        }
        span.set_attributes(clean_attrs(attributes))
        if capture and self.request is not None:
            span.set_attribute("gen_ai.input.messages", input_messages(self.request.messages))
            instructions = system_instructions(self.request.messages)
            if instructions is not None:
                span.set_attribute("gen_ai.system_instructions", instructions)
            span.set_attribute("gen_ai.output.messages", output_messages(response.output))

    def _tool(self, span: Any, memo: object, capture: bool) -> None:
        if not isinstance(memo, dict):
            return
        if memo.get("is_error") is True:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, "the tool reported an error to the model"))
        if capture and self.call is not None:
            span.set_attribute("gen_ai.tool.call.arguments", to_json(self.call.arguments))
            result = clean(to_json(memo.get("content")), 32 * 1024)
            if result is not None:
                span.set_attribute("gen_ai.tool.call.result", result)


SpecMaker: TypeAlias = "Callable[[], SpanSpec]"
"""Builds a :class:`SpanSpec` when its span is really made (never on a replay)."""


def finish_step(span: Any, spec: SpanSpec, output: object, capture: bool) -> None:
    """End a step body's span with what the body returned."""
    spec.finish(span, Unit(output=output), capture)
