"""Agents and networks compiled into Inngest functions (private): flow control
(``_flow``), event payloads and outputs (``_payload``), the function wrappers
(``_compile``) and typed functions as tools (``_typed``). Public names are
exported by :mod:`agentkit_inngest`."""

from ._compile import agent_function, network_function, served_functions, slugify
from ._flow import DEFAULT_RETRIES, MAX_RETRIES, FlowControl
from ._payload import EventPayload, bounded_output, checked_state
from ._typed import create_function, function_tool

__all__ = [
    "DEFAULT_RETRIES",
    "MAX_RETRIES",
    "EventPayload",
    "FlowControl",
    "agent_function",
    "bounded_output",
    "checked_state",
    "create_function",
    "function_tool",
    "network_function",
    "served_functions",
    "slugify",
]
