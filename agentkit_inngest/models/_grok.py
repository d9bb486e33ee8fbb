"""xAI Grok (an OpenAI-compatible endpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import Inference
from ._openai import OpenAIModel
from ._schema import StrictTools

if TYPE_CHECKING:
    from inngest.experimental.ai.base import BaseAdapter

__all__ = ["GrokModel", "grok"]


class GrokModel(OpenAIModel):
    """A Grok model.

    xAI always follows tool schemas, so tools are sent as plain JSON Schema (``strict: false``)
    unless ``strict_tools`` says otherwise; optional parameters stay optional.
    """

    provider: ClassVar[str] = "grok"
    default_base_url: ClassVar[str] = "https://api.x.ai/v1"
    key_variables: ClassVar[tuple[str, ...]] = ("XAI_API_KEY",)
    url_variables: ClassVar[tuple[str, ...]] = ("XAI_BASE_URL",)
    default_strict_tools: ClassVar[StrictTools] = "off"

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
    strict_tools: StrictTools = "off",
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
        strict_tools: ``"off"`` (plain schemas, ``"strict": false``), ``"auto"``
            (OpenAI's strict schemas where they apply) or ``"omit"``; see
            :data:`~agentkit_inngest.models.StrictTools`.
    """
    return GrokModel(
        model=model,
        api_key=api_key,
        base_url=base_url,
        default_parameters=default_parameters,
        inference=inference,
        timeout=timeout,
        headers=headers,
        strict_tools=strict_tools,
    )
