"""Model adapters: one small interface, one private module per provider.

``openai``, ``anthropic``, ``gemini`` and ``grok`` are the factory functions; the
modules that implement them are private (``_openai``...). A model receives tools as
neutral :class:`ToolDefinition` s and converts their schemas into its provider's
dialect itself (OpenAI's strict mode, Gemini's OpenAPI subset). ``fallback`` chains
models (the next one on a 429, a 5xx or a timeout); ``PriceTable`` and
``DEFAULT_PRICES`` price their tokens; ``OutputSchema`` is a structured answer asked
for natively.
"""

from ..tools._definition import ToolDefinition
from ._anthropic import AnthropicModel, anthropic
from ._base import Inference, Model, ModelRequest, ModelResponse, TextSink, ToolChoice
from ._environment import from_environment
from ._fallback import DEFAULT_FALLBACK_ON, FallbackModel, FallbackOn, fallback
from ._gemini import GeminiModel, gemini
from ._grok import GrokModel, grok
from ._openai import OpenAIModel, openai
from ._prices import DEFAULT_PRICES, Price, PriceTable
from ._schema import StrictTools
from ._structured import OutputSchema

__all__ = [
    "DEFAULT_FALLBACK_ON",
    "DEFAULT_PRICES",
    "AnthropicModel",
    "FallbackModel",
    "FallbackOn",
    "GeminiModel",
    "GrokModel",
    "Inference",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "OpenAIModel",
    "OutputSchema",
    "Price",
    "PriceTable",
    "StrictTools",
    "TextSink",
    "ToolChoice",
    "ToolDefinition",
    "anthropic",
    "fallback",
    "from_environment",
    "gemini",
    "grok",
    "openai",
]
