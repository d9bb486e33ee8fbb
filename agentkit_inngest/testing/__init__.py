"""The public testing kit: model doubles and a guard against real provider calls."""

from .guard import PROVIDER_KEY_VARIABLES, RealNetworkBlocked, block_real_providers
from .models import (
    FunctionModel,
    ModelCall,
    Reply,
    ScriptedModel,
    text,
    tool_call,
    tool_calls,
)

__all__ = [
    "PROVIDER_KEY_VARIABLES",
    "FunctionModel",
    "ModelCall",
    "RealNetworkBlocked",
    "Reply",
    "ScriptedModel",
    "block_real_providers",
    "text",
    "tool_call",
    "tool_calls",
]
