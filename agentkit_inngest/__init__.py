"""agentkit-inngest: networks of LLM agents that run as durable Inngest functions.

The public API lives here; everything else is an implementation detail.
"""

from .agent import Agent, Lifecycle, StartResult, create_agent
from .errors import (
    AgentKitError,
    ConfigurationError,
    FatalProviderError,
    HistoryStoreError,
    InputError,
    MCPServerError,
    ProviderError,
    RetriableProviderError,
    SizeLimitError,
    StepError,
    ToolRetry,
    WaitUnavailableError,
)
from .limits import Limits
from .mcp import MCPServer
from .messages import (
    HistoryAdapter,
    Message,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolResultMessage,
    Usage,
    dump_history,
    load_history,
)
from .models import Model, ModelRequest, ModelResponse, anthropic, gemini, grok, openai
from .network import Network, NetworkRun, create_network
from .routing import RoutingAgent, create_routing_agent, default_routing_agent, route_in_order
from .state import KV, AgentResult, State
from .steps import InlineRunner, StepRunner, StepTools
from .tools import Tool, ToolContext, create_tool, tool

__version__ = "0.1.0"

__all__ = [
    "KV",
    "Agent",
    "AgentKitError",
    "AgentResult",
    "ConfigurationError",
    "FatalProviderError",
    "HistoryAdapter",
    "HistoryStoreError",
    "InlineRunner",
    "InputError",
    "Lifecycle",
    "MCPServer",
    "MCPServerError",
    "Limits",
    "Message",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Network",
    "NetworkRun",
    "ProviderError",
    "RetriableProviderError",
    "RoutingAgent",
    "SizeLimitError",
    "StartResult",
    "State",
    "StepError",
    "StepRunner",
    "StepTools",
    "TextMessage",
    "Tool",
    "ToolCall",
    "ToolCallMessage",
    "ToolContext",
    "ToolResultMessage",
    "ToolRetry",
    "Usage",
    "WaitUnavailableError",
    "__version__",
    "anthropic",
    "create_agent",
    "create_network",
    "create_routing_agent",
    "create_tool",
    "default_routing_agent",
    "dump_history",
    "gemini",
    "grok",
    "load_history",
    "openai",
    "route_in_order",
    "tool",
]
