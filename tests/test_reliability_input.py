"""Bad input, generated: event payloads, state payloads, model answers and tool-call
arguments. Whatever arrives, the outcome is a result or a clear error (non-retriable
where retrying cannot help), never an unhandled exception or a retry loop.

The generators are deterministic (``derandomize``), so CI tries the same inputs on
every run; ``HYPOTHESIS_PROFILE=explore`` draws fresh, ten times as many.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any, Literal, TypeVar

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit_inngest import (
    EventPayload,
    FatalProviderError,
    InlineRunner,
    InputError,
    Network,
    NetworkRun,
    ProviderError,
    State,
    StepError,
    ToolCall,
    ToolContext,
    create_agent,
    create_network,
    create_server,
    create_tool,
    route_in_order,
    tool,
)
from agentkit_inngest._steps import NoSteps
from agentkit_inngest.models import Model, TextSink, anthropic, gemini, openai
from agentkit_inngest.models._openai import parse_tool_arguments
from agentkit_inngest.testing import FunctionModel, LocalExecutor, text
from agentkit_inngest.testing.executor import Run
from agentkit_inngest.testing.fake_providers import FakeProvider
from agentkit_inngest.testing.servers import serve

T = TypeVar("T")
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def examples(n: int) -> settings:
    """Deterministic settings for ``n`` examples (x10 and random when exploring)."""
    return settings(
        max_examples=n * 10 if EXPLORE else n,
        derandomize=not EXPLORE,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


UNIT, E2E = 200, 50
TRIED = {
    "event payloads (parsed)": UNIT,
    "state payloads (parsed)": UNIT,
    "typed state payloads (parsed)": UNIT,
    "tool arguments (validated)": UNIT,
    "tool-call argument texts (parsed)": UNIT,
    "provider answers (openai, anthropic, gemini)": 3 * UNIT // 2,
    "event payloads (through the app)": E2E,
    "tool-call arguments (through the app)": E2E,
}
"""Inputs each property tries in CI (RELIABILITY.md quotes the total)."""

# -- strategies ---------------------------------------------------------------------------

# JSON has no NaN or infinity, so neither does anything a provider or Inngest sends
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KNOWN_STATE_KEYS = ["data", "kv", "results", "messages", "thread_id"]
short_text = st.text(max_size=12)
# messages: mostly well-formed (as a previous run would have stored them), some not
text_messages = st.fixed_dictionaries(
    {
        "kind": st.just("text"),
        "role": st.sampled_from(["user", "assistant", "system"]),
        "content": short_text,
    }
)
tool_call_messages = st.fixed_dictionaries(
    {
        "kind": st.just("tool_call"),
        "tools": st.lists(
            st.fixed_dictionaries(
                {"id": short_text, "name": short_text},
                optional={"arguments": st.dictionaries(short_text, json_values, max_size=2)},
            ),
            min_size=1,
            max_size=2,
        ),
    }
)
tool_result_messages = st.fixed_dictionaries(
    {"kind": st.just("tool_result"), "tool_call_id": short_text, "name": short_text},
    optional={"content": json_values, "is_error": st.booleans()},
)
message_like = st.one_of(
    text_messages,
    tool_call_messages,
    tool_result_messages,
    st.dictionaries(st.sampled_from(["kind", "role", "content", "tools", "x"]), json_values),
)
result_like = st.fixed_dictionaries(
    {"agent_name": st.one_of(short_text, json_values)},
    optional={
        "output": st.lists(message_like, max_size=2),
        "tool_calls": st.lists(tool_result_messages, max_size=2) | json_values,
        "usage": st.fixed_dictionaries({"input_tokens": st.integers(0, 99)}) | json_values,
        "x": json_values,
    },
)
research_data = st.fixed_dictionaries(
    {},
    optional={
        "topic": st.one_of(st.none(), short_text, json_values),
        "facts": st.lists(short_text, max_size=3) | json_values,
        "draft": st.one_of(st.none(), short_text),
    },
)
structured_states = st.fixed_dictionaries(
    {},
    optional={
        "data": research_data | json_values,
        "kv": st.dictionaries(short_text, json_values, max_size=3) | json_values,
        "results": st.lists(result_like, max_size=2) | json_values,
        "messages": st.lists(message_like, max_size=3) | json_values,
        "thread_id": st.one_of(st.none(), short_text, json_values),
    },
)
states = st.one_of(
    structured_states,
    structured_states.flatmap(
        lambda state: st.dictionaries(short_text, json_values, max_size=2).map(
            lambda extra: {**state, **extra}  # unknown fields
        )
    ),
    json_values,
)
inputs = st.text(min_size=1, max_size=30)
structured_events = st.fixed_dictionaries(
    {"input": st.one_of(inputs, inputs, inputs, st.just(""), json_values)},
    optional={
        "state": st.one_of(structured_states, structured_states, states),
        "thread_id": st.one_of(inputs, inputs, json_values),
        "user_id": json_values,
    },
)
# one_of draws its branches about equally: repeating a branch weights it
event_data = st.one_of(
    structured_events,
    structured_events,
    structured_events,
    st.dictionaries(
        st.sampled_from(["input", "state", "thread_id", "_inngest"]) | short_text,
        st.one_of(json_values, states),
        max_size=4,
    ),
)
well_formed_arguments = st.fixed_dictionaries(
    {"day": st.sampled_from(["mon", "tue", "wed"]), "hours": st.integers(0, 24)},
    optional={"note": st.one_of(st.none(), short_text)},
)
argument_objects = st.one_of(
    well_formed_arguments,
    st.fixed_dictionaries(
        {
            "day": st.sampled_from(["mon", "tue", "wed", "sun", "MON"]),
            "hours": st.integers(-3, 27),
        },
        optional={"note": st.one_of(st.none(), short_text, json_values)},
    ),
    st.dictionaries(
        st.sampled_from(["day", "hours", "note", "extra"]),
        st.one_of(json_values, st.sampled_from(["mon", "tue"]), st.integers(-5, 30)),
        max_size=4,
    ),
)
argument_texts = st.one_of(
    argument_objects.map(json.dumps),
    argument_objects.map(json.dumps),
    argument_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=40),
    argument_objects.map(lambda a: json.dumps(a)[:-1]),  # cut short, as a model stopped mid-way
)


class Research(pydantic.BaseModel):
    topic: str | None = None
    facts: list[str] = []
    draft: str | None = None


# -- parsing units ------------------------------------------------------------------------


def attempt(fn: Callable[[], T]) -> tuple[Any, Exception | None]:
    """``(result, None)`` or ``(None, the exception)``: any exception, so that a
    property can check it is the documented one."""
    try:
        return fn(), None
    except Exception as err:
        return None, err


@examples(UNIT)
@given(data=event_data)
def test_any_event_payload_parses_or_names_the_bad_field(data: dict[str, Any]) -> None:
    payload, error = attempt(lambda: EventPayload.parse(data))
    if error is not None:
        assert isinstance(error, InputError), error
        assert str(error).startswith("invalid event data: data.")
    else:
        assert isinstance(payload.input, str) and payload.input


@examples(UNIT)
@given(payload=states)
def test_any_state_payload_loads_or_names_the_bad_field(payload: Any) -> None:
    state, error = attempt(lambda: State.from_json(payload))
    if error is not None:
        assert isinstance(error, InputError), error
        assert str(error).startswith("state")
    else:  # and what loads survives JSON
        assert State.from_json(state.to_json()).to_json() == state.to_json()


@examples(UNIT)
@given(payload=states)
def test_any_typed_state_payload_loads_or_names_the_bad_field(payload: Any) -> None:
    state, error = attempt(lambda: State.from_json(payload, data_type=Research))
    if error is not None:
        assert isinstance(error, InputError), error
        assert str(error).startswith("state")
    else:
        assert isinstance(state.data, Research)
        assert State.from_json(state.to_json(), data_type=Research).data == state.data


@tool
def schedule(
    day: Literal["mon", "tue", "wed"],
    hours: Annotated[int, pydantic.Field(ge=0, le=24)],
    note: str | None = None,
) -> str:
    """Schedule work."""
    assert 0 <= hours <= 24 and day in ("mon", "tue", "wed")  # only valid input gets here
    return f"{day}:{hours}:{note}"


class Hours(pydantic.BaseModel):
    hours: int = pydantic.Field(ge=0, le=24)


async def _schedule(params: Hours) -> str:
    return f"{params.hours}h"


bounded = create_tool(name="bounded", handler=_schedule, parameters=Hours)


def _context(arguments: dict[str, Any], error: str | None = None) -> ToolContext:
    agent = create_agent(name="A", model=FunctionModel(lambda c: text("x")))
    state: State[Any] = State()
    runner = InlineRunner()
    return ToolContext(
        agent=agent,
        network=NetworkRun.for_agent(state=state, runner=runner, input=""),
        state=state,
        step=NoSteps(runner, "t"),
        call=ToolCall(id="1", name="t", arguments=arguments, arguments_error=error),
    )


@examples(UNIT)
@given(arguments=argument_objects)
def test_any_tool_arguments_give_a_result_or_an_error_the_model_can_read(
    arguments: dict[str, Any],
) -> None:
    for target in (schedule, bounded):
        outcome = asyncio.run(target.call(arguments, _context(arguments)))
        if outcome.is_error:
            assert outcome.content["error"] == "invalid_arguments"
            assert "fix them and call the tool again" in outcome.content["message"]
            assert outcome.content["details"]
        else:
            assert isinstance(outcome.content, str)


@examples(UNIT)
@given(raw=argument_texts)
def test_any_argument_text_is_read_or_explained(raw: str) -> None:
    arguments, error, kept = parse_tool_arguments(raw)
    assert isinstance(arguments, dict)
    if error is not None:
        assert kept == raw and not arguments
        outcome = asyncio.run(schedule.call({}, _context({}, error)))
        assert outcome.is_error and "Send a JSON object" in outcome.content["message"]


class Canned(Model):
    """A model whose provider answers ``raw``, parsed by a real provider's converters."""

    def __init__(self, parser: Model, raw: Any) -> None:
        super().__init__(model="canned")
        self.parser, self.raw = parser, raw

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        raw: dict[str, Any] = self.raw
        return raw

    def parse_response(self, raw: Any) -> Any:
        return self.parser.parse_response(raw)


