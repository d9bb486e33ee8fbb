"""xAI Grok (an OpenAI-compatible endpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Inference
from .openai import OpenAIModel

if TYPE_CHECKING:
    from inngest.experimental.ai.base import BaseAdapter

__all__ = ["GrokModel", "grok"]


class GrokModel(OpenAIModel):
    """A Grok model. xAI always follows tool schemas, so tools are sent as plain
    JSON Schema (``strict: false``); optional parameters stay optional."""

    provider: ClassVar[str] = "grok"
    default_base_url: ClassVar[str] = "https://api.x.ai/v1"
    key_variables: ClassVar[tuple[str, ...]] = ("XAI_API_KEY",)
    url_variables: ClassVar[tuple[str, ...]] = ("XAI_BASE_URL",)
    strict_tools: ClassVar[bool] = False

    def ai_adapter(self) -> BaseAdapter:
        from inngest.experimental.ai import grok as ai_grok

        return ai_grok.Adapter(
            auth_key=self.api_key(), base_url=self.base_url, model=self.model, headers=self.headers
        )


def grok(
    model: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    default_parameters: Mapping[str, Any] | None = None,
    inference: Inference = "in_process",
    timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
) -> GrokModel:
    """An xAI Grok model.

    Args:
        model: e.g. ``"grok-3-mini"``.
        api_key: default ``$XAI_API_KEY``.
        base_url: default ``$XAI_BASE_URL`` or ``https://api.x.ai/v1``.
        default_parameters: body fields for every request.
        inference: ``"in_process"`` or ``"offload"`` (``step.ai.infer``).
        timeout: seconds an in-process call may take in all (connecting, reading,
            streaming) before it gives up and is retried.
        headers: extra HTTP headers.
    """
    return GrokModel(
        model=model,
        api_key=api_key,
        base_url=base_url,
        default_parameters=default_parameters,
        inference=inference,
        timeout=timeout,
        headers=headers,
    )
