"""Agents and networks as Inngest functions (kept for the old import path).

Import these from :mod:`agentkit_inngest` instead: ``from agentkit_inngest import
network_function``. This module stays for one version so that existing imports work.
"""

from ._durations import Duration, parse_duration
from ._functions import (
    EventPayload,
    FlowControl,
    agent_function,
    bounded_output,
    create_function,
    function_tool,
    network_function,
    served_functions,
    slugify,
)

__all__ = [
    "Duration",
    "EventPayload",
    "FlowControl",
    "agent_function",
    "bounded_output",
    "create_function",
    "function_tool",
    "network_function",
    "parse_duration",
    "served_functions",
    "slugify",
]
