"""Tools: typed parameters, validated input, and a neutral JSON Schema.

Build tools with :func:`create_tool` or :func:`tool` (both also exported by
:mod:`agentkit_inngest`). A handler's context is a
:class:`~agentkit_inngest.ToolContext`.
"""

from ._create import create_tool, tool
from ._definition import ToolDefinition
from ._tool import CallContext, Handler, Tool, ToolOutcome

__all__ = [
    "CallContext",
    "Handler",
    "Tool",
    "ToolDefinition",
    "ToolOutcome",
    "create_tool",
    "tool",
]
