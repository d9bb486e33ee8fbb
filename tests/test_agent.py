from __future__ import annotations

import asyncio

import pytest

from agentkit_inngest import (
    Agent,
    AgentResult,
    ConfigurationError,
    InlineRunner,
    Lifecycle,
    Message,
    NetworkRun,
    StartResult,
    State,
    TextMessage,
    ToolCallMessage,
    ToolContext,
    ToolResultMessage,
    create_agent,
    tool,
)
from agentkit_inngest.testing import ModelCall, ScriptedModel, text, tool_call, tool_calls


@tool
def save_answer(answer: str, ctx: ToolContext) -> str:
    """Save the answer."""
    ctx.state.kv.set("answer", answer)
    return "saved"


async def test_single_inference_result_carries_everything() -> None:
    model = ScriptedModel([text("Use an index.")])
    agent = create_agent(name="DBA", system="You are a DBA.", model=model)
    result = await agent.run("How do I speed up this query?")
    assert result.agent_name == "DBA" and result.id == "DBA#1"
    assert result.text == "Use an index."
    assert result.prompt == [TextMessage(role="system", content="You are a DBA.")]
    assert result.history == [TextMessage(role="user", content="How do I speed up this query?")]
    assert result.raw and result.raw[0]["output"][0]["content"] == "Use an index."
    assert result.usage.total_tokens == 15
    sent = model.calls[0]
    assert [m.role for m in sent.messages] == ["system", "user"]


async def test_result_names_what_it_holds_with_the_typescript_names() -> None:
    """A TS port reads ``result.prompt`` for the system prompt and the user's input; here
    ``system`` and ``input`` say it, and ``prompt``/``history`` hold what their docs say."""
    model = ScriptedModel([text("Use an index.")])
    agent = create_agent(name="DBA", system="You are a DBA.", model=model)
    result = await agent.run("Why is this slow?")
    assert result.system == "You are a DBA." and result.input == "Why is this slow?"
    assert [m.role for m in result.prompt] == ["system"]  # the system prompt, nothing else
    assert result.history[-1] == TextMessage(role="user", content="Why is this slow?")
    assert "system message sent first" in (AgentResult.__doc__ or "")
    assert "the user's input" in (AgentResult.__doc__ or "")
    silent = await create_agent(name="Quiet", model=ScriptedModel([text("ok")])).run("hi")
    assert silent.system == "" and silent.prompt == [] and silent.input == "hi"
    json_result = result.to_json()  # what a function's output carries: what the call added
    assert set(json_result) == {
        "agent_name",
        "id",
        "output",
        "tool_calls",
        "usage",
        "answer",
        "cost_usd",
    }


async def test_agent_loop_feeds_tool_results_back() -> None:
    model = ScriptedModel([tool_call("save_answer", {"answer": "42"}), text("Saved it.")])
    agent = create_agent(name="A", model=model, tools=[save_answer], max_iter=3)
    state: State[dict[str, object]] = State()
    result = await agent.run("answer", state=state)
    assert len(model.calls) == 2
    second = model.calls[1].messages
    assert isinstance(second[-2], ToolCallMessage)
    assert second[-1] == ToolResultMessage(
        tool_call_id=second[-2].tools[0].id, name="save_answer", content="saved"
    )
    assert result.text == "Saved it."
    assert [m.kind for m in result.messages()] == ["tool_call", "tool_result", "text"]
    assert state.kv.get("answer") == "42"
    assert len(result.raw) == 2 and result.usage.total_tokens == 30


async def test_without_max_iter_one_inference_runs_its_tools() -> None:
    model = ScriptedModel([tool_call("save_answer", {"answer": "x"})])
    agent = create_agent(name="A", model=model, tools=[save_answer])
    result = await agent.run("go")
    assert len(model.calls) == 1 and model.remaining == 0
    assert result.tool_calls[0].content == "saved"


async def test_max_iter_caps_a_model_that_keeps_calling_tools() -> None:
    model = ScriptedModel([tool_call("save_answer", {"answer": str(i)}) for i in range(5)])
    agent = create_agent(name="A", model=model, tools=[save_answer])
    result = await agent.run("go", max_iter=3)
    assert len(model.calls) == 3 and len(result.tool_calls) == 3


async def test_tool_errors_are_fed_back_for_correction() -> None:
    model = ScriptedModel(
        [
            tool_call("save_answer", {"wrong": 1}),
            tool_call("nope", {}),
            tool_call("save_answer", {"answer": "fixed"}),
            text("done"),
        ]
    )
    agent = create_agent(name="A", model=model, tools=[save_answer], max_iter=4)
    state: State[dict[str, object]] = State()
    result = await agent.run("go", state=state)
    first_error, second_error, ok = result.tool_calls
    assert first_error.is_error and "answer: Field required" in str(first_error.content)
    assert second_error.is_error and "There is no tool named 'nope'" in str(second_error.content)
    assert "save_answer" in str(second_error.content)
    assert not ok.is_error and state.kv.get("answer") == "fixed"
    assert model.calls[1].messages[-1] == first_error


class _Rendezvous:
    """Lets waiters through once ``parties`` of them wait (``asyncio.Barrier`` is
    Python 3.11+, the package supports 3.10)."""

    def __init__(self, parties: int) -> None:
        self._parties = parties
        self._arrived = 0
        self._all_in = asyncio.Event()

    async def wait(self) -> None:
        self._arrived += 1
        if self._arrived >= self._parties:
            self._all_in.set()
        await self._all_in.wait()


