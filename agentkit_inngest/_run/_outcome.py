"""The one record of a tool call's outcome, and how it is made and memoized.

Every tool call, wherever it runs (its own step, inside a fast turn's step, inline
for a pure tool, or not at all for an unknown tool), ends as a
:class:`ToolCallOutcome`: the content sent back to the model, whether it is an
error, and the patch the call made to the state. Its memo (the tool step's output)
is :meth:`ToolCallOutcome.to_memo`; a replay reads it back with
:meth:`ToolCallOutcome.from_memo` and re-applies the patch.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .._json import json_size
from .._limits import Limits
from .._patch import Patch
from .._state import State
from ..errors import ConfigurationError, SizeLimitError, ToolRetry
from ..messages import ToolCall, ToolResultMessage
from ..tools import Tool, ToolOutcome
from ..tools._tool import tool_names
from ._plain import plain_outcome

__all__ = ["ToolCallOutcome", "bounded_content", "recorded", "retries_spent", "unknown_tool"]


@dataclasses.dataclass(frozen=True)
class ToolCallOutcome:
    """What one tool call produced.

    Attributes:
        content: the result (JSON) sent back to the model.
        is_error: whether the model reads it as a tool error.
        patch: the call's change to the state (empty for an error).
    """

    content: Any
    is_error: bool = False
    patch: Patch = dataclasses.field(default_factory=list)

    @classmethod
    def error(cls, kind: str, message: str) -> ToolCallOutcome:
        """A tool error the model reads: ``{"error": kind, "message": message}``."""
        return cls({"error": kind, "message": message}, is_error=True)

    def to_memo(self) -> dict[str, Any]:
        """The outcome as its step output (plain JSON)."""
        return {"content": self.content, "is_error": self.is_error, "patch": self.patch}

    @classmethod
    def from_memo(cls, call: ToolCall, memo: object) -> ToolCallOutcome:
        """The outcome a step output records.

        Raises:
            ConfigurationError: the memo has another shape (the app changed while
                the run was in flight).
        """
        if (
            not isinstance(memo, dict)
            or "content" not in memo
            or not isinstance(memo.get("patch", []), list)
        ):
            raise ConfigurationError(
                f"the memoized output of tool call {call.name!r} ({call.id}) has an unexpected "
                "shape; was the app changed while this run was in flight?"
            )
        return cls(memo["content"], bool(memo.get("is_error")), list(memo.get("patch") or []))

    def message(self, call: ToolCall) -> ToolResultMessage:
        """The result message sent back to the model for ``call``."""
        return ToolResultMessage(
            tool_call_id=call.id, name=call.name, content=self.content, is_error=self.is_error
        )


def unknown_tool(call: ToolCall, tools: list[Tool]) -> ToolCallOutcome:
    """The outcome of a call of a tool the agent does not have."""
    return ToolCallOutcome.error(
        "unknown_tool",
        f"There is no tool named {call.name!r}. Available tools: {tool_names(tools)}.",
    )


def retries_spent(err: ToolRetry) -> ToolCallOutcome:
    """The outcome of a tool that still asked for a retry at its last attempt."""
    return ToolCallOutcome.error("ToolRetry", str(err))


def recorded(
    tool: Tool,
    call: ToolCall,
    outcome: ToolOutcome,
    *,
    before: dict[str, Any],
    working: State[Any],
    limits: Limits,
) -> ToolCallOutcome:
    """The record of a handler's ``outcome``.

    Plain JSON, the state's change as a patch (checked against ``limits.state_bytes``), the content
    cut to ``limits.tool_result_bytes``.

    Raises:
        SizeLimitError: the change grew the state over its limit.
    """
    content, is_error, patch, size = plain_outcome(tool.name, outcome, before, working)
    if size > limits.state_bytes:
        raise SizeLimitError(
            f"tool {tool.name!r} ({call.id}) grew the run's state (data and kv) to "
            f"{size:,} bytes of JSON, over the limit of {limits.state_bytes:,} bytes "
            "(Limits.state_bytes): keep large data outside the state (a database, "
            "object storage) and store a reference to it",
            size=size,
            limit=limits.state_bytes,
        )
    return ToolCallOutcome(
        bounded_content(tool.name, content, limits.tool_result_bytes), is_error, patch
    )


def bounded_content(name: str, content: Any, limit: int) -> Any:
    """``content``, cut to ``limit`` bytes of JSON when it is longer.

    ``content``, or, when its JSON is over ``limit`` bytes, its beginning and a note
    the model can read (the full result never reaches a step output).
    """
    size = json_size(content)
    if size <= limit:
        return content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    keep = limit // 2
    preview = text.encode("utf-8")[:keep].decode("utf-8", "ignore")
    return {
        "truncated": True,
        "message": f"The result of tool {name!r} was {size:,} bytes, more than the "
        f"{limit:,} bytes a tool result may have, so only its beginning is shown below. "
        "If you need more, call the tool again asking for less (a narrower query, a "
        "smaller page, a summary).",
        "preview": preview,
    }
