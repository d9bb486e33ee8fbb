"""What tools and models hand the agent loop, made plain JSON.

Every value a tool returns or writes into the state, and every tool-call argument a
model sends, travels in a step output that Inngest stores and hands back as JSON
(read by its Go server). These helpers check such values where they are made,
inside the step, so that a value JSON cannot carry becomes an error the model reads
instead of a failing step that Inngest would retry (running the tool again).
"""

from __future__ import annotations

from typing import Any

from .._json import MAX_JSON_DEPTH, NotJSONError, not_json_reason, plain_json
from .._patch import Patch, diff
from .._state import State
from ..messages import Message, ToolCall, ToolCallMessage
from ..tools import ToolOutcome

__all__ = ["invalid_result", "plain_calls", "plain_outcome"]


def plain_calls(output: list[Message]) -> list[Message]:
    r"""``output`` with every tool call's arguments as plain JSON.

    A lone surrogate a model sent (``{"query": "\ud800"}``) becomes U+FFFD, as Inngest would return
    it and as the provider's SDK can send it back; arguments JSON cannot carry (NaN from a lenient
    parser) become an arguments error the model is told about.
    """
    if not any(isinstance(message, ToolCallMessage) for message in output):
        return output
    plain: list[Message] = []
    for message in output:
        if isinstance(message, ToolCallMessage):
            message = message.model_copy(update={"tools": tuple(map(_plain_call, message.tools))})
        plain.append(message)
    return plain


def _plain_call(call: ToolCall) -> ToolCall:
    try:
        arguments, _ = plain_json(call.arguments)
    except NotJSONError as err:
        return call.model_copy(
            update={
                "arguments": {},
                "arguments_error": f"the arguments are not JSON: {err}",
                "raw_arguments": call.raw_arguments or repr(call.arguments),
            }
        )
    return call if arguments is call.arguments else call.model_copy(update={"arguments": arguments})


def invalid_result(name: str, why: str) -> dict[str, Any]:
    """The tool error of a call whose result or state change could not be recorded."""
    return {
        "error": "invalid_result",
        "message": f"Tool {name!r} ran, but its result could not be recorded: {why}. "
        "Its changes to the state were not kept.",
    }


def plain_outcome(
    name: str, outcome: ToolOutcome, before: dict[str, Any], working: State[Any]
) -> tuple[Any, bool, Patch, int]:
    """The tool's result as plain JSON.

    The tool's content, error flag, state patch and the state's new size, as plain
    JSON (lone surrogates become U+FFFD). A result or a state change that is not JSON
    (NaN, bytes, a circular reference...) becomes a tool error the model reads, and
    the change is dropped: the handler ran once and does not run again.
    """
    try:
        content, _ = plain_json(outcome.content)
    except NotJSONError as err:
        return invalid_result(name, f"the result is not JSON: {err}"), True, [], 0
    if outcome.is_error:
        return content, True, [], 0
    try:
        # the snapshot wraps each value in {"data"/"kv": ...}: a value itself may nest as deep
        after, size = plain_json(working.snapshot(), max_depth=MAX_JSON_DEPTH + 2)
        patch = diff(before, after)
    except NotJSONError as err:
        return invalid_result(name, f"the state it wrote is not JSON: {err}"), True, [], 0
    except Exception as err:  # noqa: BLE001 - whatever the handler stored cannot be copied
        why = f"the state it wrote is not JSON: {not_json_reason(err)}"
        return invalid_result(name, why), True, [], 0
    return content, False, patch, size if patch else 0
