"""Pick a model from the provider keys that are set."""

from __future__ import annotations

import os

from ._anthropic import anthropic
from ._base import Model
from ._openai import openai

__all__ = ["from_environment"]


def from_environment(
    fallback: Model,
    *,
    anthropic_model: str = "claude-3-5-haiku-latest",
    openai_model: str = "gpt-4o-mini",
    max_tokens: int = 1000,
) -> tuple[Model, str]:
    """A real provider's model when its key is set, else ``fallback``.

    ``(model, what it is)``: Anthropic when ``ANTHROPIC_API_KEY`` is set, else OpenAI
    when ``OPENAI_API_KEY`` is, else ``fallback`` (an offline model, say). Handy for
    code that should run anywhere and use a real provider when it can.
    """
    if os.environ.get("ANTHROPIC_API_KEY"):
        return (
            anthropic(anthropic_model, default_parameters={"max_tokens": max_tokens}),
            f"Anthropic {anthropic_model} (ANTHROPIC_API_KEY is set)",
        )
    if os.environ.get("OPENAI_API_KEY"):
        return openai(openai_model), f"OpenAI {openai_model} (OPENAI_API_KEY is set)"
    return (
        fallback,
        "the embedded offline model (set ANTHROPIC_API_KEY or OPENAI_API_KEY for a real one)",
    )