async def test_parallel_tool_calls_run_concurrently_and_merge_state_in_order() -> None:
    barrier = _Rendezvous(2)

    @tool
    async def put(key: str, value: int, ctx: ToolContext) -> int:
        """Store a value."""
        await asyncio.wait_for(barrier.wait(), timeout=5)  # both calls must be in flight at once
        ctx.state.kv.set(key, value)
        ctx.state.kv.set("last", key)
        return value

    model = ScriptedModel(
        [tool_calls(("put", {"key": "a", "value": 1}), ("put", {"key": "b", "value": 2}))]
    )
    agent = create_agent(name="A", model=model, tools=[put])
    state: State[dict[str, object]] = State()
    result = await agent.run("go", state=state)
    assert [r.content for r in result.tool_calls] == [1, 2]
    assert state.kv.all() == {"a": 1, "b": 2, "last": "b"}  # later calls win, in call order


async def test_failed_tool_changes_nothing() -> None:
    @tool
    def half(ctx: ToolContext) -> None:
        """Change state, then fail."""
        ctx.state.kv.set("half", True)
        raise ValueError("broken")

    model = ScriptedModel([tool_call("half")])
    state: State[dict[str, object]] = State()
    await create_agent(name="A", model=model, tools=[half]).run("go", state=state)
    assert not state.kv.has("half")


async def test_dynamic_system_prompt_and_assistant_prefill() -> None:
    async def system(network: object) -> str:
        return "sys for " + type(network).__name__

    model = ScriptedModel([text("continued")])
    agent = create_agent(name="A", model=model, system=system, assistant="Sure:")
    await agent.run("hi")
    messages = model.calls[0].messages
    assert messages[0] == TextMessage(role="system", content="sys for NetworkRun")
    assert messages[-1] == TextMessage(role="assistant", content="Sure:")


async def test_lifecycle_hooks() -> None:
    events: list[str] = []

    def on_start(
        *,
        agent: Agent,
        network: NetworkRun,
        input: str,
        prompt: list[Message],
        history: list[Message],
    ) -> StartResult:
        events.append(f"start:{input}")
        return StartResult(
            prompt=[TextMessage(role="system", content="rewritten")], history=history
        )

    async def on_response(*, agent: Agent, network: NetworkRun, result: AgentResult) -> AgentResult:
        events.append("response")
        # drop the tool call the model asked for
        result.output = [m for m in result.output if not isinstance(m, ToolCallMessage)]
        return result

    def on_finish(*, agent: Agent, network: NetworkRun, result: AgentResult) -> AgentResult:
        events.append("finish")
        return result.model_copy(update={"id": "custom"})

    model = ScriptedModel([tool_call("save_answer", {"answer": "x"})])
    agent = create_agent(
        name="A",
        model=model,
        tools=[save_answer],
        lifecycle=Lifecycle(on_start=on_start, on_response=on_response, on_finish=on_finish),
    )
    result = await agent.run("q")
    assert events == ["start:q", "response", "finish"]
    assert model.calls[0].system == "rewritten"
    assert result.tool_calls == [] and result.id == "custom"


async def test_on_start_can_stop_the_call() -> None:
    model = ScriptedModel([])
    agent = create_agent(
        name="A",
        model=model,
        lifecycle=Lifecycle(
            on_start=lambda **kw: StartResult(prompt=kw["prompt"], history=kw["history"], stop=True)
        ),
    )
    result = await agent.run("q")
    assert model.calls == [] and result.output == []


async def test_configuration_errors_are_clear() -> None:
    with pytest.raises(ConfigurationError, match="has no model"):
        await create_agent(name="A").run("q")
    with pytest.raises(ConfigurationError, match="tool_choice 'missing'"):
        create_agent(name="A", tool_choice="missing", tools=[save_answer])
    with pytest.raises(ConfigurationError, match="two tools named"):
        create_agent(name="A", tools=[save_answer, save_answer])
    with pytest.raises(ConfigurationError, match="must be Tool objects"):
        create_agent(name="A", tools=[lambda: None])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="must not contain"):
        create_agent(name="a/b")
    with pytest.raises(ConfigurationError, match="must not be empty"):
        create_agent(name=" ")
    with pytest.raises(ConfigurationError, match="max_iter"):
        create_agent(name="A", max_iter=-1)


async def test_tool_choice_and_tools_reach_the_model() -> None:
    model = ScriptedModel([tool_call("save_answer", {"answer": "x"})])
    agent = create_agent(name="A", model=model, tools=[save_answer], tool_choice="save_answer")
    await agent.run("q")
    call: ModelCall = model.calls[0]
    assert call.tool_choice == "save_answer" and call.tool_names == ["save_answer"]


async def test_with_model_and_run_model_override() -> None:
    first, second = ScriptedModel([text("one")]), ScriptedModel([text("two")])
    agent = create_agent(name="A", model=first)
    assert (await agent.run("q", model=second)).text == "two"
    assert (await agent.with_model(first).run("q")).text == "one"


def test_run_sync() -> None:
    agent = create_agent(name="A", model=ScriptedModel([text("sync")]))
    assert agent.run_sync("q").text == "sync"


async def test_step_ids_are_readable_and_unique() -> None:
    runner = InlineRunner()
    model = ScriptedModel(
        [tool_calls(("save_answer", {"answer": "1"}), ("save_answer", {"answer": "2"})), text("ok")]
    )
    agent = create_agent(name="Triage", model=model, tools=[save_answer], max_iter=2)
    await agent.run("q", runner=runner)
    assert runner._claimed == {
        "Triage#1/infer",
        "Triage#1/tool/save_answer",
        "Triage#1/tool/save_answer#2",
        "Triage#1/infer#2",
    }
    with pytest.raises(RuntimeError, match="used twice"):
        runner.claim("Triage#1/infer")
