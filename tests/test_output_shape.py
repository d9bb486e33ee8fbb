"""A function's output and its memos grow linearly with the run (issue 14, point 6).

Before, every agent result in the output carried the whole conversation before it
(``history``) and ``state.results`` repeated ``results``: a 50-turn network returned
about 1 MB. Now the output holds the final answer, the state's data, usage, and the
new messages, each once.
"""

from __future__ import annotations

import json
from typing import Any

from agentkit_inngest import (
    NetworkRun,
    State,
    ToolContext,
    agent_function,
    create_agent,
    create_network,
    create_server,
    tool,
)
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call


@tool
def note(n: int, ctx: ToolContext) -> str:
    """Note a turn."""
    ctx.state.kv.set("last", n)
    return f"noted {n} " + "x" * 200


def _network(turns: int) -> Any:
    def respond(call: ModelCall) -> Any:
        done = sum(1 for m in call.messages if m.kind == "tool_result")
        return tool_call("note", {"n": done}, id=f"c{done}") if done < turns else text("done")

    worker = create_agent(
        name="Worker",
        system="You are Worker. " + "s" * 300,
        model=FunctionModel(respond),
        tools=[note],
    )

    def router(*, network: NetworkRun, call_count: int) -> Any:
        return worker if call_count <= turns else None

    return create_network(name=f"Linear {turns}", agents=[worker], router=router)


def _messages(value: Any) -> list[dict[str, Any]]:
    """Every message record anywhere in ``value`` (objects with a message ``kind``)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("kind") in ("text", "tool_call", "tool_result"):
            found.append(value)
        for item in value.values():
            found += _messages(item)
    elif isinstance(value, list):
        for item in value:
            found += _messages(item)
    return found


async def _served(turns_list: list[int]) -> dict[int, tuple[dict[str, Any], int]]:
    outputs: dict[int, tuple[dict[str, Any], int]] = {}
    async with LocalExecutor() as executor:
        networks = [_network(turns) for turns in turns_list]
        await executor.attach(create_server(client=executor.client("lin"), networks=networks))
        for turns in turns_list:
            run = await executor.run(f"network-linear-{turns}", {"input": "go"})
            memos = sum(len(json.dumps(v)) for v in run.memos.values())
            outputs[turns] = (run.output, memos)
    return outputs


async def test_network_output_and_memos_grow_linearly_with_each_message_once() -> None:
    outputs = await _served([5, 20])
    for turns, (output, _) in outputs.items():
        messages = _messages(output)
        # each call's tool call and its result once, and the final answer
        assert len(messages) == 2 * turns + 1, (turns, len(messages))
        assert {r["agent_name"] for r in output["results"]} == {"Worker"}
        assert all(
            set(r) == {"agent_name", "id", "output", "tool_calls", "usage", "answer", "cost_usd"}
            for r in output["results"]
        )
        assert set(output["state"]) == {"data", "kv", "thread_id"}
        assert output["state"]["kv"] == {"last": turns - 1} and output["output"] == "done"
        assert output["usage"]["total_tokens"] == 15 * (turns + 1)
        assert "s" * 300 not in json.dumps(output)  # the system prompt is not repeated
    small, large = (len(json.dumps(outputs[n][0])) for n in (5, 20))
    assert large < 4.5 * small, (small, large)  # linear: 4x the turns, not 16x the bytes
    assert outputs[20][1] < 4.5 * outputs[5][1]  # the memos too


async def test_agent_output_holds_the_new_messages_once_and_the_state_reads_back() -> None:
    model = FunctionModel(
        lambda call: (
            text("ok")
            if any(m.kind == "tool_result" for m in call.messages)
            else tool_call("note", {"n": 7}, id="c7")
        )
    )
    agent = create_agent(name="Solo", model=model, tools=[note], max_iter=3)
    history = [{"kind": "text", "role": "user", "content": "earlier " + "h" * 500}]
    async with LocalExecutor() as executor:
        client = executor.client("solo")
        await executor.attach(
            create_server(client=client, functions=[agent_function(agent, client=client)])
        )
        run = await executor.run("agent-solo", {"input": "now", "state": {"messages": history}})
    output = run.output
    assert "h" * 500 not in json.dumps(output)  # the conversation it was given is not echoed
    assert sorted(m["kind"] for m in _messages(output)) == ["text", "tool_call", "tool_result"]
    assert set(output["result"]) == {
        "agent_name",
        "id",
        "output",
        "tool_calls",
        "usage",
        "answer",
        "cost_usd",
    }
    restored = State.from_json(output["state"])
    assert restored.kv.get("last") == 7 and restored.messages == []
