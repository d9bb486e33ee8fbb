"""Typed answers (issue 18): ``output_type`` asks the model for a type, validates
what it gives, sends wrong answers back with the errors, and exposes the value.

In plain Python with test models, through each adapter's official SDK against the
fake provider servers (the request each provider receives is checked), and durably
through the served app: the typed value survives the JSON round trip of the memo,
and a replay validates again from the memo without asking the model again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pydantic
import pytest

from agentkit_inngest import (
    ConfigurationError,
    Model,
    NativeOutput,
    Network,
    OutputValidationError,
    ToolOutput,
    create_agent,
    create_network,
    create_server,
    route_in_order,
    tool,
)
from agentkit_inngest.models import anthropic, gemini, grok, openai
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider


class City(pydantic.BaseModel):
    name: str
    population: int = pydantic.Field(gt=0)
    landmarks: list[str] = []


@contextlib.asynccontextmanager
async def served(*networks: Network[Any]) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor() as executor:
        client = executor.client("test-app")
        await executor.attach(create_server(client=client, networks=list(networks)))
        yield executor


def _provider_model(kind: str, url: str, **kw: Any) -> Model:
    if kind == "openai":
        return openai("gpt-test", base_url=f"{url}/v1", api_key="sk-test", **kw)
    if kind == "grok":
        return grok("grok-test", base_url=f"{url}/v1", api_key="xai-test", **kw)
    if kind == "anthropic":
        return anthropic("claude-test", base_url=url, api_key="ant-test", **kw)
    return gemini("gemini-test", base_url=f"{url}/v1beta", api_key="gem-test", **kw)


# -- plain Python -------------------------------------------------------------------------


async def test_a_wrong_typed_answer_goes_back_with_the_errors_then_validates() -> None:
    model = ScriptedModel(
        [
            tool_call("final_answer", {"name": "Paris", "population": "many"}),
            tool_call("final_answer", {"name": "Paris", "population": 2_100_000}),
        ]
    )
    agent = create_agent(name="Geo", model=model, output_type=City)
    result = await agent.run("The largest French city?")
    assert result.answer == City(name="Paris", population=2_100_000)
    assert isinstance(result.answer, City)
    # the final-answer tool is offered, and some tool must be called
    assert model.calls[0].tool_names == ["final_answer"]
    assert [c.tool_choice for c in model.calls] == ["any", "any"]
    told = model.calls[1].last
    assert told is not None and told.kind == "tool_result" and told.is_error
    assert "population" in str(told.content) and "valid integer" in str(told.content)
    # the answer's JSON form travels in the result's JSON
    assert result.model_dump(mode="json")["answer"]["population"] == 2_100_000


async def test_retries_are_bounded_and_the_failure_names_the_agent_type_and_problem() -> None:
    bad = tool_call("final_answer", {"name": "Paris", "population": -1})
    model = ScriptedModel([bad, bad])
    agent = create_agent(name="Geo", model=model, output_type=City, output_retries=1)
    with pytest.raises(OutputValidationError) as caught:
        await agent.run("q")
    message = str(caught.value)
    assert "'Geo'" in message and "City" in message and "after 1 retries" in message
    assert "greater than 0" in message
    assert not caught.value.retriable and caught.value.agent == "Geo"
    assert len(model.calls) == 2


async def test_a_text_answer_is_told_to_use_the_tool_and_a_tool_turn_is_not_a_retry() -> None:
    @tool
    def lookup(city: str) -> str:
        """Look up a city."""
        return f"{city}: 2,100,000 people"

    model = ScriptedModel(
        [
            tool_call("lookup", {"city": "Paris"}),
            text("Paris has about 2.1 million people."),
            tool_call("final_answer", {"name": "Paris", "population": 2_100_000}),
        ]
    )
    # as for a text answer, a tool turn then an answer needs max_iter=2; retries add to it
    agent = create_agent(
        name="Geo", model=model, tools=[lookup], output_type=City, output_retries=1, max_iter=2
    )
    result = await agent.run("q")
    assert result.answer.population == 2_100_000
    told = model.calls[2].last
    assert told is not None and told.kind == "text" and "final_answer" in told.content
    assert [t.name for t in result.tool_calls] == ["lookup", "final_answer"]


async def test_a_type_that_is_not_an_object_is_wrapped_in_response() -> None:
    model = ScriptedModel([tool_call("final_answer", {"response": ["a", "b"]})])
    agent = create_agent(name="Lister", model=model, output_type=list[str])
    result = await agent.run("q")
    assert result.answer == ["a", "b"]
    schema = model.calls[0].tools[0]["parameters"]
    assert schema["required"] == ["response"] and schema["properties"]["response"]["type"] == (
        "array"
    )


async def test_native_output_asks_for_json_and_reads_the_text() -> None:
    model = ScriptedModel([text('```json\n{"name": "Oslo", "population": 700000}\n```')])
    agent = create_agent(name="Geo", model=model, output_type=NativeOutput(City))
    result = await agent.run("q")
    assert result.answer == City(name="Oslo", population=700_000)
    assert model.calls[0].tool_names == []  # no final-answer tool
    assert model.calls[0].body["output"]["schema"]["required"] == ["name", "population"]


def test_bad_output_options_fail_when_the_agent_is_defined() -> None:
    class Opaque:
        pass

    with pytest.raises(ConfigurationError, match=r"agent 'A'.*cannot be validated by pydantic"):
        create_agent(name="A", output_type=Opaque)
    with pytest.raises(ConfigurationError, match="output_retries"):
        create_agent(name="A", output_type=City, output_retries=-1)

    @tool
    def final_answer() -> str:
        """A tool of the same name."""
        return ""

    agent = create_agent(name="A", model=ScriptedModel([]), tools=[final_answer], output_type=City)
    with pytest.raises(ConfigurationError, match="final-answer tool; rename one"):
        agent.run_sync("q")
    renamed = agent.replace(output_type=ToolOutput(City, name="give_city"))
    model = ScriptedModel([tool_call("give_city", {"name": "Rome", "population": 1})])
    assert renamed.replace(model=model).run_sync("q").answer.name == "Rome"


# hostile text: invalid JSON, NaN and infinities, deep nesting, lone surrogates, huge ints
_HOSTILE = st.one_of(
    st.text(max_size=50),
    st.sampled_from(
        [
            '{"name": "X", "population": NaN}',
            '{"name": "X", "population": 1e999}',
            '{"name": "X", "population": Infinity}',
            '{"name": "\ud800", "population": 3}',
            '{"name": "X", "population": ' + "9" * 5000 + "}",
            "[" * 5000 + "]" * 5000,
            '{"name": "X", "population": 3, "landmarks": ' + "[" * 300 + "]" * 300 + "}",
            "\x00",
            '{"name": "X", "population": 3}',
        ]
    ),
)


@hypothesis.settings(max_examples=80, deadline=None, derandomize=True)
@hypothesis.given(first=_HOSTILE, second=_HOSTILE)
def test_any_text_a_model_writes_is_validated_or_sent_back_never_a_crash(
    first: str, second: str
) -> None:
    model = ScriptedModel([text(first), text(second)])
    agent = create_agent(name="Geo", model=model, output_type=NativeOutput(City), output_retries=1)
    failure = ""
    try:
        result = agent.run_sync("q")
    except OutputValidationError as err:
        failure = str(err)
    if failure:
        assert "'Geo'" in failure and len(failure) < 6_000
        assert len(model.calls) == 2
        return
    assert isinstance(result.answer, City) and result.answer.population > 0
    dumped = result.model_dump(mode="json")["answer"]
    assert dumped["population"] < 10**400  # plain JSON: no NaN, no infinity


# -- every adapter, through its official SDK ----------------------------------------------

KINDS = ["openai", "anthropic", "gemini", "grok"]


@pytest.mark.parametrize("native", [False, True], ids=["tool", "native"])
@pytest.mark.parametrize("kind", KINDS)
async def test_every_adapter_asks_in_its_way_and_retries_a_wrong_answer(
    kind: str, native: bool, fake_provider: FakeProvider, provider_url: str
) -> None:
    in_text = native and kind != "anthropic"  # Anthropic has no native way: the tool
    if in_text:
        fake_provider.reply(text('{"name": "Lima"}'), text('{"name": "Lima", "population": 9}'))
    else:
        fake_provider.reply(
            tool_call("final_answer", {"name": "Lima", "population": 0}),
            tool_call("final_answer", {"name": "Lima", "population": 9}),
        )
    spec = NativeOutput(City) if native else City
    agent = create_agent(name="Geo", model=_provider_model(kind, provider_url), output_type=spec)
    result = await agent.run("The capital of Peru?")
    assert result.answer == City(name="Lima", population=9)
    first, second = fake_provider.bodies()
    if in_text and kind in ("openai", "grok"):
        response_format = first["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["name"] == "final_answer"
        assert response_format["json_schema"]["strict"] is (kind == "openai")
        schema = response_format["json_schema"]["schema"]
        assert schema.get("additionalProperties") is (False if kind == "openai" else None)
        assert "tools" not in first
    elif in_text:  # gemini
        config = first["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseSchema"]["required"] == ["name", "population"]
    else:
        names: Callable[[dict[str, Any]], list[str]] = {
            "openai": lambda b: [t["function"]["name"] for t in b["tools"]],
            "grok": lambda b: [t["function"]["name"] for t in b["tools"]],
            "anthropic": lambda b: [t["name"] for t in b["tools"]],
            "gemini": lambda b: [d["name"] for t in b["tools"] for d in t["functionDeclarations"]],
        }[kind]
        assert names(first) == ["final_answer"]
        choice = {
            "openai": "required",
            "grok": "required",
            "anthropic": {"type": "any"},
            "gemini": {"functionCallingConfig": {"mode": "ANY"}},
        }[kind]
        assert (first.get("toolConfig") if kind == "gemini" else first["tool_choice"]) == choice
    # the second request carries what was wrong
    assert "population" in str(second) and ("greater than 0" in str(second) or in_text)


async def test_gemini_native_output_merges_with_its_settings(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text('{"name": "Kyiv", "population": 3}'))
    model = gemini(
        "gemini-test",
        base_url=f"{provider_url}/v1beta",
        api_key="gem-test",
        default_parameters={"temperature": 0.2},
    )
    agent = create_agent(name="Geo", model=model, output_type=NativeOutput(City))
    assert (await agent.run("q")).answer.name == "Kyiv"
    config = fake_provider.bodies()[0]["generationConfig"]
    assert config["temperature"] == 0.2 and config["responseMimeType"] == "application/json"


# -- networks -----------------------------------------------------------------------------


async def test_a_network_answer_is_the_last_agents_typed_answer_or_its_text_as_json() -> None:
    typed = create_agent(
        name="Typed",
        model=ScriptedModel([tool_call("final_answer", {"name": "Bern", "population": 1})]),
        output_type=City,
    )
    run = await create_network(
        name="N", agents=[typed], router=route_in_order(typed), output_type=City
    ).run("q")
    assert run.answer == City(name="Bern", population=1)
    assert run.to_json()["answer"] == {"name": "Bern", "population": 1, "landmarks": []}

    texter = create_agent(
        name="Texter", model=ScriptedModel([text('{"name": "Rome", "population": 2}')])
    )
    run = await create_network(
        name="N", agents=[texter], router=route_in_order(texter), output_type=City
    ).run("q")
    assert run.answer == City(name="Rome", population=2) and len(run.results) == 1


async def test_a_network_asks_its_last_agent_again_when_the_answer_is_not_of_its_type() -> None:
    model = ScriptedModel(
        [
            text("Rome has about 2.8 million people."),
            tool_call("final_answer", {"name": "Rome", "population": 2_800_000}),
        ]
    )
    writer = create_agent(name="Writer", model=model)
    run = await create_network(
        name="N", agents=[writer], router=route_in_order(writer), output_type=City
    ).run("q")
    assert run.answer.population == 2_800_000
    assert [r.id for r in run.results] == ["Writer#1", "Writer#2"]
    assert model.calls[1].tool_names == ["final_answer"]
    assert "2.8 million" in str(model.calls[1].messages)  # it sees its own text answer


# -- durably, through the served app ------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True], ids=["split", "fast_turns"])
async def test_a_failed_typed_answer_is_retried_then_validated_durably_and_replays_ask_nothing(
    fast: bool,
) -> None:
    def network(model: ScriptedModel) -> Network[Any]:
        agent = create_agent(name="Geo", model=model, output_type=City)
        return create_network(
            name="Geo",
            agents=[agent],
            router=route_in_order(agent),
            output_type=City,
            fast_turns=fast,
        )

    script = [
        tool_call("final_answer", {"name": "Paris", "population": "lots"}),
        tool_call(
            "final_answer", {"name": "Paris", "population": 2_100_000, "landmarks": ["Louvre"]}
        ),
    ]
    plain = await network(ScriptedModel(script)).run("q")
    model = ScriptedModel(script)
    async with served(network(model)) as executor:
        run = await executor.run("network-geo", {"input": "q"})
        assert run.output["answer"] == plain.to_json()["answer"]
        assert City.model_validate(run.output["answer"]) == plain.answer
        assert run.output["results"][0]["answer"]["landmarks"] == ["Louvre"]
        step = "turn" if fast else "infer"
        assert executor.executed(run) == [f"Geo#1/{step}", f"Geo#1/{step}#2"]
        assert len(model.calls) == 2
        for _ in range(3):  # replays validate from the memos and ask nothing
            response = await executor.replay(run)
            assert response.status_code == 200 and response.json() == run.output
        assert len(model.calls) == 2


async def test_typed_answers_of_an_offloaded_model_travel_through_the_inngest_server(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("nope"), text('{"name": "Quito", "population": 3}'))
    model = _provider_model("openai", provider_url, inference="offload")
    agent = create_agent(name="Geo", model=model, output_type=NativeOutput(City))
    network: Network[Any] = create_network(name="Geo", agents=[agent], router=route_in_order(agent))
    async with served(network) as executor:
        run = await executor.run("network-geo", {"input": "q"})
        assert run.output["results"][0]["answer"] == {
            "name": "Quito",
            "population": 3,
            "landmarks": [],
        }
        assert fake_provider.bodies()[0]["response_format"]["type"] == "json_schema"
        assert any(op == "AIGateway" for r in executor.requests_for(run) for op, _ in r.ops)


async def test_a_typed_answer_that_never_validates_fails_the_run_at_once_durably() -> None:
    bad = tool_call("final_answer", {"name": "X", "population": 0})
    agent = create_agent(
        name="Geo", model=ScriptedModel([bad, bad]), output_type=City, output_retries=1
    )
    network: Network[Any] = create_network(name="Geo", agents=[agent], router=route_in_order(agent))
    async with served(network) as executor:
        run = await executor.run("network-geo", {"input": "q"}, check=False)
        assert run.status == "failed" and run.error["name"] == "NonRetriableError"
        assert "gave no valid answer of type City after 1 retries" in run.error["message"]
        assert not [r for r in executor.requests_for(run) if r.attempt > 0]
