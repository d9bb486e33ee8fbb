"""Agents and networks compiled into Inngest functions (private).

Flow control (``_flow``), event payloads and outputs (``_payload``), the function wrappers
(``_compile``) and typed functions as tools (``_typed``). Public names are exported by
:mod:`agentkit_inngest`.
"""

from ._compile import agent_function, network_function, served_functions, slugify
from ._flow import DEFAULT_RETRIES, MAX_RETRIES, FlowControl, FlowOptions
from ._middleware import AgentKitMiddleware, install_middleware, serve_streams
from ._outputs import agent_output, function_output
from ._payload import EventPayload, bounded_output, checked_state
from ._typed import create_function, function_tool

__all__ = [
    "AgentKitMiddleware",
    "DEFAULT_RETRIES",
    "MAX_RETRIES",
    "EventPayload",
    "FlowControl",
    "FlowOptions",
    "agent_function",
    "agent_output",
    "bounded_output",
    "checked_state",
    "create_function",
    "function_output",
    "function_tool",
    "install_middleware",
    "network_function",
    "serve_streams",
    "served_functions",
    "slugify",
]