PROVIDERS = [
    openai("m", api_key="k"),
    anthropic("m", api_key="k"),
    gemini("m", api_key="k"),
]


def _nested(depth: int) -> Any:
    """``1`` inside ``depth`` lists."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# what a custom model, or a provider's JSON as Python reads it, can hold: NaN and
# infinity (Python's parser accepts the literals), lone surrogates (``\ud800``
# escapes), huge integers, deep nesting, bytes, tuples
hostile_values = st.one_of(
    st.sampled_from([float("nan"), float("inf"), 10**5000, b"\xff", ("a", 1), "a\x00b"]),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
    st.integers(200, 1200).map(_nested),
)
answer_values = st.one_of(json_values, json_values, hostile_values)
answers = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["choices", "content", "candidates", "usage", "error", "stop_reason"]),
        st.one_of(
            answer_values,
            st.lists(
                st.dictionaries(
                    st.sampled_from(["message", "type", "text", "content", "parts"]),
                    answer_values,
                )
            ),
        ),
    ),
)


@examples(UNIT // 2)
@given(raw=answers)
def test_any_provider_answer_is_read_or_fails_as_a_provider_error(raw: Any) -> None:
    for parser in PROVIDERS:
        model = Canned(parser, raw)
        # in the step: a readable answer, or a provider error (retriable: the step is
        # retried; fatal: the run fails naming the provider)
        memo, error = attempt(lambda: asyncio.run(model.complete({})))  # noqa: B023
        assert error is None or isinstance(error, ProviderError), repr(error)
        if error is None:  # what is read can be memoized: strict JSON, UTF-8
            json.dumps(memo, allow_nan=False).encode("utf-8")
        # the whole agent call: a result, or a classified error naming the step
        agent = create_agent(name="A", model=model)
        runner = InlineRunner(max_attempts=1)
        _, error = attempt(lambda: asyncio.run(agent.run("hi", runner=runner)))  # noqa: B023
        assert error is None or isinstance(error, (FatalProviderError, StepError)), repr(error)
        if isinstance(error, StepError):
            assert error.step_id == "A#1/infer"


# -- through the app ----------------------------------------------------------------------


class LoopThread:
    """An event loop in a thread, so that synchronous hypothesis tests can drive the
    executor and the app it serves across many examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Served:
    fake: FakeProvider  # the provider the served app's models call, set by its fixture

    def __init__(self, loop: LoopThread, executor: LocalExecutor) -> None:
        self.loop, self.executor = loop, executor

    def run(self, fn_id: str, data: dict[str, Any]) -> Run:
        return self.loop.call(self.executor.run(fn_id, data, check=False))


