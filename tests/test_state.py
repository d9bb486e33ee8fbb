from __future__ import annotations

import dataclasses
import json
from typing import Any

import pydantic
import pytest

from agentkit_inngest import AgentResult, InputError, State, TextMessage, ToolCall, ToolCallMessage
from agentkit_inngest._patch import apply_patch, diff
from agentkit_inngest.messages import ToolResultMessage, Usage


class Plan(pydantic.BaseModel):
    steps: list[str] = []
    done: bool = False


@dataclasses.dataclass
class Counter:
    count: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


def _result(name: str = "A") -> AgentResult:
    return AgentResult(
        agent_name=name,
        id=f"{name}#1",
        output=[
            TextMessage(role="assistant", content="hi"),
            ToolCallMessage(tools=(ToolCall(id="t1", name="save", arguments={"x": 1}),)),
        ],
        tool_calls=[ToolResultMessage(tool_call_id="t1", name="save", content="ok")],
        raw=[{"big": "raw"}],
        usage=Usage(input_tokens=5, output_tokens=7),
    )


def test_kv_store() -> None:
    state: State[dict[str, object]] = State()
    state.kv.set("a", 1)
    assert state.kv.get("a") == 1 and state.kv.has("a") and "a" in state.kv
    assert state.kv.get("missing", "dflt") == "dflt"
    assert state.kv.all() == {"a": 1}
    assert state.kv.delete("a") is True
    assert state.kv.delete("a") is False
    assert not state.kv.has("a") and len(state.kv) == 0


@pytest.mark.parametrize(
    ("data", "kind"),
    [(Plan(steps=["x"]), Plan), (Counter(count=2, tags=["t"]), Counter), ({"k": [1, 2]}, None)],
)
def test_json_round_trip_keeps_types(data: object, kind: object) -> None:
    state = State(data, kv={"k": {"nested": True}}, thread_id="th-1")
    state.append_result(_result())
    payload = json.loads(json.dumps(state.to_json()))
    restored = State.from_json(payload, data_type=kind)
    assert restored.data == data
    assert type(restored.data) is type(data)
    assert restored.kv.all() == {"k": {"nested": True}}
    assert restored.thread_id == "th-1"
    assert restored.results[0].output == state.results[0].output
    assert restored.results[0].raw == []  # raw responses are left out by default
    assert restored.messages == state.messages
    assert restored.format_history() == state.format_history()


def test_raw_is_kept_on_request() -> None:
    state: State[Any] = State()
    state.append_result(_result())
    restored = State.from_json(state.to_json(include_raw=True))
    assert restored.results[0].raw == [{"big": "raw"}]


def test_history_interleaves_tool_results_after_their_calls() -> None:
    state: State[Any] = State()
    state.append_result(_result("A"))
    kinds = [m.kind for m in state.format_history()]
    assert kinds == ["text", "tool_call", "tool_result"]
    custom = state.format_history(lambda s: [TextMessage(role="user", content=str(len(s.results)))])
    assert custom == [TextMessage(role="user", content="1")]


def test_clone_is_deep_for_data_and_kv() -> None:
    state = State(Plan(steps=["a"]), kv={"l": [1]})
    twin = state.clone()
    twin.data.steps.append("b")
    twin.kv.get("l").append(2)
    assert state.data.steps == ["a"] and state.kv.get("l") == [1]
    assert twin.data_type is Plan


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({"data": {"steps": "no"}}, "state.data is invalid: steps"),
        ({"kv": []}, "state.kv must be a JSON object"),
        ({"results": [{"output": 1}]}, "state.results is invalid"),
        ({"messages": [{"kind": "nope"}]}, "state.messages is invalid"),
        ({"thread_id": 5}, "thread_id must be a string"),
        ({"extra": 1}, "unknown field(s): extra"),
    ],
)
def test_bad_state_payload_names_the_field(payload: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        State.from_json(payload, data_type=Plan)


def test_data_must_be_model_dataclass_or_dict() -> None:
    with pytest.raises(InputError, match="pydantic model, a dataclass or a dict"):
        State([1, 2])


def test_unserializable_data_is_reported() -> None:
    state = State({"f": object()})
    with pytest.raises(InputError, match="cannot be serialized"):
        state.to_json()


def test_diff_and_apply_patch() -> None:
    before = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": True}
    after = {"a": 2, "b": {"c": [1, 2, 3], "d": "x", "e": None}, "new": {"k": 1}}
    patch = diff(before, after)
    assert apply_patch(before, patch) == after
    assert before["a"] == 1  # the input is not modified
    assert diff(after, after) == []
    assert apply_patch({"a": 1}, [{"op": "set", "path": [], "value": {"z": 0}}]) == {"z": 0}
    assert apply_patch({}, [{"op": "set", "path": ["x", "y"], "value": 1}]) == {"x": {"y": 1}}
    with pytest.raises(ValueError, match="root"):
        apply_patch({}, [{"op": "del", "path": []}])


def test_state_apply_revalidates_typed_data() -> None:
    state = State(Plan())
    before = state.snapshot()
    twin = state.clone()
    twin.data.steps = ["one"]
    twin.kv.set("seen", 1)
    state.apply(diff(before, twin.snapshot()))
    assert isinstance(state.data, Plan) and state.data.steps == ["one"]
    assert state.kv.get("seen") == 1
    state.apply([])
    assert state.data.steps == ["one"]


def test_appends_from_parallel_copies_are_all_kept() -> None:
    base = {"facts": ["a"], "n": 1}
    first = diff(base, {"facts": ["a", "b"], "n": 1})
    second = diff(base, {"facts": ["a", "c", "d"], "n": 1})
    assert first == [{"op": "append", "path": ["facts"], "value": ["b"]}]
    merged = apply_patch(apply_patch(base, first), second)
    assert merged == {"facts": ["a", "b", "c", "d"], "n": 1}
    # appending where the list vanished falls back to setting it
    assert apply_patch({}, first) == {"facts": ["b"]}
    # shrinking or reordering replaces the list
    assert diff(["a", "b"], ["b"]) == [{"op": "set", "path": [], "value": ["b"]}]
