from __future__ import annotations

import json

import pydantic
import pytest

from agentkit_inngest import (
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

HISTORY: list[Message] = [
    TextMessage(role="system", content="be brief"),
    TextMessage(role="user", content="weather in Rome and Paris?"),
    TextMessage(role="assistant", content="Checking.", stop_reason="tool"),
    ToolCallMessage(
        tools=(
            ToolCall(id="c1", name="weather", arguments={"city": "Rome"}),
            ToolCall(
                id="c2",
                name="weather",
                arguments={},
                arguments_error="not JSON",
                raw_arguments="{city:",
                meta={"thoughtSignature": "abc"},
            ),
        )
    ),
    ToolResultMessage(tool_call_id="c1", name="weather", content={"temp": 21.5, "sky": ["sun"]}),
    ToolResultMessage(tool_call_id="c2", name="weather", content="bad args", is_error=True),
    TextMessage(role="assistant", content="Rome: 21.5°C ☀️", stop_reason="stop"),
]


def test_history_round_trips_through_json_text() -> None:
    text = json.dumps(dump_history(HISTORY))
    assert load_history(text) == HISTORY
    assert load_history(json.loads(text)) == HISTORY
    assert HistoryAdapter.validate_json(HistoryAdapter.dump_json(HISTORY)) == HISTORY


def test_each_record_keeps_its_kind() -> None:
    kinds = [m["kind"] for m in dump_history(HISTORY)]
    assert kinds == ["text", "text", "text", "tool_call", "tool_result", "tool_result", "text"]


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        load_history([{"kind": "image", "role": "user"}])


def test_messages_are_immutable() -> None:
    first = HISTORY[0]
    assert isinstance(first, TextMessage)
    with pytest.raises(pydantic.ValidationError):
        first.content = "x"  # type: ignore[misc]  # deliberately writes a frozen field


def test_tool_result_text_form() -> None:
    assert ToolResultMessage(tool_call_id="a", name="t", content="plain").content_text() == "plain"
    assert (
        ToolResultMessage(tool_call_id="a", name="t", content={"a": 1}).content_text() == '{"a":1}'
    )


def test_usage_adds_up() -> None:
    total = Usage(input_tokens=3, output_tokens=4) + Usage(input_tokens=1, output_tokens=2)
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (4, 6, 10)
