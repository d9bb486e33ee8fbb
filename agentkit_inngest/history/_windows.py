"""Context windows: what part of the conversation is sent to the model.

Give one to ``create_network(context_window=...)`` or ``create_agent(context_window=...)``:
:func:`last_turns`, :func:`last_messages` or :func:`token_budget`, or any function
of the message list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from ..messages import Message, TextMessage, ToolCallMessage, ToolResultMessage

__all__ = ["ContextWindow", "from_turn_start", "last_messages", "last_turns", "token_budget"]

ContextWindow: TypeAlias = Callable[[list[Message]], list[Message]]
"""Trims the conversation sent to the model."""


def _is_user_text(message: Message) -> bool:
    return isinstance(message, TextMessage) and message.role == "user"


def from_turn_start(messages: list[Message]) -> list[Message]:
    """A cut history, starting at its first user message (or at least with no orphans)."""
    for index, message in enumerate(messages):
        if _is_user_text(message):
            return messages[index:]
    return _drop_orphans(messages)


def _drop_orphans(messages: list[Message]) -> list[Message]:
    """Remove tool results whose call was cut off, and calls whose results were."""
    calls = {c.id for m in messages if isinstance(m, ToolCallMessage) for c in m.tools}
    results = {m.tool_call_id for m in messages if isinstance(m, ToolResultMessage)}
    kept: list[Message] = []
    for message in messages:
        if isinstance(message, ToolResultMessage) and message.tool_call_id not in calls:
            continue
        unanswered = isinstance(message, ToolCallMessage) and not all(
            c.id in results for c in message.tools
        )
        # a trailing call keeps its place: its results follow in this very turn
        if unanswered and message is not messages[-1]:
            continue
        kept.append(message)
    return kept


def last_messages(count: int) -> ContextWindow:
    """Keep the last ``count`` messages (never splitting a tool call from its results)."""
    if count < 1:
        raise ValueError("last_messages needs a count of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        return _drop_orphans(messages[-count:])

    return window


def last_turns(count: int) -> ContextWindow:
    """Keep the last ``count`` turns.

    A turn is a user message and everything the agents did in answer to it (their text, tool calls
    and tool results).

    This is the "last N results" policy at a grain that survives storage: a thread
    keeps messages, not agent results, and cutting at a user message never splits a
    tool call from its result nor starts the conversation with an answer to a
    question the model cannot see. The turn being answered counts as one.
    """
    if count < 1:
        raise ValueError("last_turns needs a count of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        starts = [index for index, message in enumerate(messages) if _is_user_text(message)]
        if len(starts) <= count:
            return list(messages)
        return _drop_orphans(messages[starts[-count] :])

    return window


def _approximate_tokens(message: Message) -> int:
    if isinstance(message, TextMessage):
        text = message.content
    elif isinstance(message, ToolCallMessage):
        text = "".join(f"{c.name}{c.arguments}" for c in message.tools)
    else:
        text = message.content_text()
    return len(text) // 4 + 4


def token_budget(
    max_tokens: int, *, count: Callable[[Message], int] = _approximate_tokens
) -> ContextWindow:
    """Keep the most recent messages whose token count fits ``max_tokens``.

    ``count`` estimates one message's tokens (default: characters / 4, plus a little
    per message); pass a real tokenizer's count for precision.
    """
    if max_tokens < 1:
        raise ValueError("token_budget needs max_tokens of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        kept: list[Message] = []
        used = 0
        for message in reversed(messages):
            cost = count(message)
            if kept and used + cost > max_tokens:
                break
            kept.append(message)
            used += cost
        return _drop_orphans(list(reversed(kept)))

    return window
