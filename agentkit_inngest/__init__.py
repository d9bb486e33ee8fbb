"""agentkit-inngest: networks of LLM agents that run as durable Inngest functions.

The public API lives here and in the documented subpackages
(:mod:`agentkit_inngest.models`, :mod:`~agentkit_inngest.history`,
:mod:`~agentkit_inngest.streaming`, :mod:`~agentkit_inngest.mcp`,
:mod:`~agentkit_inngest.testing`). Modules whose names start with ``_`` are
implementation details; docs/architecture.md draws their layers.
"""

from ._agent import Agent, EnabledHook, Lifecycle, ResultHook, StartHook, create_agent
from ._context import NetworkRun, SystemPrompt, ToolContext, ToolSource
from ._durations import Duration, parse_duration
from ._extras import MissingExtraError
from ._functions import (
    AgentKitMiddleware,
    EventPayload,
    FlowControl,
    agent_function,
    create_function,
    function_tool,
    network_function,
)
from ._hitl import HumanQuestion, create_human_tool
from ._limits import Limits
from ._network import Network, create_network
from ._routing import (
    CodeRouter,
    OnRoute,
    RouteDecision,
    Router,
    RoutingAgent,
    create_routing_agent,
    default_routing_agent,
    route_in_order,
)
from ._run import StartResult
from ._server import StreamAuth, create_client, create_server
from ._state import KV, AgentResult, State, create_state
from ._steps import (
    EventWait,
    InferResult,
    InlineRunner,
    InngestRunner,
    Invocation,
    RetryPolicy,
    StepRunner,
    StepTools,
    infer,
    to_inngest_error,
)
from ._version import __version__
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
from .tools import Tool, ToolOutcome, create_tool, tool

__all__ = [
    "KV",
    "Agent",
    "AgentKitError",
    "AgentKitMiddleware",
    "AgentResult",
    "CodeRouter",
    "ConfigurationError",
    "Duration",
    "EnabledHook",
    "EventPayload",
    "EventWait",
    "FatalProviderError",
    "FlowControl",
    "HistoryAdapter",
    "HistoryStoreError",
    "HumanQuestion",
    "InferResult",
    "InlineRunner",
    "InngestRunner",
    "InputError",
    "Invocation",
    "Lifecycle",
    "Limits",
    "MCPServer",
    "MCPServerError",
    "Message",
    "MissingExtraError",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Network",
    "NetworkRun",
    "OnRoute",
    "ProviderError",
    "ResultHook",
    "RetriableProviderError",
    "RetryPolicy",
    "RouteDecision",
    "Router",
    "RoutingAgent",
    "SizeLimitError",
    "StartHook",
    "StartResult",
    "State",
    "StepError",
    "StepRunner",
    "StepTools",
    "StreamAuth",
    "SystemPrompt",
    "TextMessage",
    "Tool",
    "ToolCall",
    "ToolCallMessage",
    "ToolContext",
    "ToolOutcome",
    "ToolResultMessage",
    "ToolRetry",
    "ToolSource",
    "Usage",
    "WaitUnavailableError",
    "__version__",
    "agent_function",
    "anthropic",
    "create_agent",
    "create_client",
    "create_function",
    "create_human_tool",
    "create_network",
    "create_routing_agent",
    "create_server",
    "create_state",
    "create_tool",
    "default_routing_agent",
    "dump_history",
    "function_tool",
    "gemini",
    "grok",
    "infer",
    "load_history",
    "network_function",
    "openai",
    "parse_duration",
    "route_in_order",
    "to_inngest_error",
    "tool",
]
