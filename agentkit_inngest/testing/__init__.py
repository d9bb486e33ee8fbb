"""The public testing kit.

Model doubles, a guard against real provider calls, and :class:`LocalExecutor`, which drives an
app's ``/api/inngest`` over HTTP as the Inngest server does (see ``testing/executor.py``).
"""

from .executor import LocalExecutor
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
    "LocalExecutor",
    "ModelCall",
    "RealNetworkBlocked",
    "Reply",
    "ScriptedModel",
    "block_real_providers",
    "text",
    "tool_call",
    "tool_calls",
]
