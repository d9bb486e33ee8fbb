"""What a checkpointed in-process inference tells the Inngest dev server about itself.

The server treats a ``StepRun`` op whose ``opts.type`` is ``"step.ai.wrap"`` as an AI
call made in the app (``GeneratorOpcode.HasAI``/``StepType`` in
``pkg/execution/state/opcode.go`` of ``inngest/inngest``; it is what the TypeScript
SDK's ``step.ai.wrap`` sends), and shows an ``inngest.ai`` step-metadata entry as the
step's "AI Metadata" (model, provider, tokens; the server adds the estimated cost and
counts it in the run's AI totals: ``pkg/tracing/metadata/extractors/ai.go``,
``ai_summary.go``). The values use the server's snake_case keys.

``opts.input`` (the request body, which holds the prompt) is added only when the user
opts in (:attr:`~agentkit_inngest.Checkpointing.record_prompts`), as a one-element
array (the server drops the type of an op whose input is not an array) and only under
:data:`MAX_RECORDED_INPUT` bytes. The step's output stays the provider's raw JSON.

Only checkpointed steps carry this: the Python SDK's own ops have no ``opts`` for
``step.run``, so an inference reported the ordinary way shows only its output.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..models import Model
from ._checkpoint_ctx import current_note
from ._types import Body, build_body

__all__ = ["MAX_RECORDED_INPUT", "PROVIDER_NAMES", "ai_metadata", "described_inference"]

MAX_RECORDED_INPUT = 256 * 1024
"""Bytes of JSON of a request body sent as an inference step's input, at most."""

PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini"} | {
    "grok": "x_ai"
}
"""Our provider names -> the names the server and OpenTelemetry use."""


def described_inference(
    model: Model, body: Body, call: Callable[[], Awaitable[dict[str, Any]]]
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """``call``, an in-process inference step's body, described as an AI call.

    ``call`` (an in-process inference step's body), which also describes the step as an AI call
    when it is checkpointed.
    """

    async def run() -> dict[str, Any]:
        raw = await call()
        note = current_note()
        if note is not None:
            opts: dict[str, Any] = {"type": "step.ai.wrap"}
            if note.record_prompts:
                recorded = _recorded_input(body)
                if recorded is not None:
                    opts["input"] = [recorded]
            note.opts = opts
            values = ai_metadata(model, raw)
            note.metadata = [
                {"scope": "step", "kind": "inngest.ai", "op": "merge", "values": values}
            ]
        return raw

    return run


def ai_metadata(model: Model, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``inngest.ai`` values of one answer of ``model``."""
    values: dict[str, Any] = {
        "request_model": model.model,
        "provider": PROVIDER_NAMES.get(model.provider, model.provider),
        "operation_name": "chat",
    }
    try:
        usage = model.parse_response(dict(raw)).usage
    except Exception:  # noqa: BLE001 - the agent loop reports an unreadable answer
        usage = None
    if usage is not None:
        values["input_tokens"] = usage.input_tokens
        values["output_tokens"] = usage.output_tokens
        values["total_tokens"] = usage.total_tokens
    for key, found in (
        ("response_model", _text(raw, "model") or _text(raw, "modelVersion")),
        ("response_id", _text(raw, "id") or _text(raw, "responseId")),
    ):
        if found:
            values[key] = found
    reasons = _finish_reasons(raw)
    if reasons:
        values["finish_reasons"] = reasons
    values.update(_extra_tokens(raw))
    return values


def _recorded_input(body: Body) -> dict[str, Any] | None:
    built = build_body(body)
    try:
        size = len(json.dumps(built, separators=(",", ":"), allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return None
    return built if size <= MAX_RECORDED_INPUT else None


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def _finish_reasons(raw: Mapping[str, Any]) -> list[str]:
    """The reason the model stopped, from any provider's answer.

    OpenAI ``choices[].finish_reason``, Anthropic ``stop_reason``, Gemini
    ``candidates[].finishReason``.
    """
    reasons: list[Any] = []
    for key, field in (("choices", "finish_reason"), ("candidates", "finishReason")):
        items = raw.get(key)
        if isinstance(items, list):
            reasons += [item.get(field) for item in items if isinstance(item, dict)]
    reasons.append(raw.get("stop_reason"))
    return [reason for reason in reasons if isinstance(reason, str) and reason]


_EXTRA_TOKENS = (
    ("usage", "prompt_tokens_details", "cached_tokens", "cache_read_tokens"),
    ("usage", "completion_tokens_details", "reasoning_tokens", "reasoning_tokens"),
    ("usage", None, "cache_read_input_tokens", "cache_read_tokens"),
    ("usage", None, "cache_creation_input_tokens", "cache_creation_tokens"),
    ("usageMetadata", None, "cachedContentTokenCount", "cache_read_tokens"),
    ("usageMetadata", None, "thoughtsTokenCount", "reasoning_tokens"),
)
"""Where each provider reports cached and reasoning tokens: (block, sub-block, field,
the server's key)."""


def _extra_tokens(raw: Mapping[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for block, inner, field, key in _EXTRA_TOKENS:
        part = raw.get(block)
        if inner is not None and isinstance(part, dict):
            part = part.get(inner)
        value = part.get(field) if isinstance(part, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found.setdefault(key, value)
    return found