def research_network() -> Network[Research]:
    agent = create_agent(
        name="Solo", model=FunctionModel(lambda call: text(f"{len(call.messages)} messages"))
    )
    return create_network(
        name="Typed", agents=[agent], router=route_in_order(agent), default_state=State(Research())
    )


def schedule_network(provider_url: str) -> Network[Any]:
    model = openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test")
    agent = create_agent(name="Planner", model=model, tools=[schedule], max_iter=2)
    return create_network(name="Plan", agents=[agent], router=route_in_order(agent))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    fake = FakeProvider()
    loop = LoopThread()
    with serve(fake.app) as provider:

        async def start() -> tuple[LocalExecutor, Any]:
            executor = LocalExecutor()
            await executor.__aenter__()
            client = executor.client("input")
            app = create_server(
                client=client, networks=[research_network(), schedule_network(provider.url)]
            )
            await executor.attach(app)
            return executor, app

        executor, _ = loop.call(start())
        holder = Served(loop, executor)
        holder.fake = fake
        try:
            yield holder
        finally:
            loop.call(executor.__aexit__(None, None, None))
            loop.close()


@examples(E2E)
@given(data=event_data)
def test_any_event_through_the_app_completes_or_fails_at_once_naming_the_field(
    served: Served, data: dict[str, Any]
) -> None:
    run = served.run("network-typed", data)
    requests = served.executor.requests_for(run)
    if run.status == "completed":
        assert set(run.output) >= {"output", "state", "results"}
        return
    assert run.status == "failed"
    assert run.error["name"] == "NonRetriableError", run.error
    assert "invalid event data" in run.error["message"] or "state" in run.error["message"]
    assert len(requests) == 1, "bad input must not be retried"


@examples(E2E)
@given(raw=argument_texts)
def test_any_tool_call_arguments_from_the_model_never_crash_the_run(
    served: Served, raw: str
) -> None:
    fake = served.fake
    fake.reset()
    call = {"id": "call_1", "type": "function", "function": {"name": "schedule", "arguments": raw}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    fake.reply(
        {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}]},
        lambda request: text("planned"),
    )
    run = served.run("network-plan", {"input": "plan"})
    assert run.status == "completed", run.error
    (result,) = run.output["results"][0]["tool_calls"]
    if result["is_error"]:
        assert result["content"]["error"] == "invalid_arguments"
    else:
        day, hours, _ = result["content"].split(":")
        assert day in ("mon", "tue", "wed") and 0 <= int(hours) <= 24
    assert len(fake.requests) == 2  # the model saw the result once, then answered
    assert all(r.attempt == 0 for r in served.executor.requests_for(run))  # nothing retried
