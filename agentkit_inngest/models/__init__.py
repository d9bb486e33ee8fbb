"""Model adapters: one small interface, one module per provider."""

from .anthropic import AnthropicModel, anthropic
from .base import Inference, Model, ModelRequest, ModelResponse, ToolChoice
from .environment import from_environment
from .gemini import GeminiModel, gemini
from .grok import GrokModel, grok
from .openai import OpenAIModel, openai

__all__ = [
    "AnthropicModel",
    "GeminiModel",
    "GrokModel",
    "Inference",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "OpenAIModel",
    "ToolChoice",
    "anthropic",
    "from_environment",
    "gemini",
    "grok",
    "openai",
]
