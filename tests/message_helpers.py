"""Typed access to messages for assertions."""

from __future__ import annotations

from typing import Any

from agentkit_inngest import Message, ToolCallMessage, ToolResultMessage


def content(message: Message | None) -> Any:
    """The content of a text or tool result message; a tool call has none, so it fails."""
    assert message is not None, "no message"
    assert not isinstance(message, ToolCallMessage), f"a tool call has no content: {message!r}"
    return message.content


def tool_result(message: Message | None) -> ToolResultMessage:
    """``message``, which must be a tool result."""
    assert isinstance(message, ToolResultMessage), f"not a tool result: {message!r}"
    return message
