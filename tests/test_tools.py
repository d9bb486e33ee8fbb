from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

import pydantic
import pytest

from agentkit_inngest import (
    ConfigurationError,
    NetworkRun,
    State,
    Tool,
    ToolCall,
    ToolContext,
    ToolOutcome,
    ToolRetry,
    create_agent,
    create_tool,
    tool,
)
from agentkit_inngest._steps import NoSteps
from agentkit_inngest.tools import ToolDefinition


class Weather(pydantic.BaseModel):
    city: str = pydantic.Field(description="City name")
    days: int = 1
    unit: Literal["C", "F"] | None = None


class Address(pydantic.BaseModel):
    street: str
    zip: str | None = None


class Order(pydantic.BaseModel):
    items: list[str]
    ship_to: Address
    note: str | None = None


def _ctx(call: ToolCall | None = None) -> ToolContext:
    state: State[dict[str, object]] = State()
    run = NetworkRun.for_agent(state=state, runner=None, input="")
    return ToolContext(
        agent=create_agent(name="A"),
        network=run,
        state=state,
        step=NoSteps(run.runner, "t"),
        call=call or ToolCall(id="c", name="t", arguments={}),
    )


async def _call(t: Tool, arguments: dict[str, Any], **call_kwargs: Any) -> ToolOutcome:
    call = ToolCall(id="c", name=t.name, arguments=arguments, **call_kwargs)
    return await t.call(arguments, _ctx(call))


def test_create_tool_with_model_and_handler_receives_validated_input() -> None:
    seen: list[Weather] = []

    def handler(params: Weather, ctx: ToolContext) -> dict[str, object]:
        seen.append(params)
        return {"city": params.city, "days": params.days}

    t = create_tool(name="weather", description="Get weather", parameters=Weather, handler=handler)
    out = asyncio.run(_call(t, {"city": "Rome", "days": "3"}))
    assert out.content == {"city": "Rome", "days": 3} and not out.is_error
    assert isinstance(seen[0], Weather) and seen[0].days == 3


def test_decorator_reads_signature_docstring_and_context() -> None:
    @tool
    def add(a: int, b: int = 2, *, ctx: ToolContext) -> int:
        """Add two numbers.

        More detail that is not part of the description."""
        ctx.state.kv.set("sum", a + b)
        return a + b

    assert add.name == "add" and add.description == "Add two numbers."
    assert add.json_schema["required"] == ["a"]
    assert asyncio.run(_call(add, {"a": 1})).content == 3


def test_decorator_with_options_and_single_model_argument() -> None:
    @tool(name="ship", description="Ship an order")
    async def handler(order: Order) -> str:
        return f"{len(order.items)} items to {order.ship_to.street}"

    assert handler.name == "ship" and handler.parameters is Order
    out = asyncio.run(_call(handler, {"items": ["a", "b"], "ship_to": {"street": "Main"}}))
    assert out.content == "2 items to Main"


def test_tool_without_parameters() -> None:
    @tool
    def now() -> str:
        """Tell the time."""
        return "noon"

    assert now.parameters is None
    assert now.definition == ToolDefinition(
        name="now", description="Tell the time.", parameters={"type": "object", "properties": {}}
    )
    assert asyncio.run(_call(now, {})).content == "noon"


def test_sync_handlers_run_off_the_event_loop_thread() -> None:
    threads: list[str] = []

    @tool
    def where() -> str:
        """Which thread."""
        threads.append(threading.current_thread().name)
        return "ok"

    asyncio.run(_call(where, {}))
    assert threads and threads[0] != threading.main_thread().name


def test_validation_error_becomes_a_readable_tool_error() -> None:
    t = create_tool(name="weather", parameters=Weather, handler=lambda p, ctx: "never")
    out = asyncio.run(_call(t, {"days": "many", "unit": "K", "extra": 1}))
    assert out.is_error
    assert out.content["error"] == "invalid_arguments"
    details = "\n".join(out.content["details"])
    assert "city: Field required" in details
    assert "days: Input should be a valid integer" in details and "'many'" in details
    assert "unit:" in details


def test_unparseable_arguments_become_a_tool_error() -> None:
    t = create_tool(name="weather", parameters=Weather, handler=lambda p, ctx: "never")
    out = asyncio.run(_call(t, {}, arguments_error="not JSON", raw_arguments="{city"))
    assert out.is_error and "could not be read: not JSON" in out.content["message"]


def test_handler_exception_becomes_a_tool_error_and_retry_propagates() -> None:
    @tool
    def boom() -> None:
        """Fail."""
        raise RuntimeError("disk full")

    out = asyncio.run(_call(boom, {}))
    assert out.is_error and out.content == {"error": "RuntimeError", "message": "disk full"}

    @tool
    async def flaky() -> None:
        """Ask for a retry."""
        raise ToolRetry("try later", retry_after=2)

    with pytest.raises(ToolRetry):
        asyncio.run(_call(flaky, {}))


def test_unserializable_result_is_a_tool_error() -> None:
    @tool
    def weird() -> object:
        """Return something odd."""
        return threading.Lock()

    out = asyncio.run(_call(weird, {}))
    assert out.is_error and out.content["error"] == "unserializable_result"


def test_null_for_optional_field_means_not_given() -> None:
    class Opt(pydantic.BaseModel):
        name: str
        limit: int = 10

    t = create_tool(name="search", parameters=Opt, handler=lambda p, ctx: p.limit)
    # strict mode made `limit` nullable; the model sends null meaning "not given"
    assert asyncio.run(_call(t, {"name": "x", "limit": None})).content == 10
    assert asyncio.run(_call(t, {"name": None})).is_error


def test_recursive_models_keep_their_definitions() -> None:
    class Node(pydantic.BaseModel):
        name: str
        children: list[Node] = []

    t = create_tool(name="tree", parameters=Node, handler=lambda p, ctx: None)
    schema = t.definition.parameters
    assert "$defs" in schema or "$ref" in str(schema)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "has space"}, "letters, digits"),
        ({"name": "x" * 65}, "1-64"),
        ({"name": "ok", "parameters": dict}, "pydantic model class"),
        ({"name": "ok", "uses_steps": True}, "must be async"),
    ],
)
def test_bad_tool_definitions(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_tool(handler=lambda ctx: None, **kwargs)  # type: ignore[arg-type]


def test_uses_steps_and_pure_are_exclusive_and_signature_needs_annotations() -> None:
    async def handler(ctx: ToolContext) -> None:
        return None

    with pytest.raises(ConfigurationError, match="both use steps and be pure"):
        create_tool(name="x", handler=handler, uses_steps=True, pure=True)

    def untyped(a, ctx):  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(ConfigurationError, match="needs a type annotation"):
        create_tool(name="x", handler=untyped)

    def star(*args: int) -> None:
        return None

    with pytest.raises(ConfigurationError, match=r"\*args"):
        create_tool(name="x", handler=star)


# -- raw JSON Schema tools (MCP servers) -----------------------------------------------

_SEARCH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "searchArguments",
    "properties": {
        "query": {"type": "string", "minLength": 1},
        "limit": {"type": "integer", "minimum": 1, "default": 5},
        "filters": {"$ref": "#/$defs/Filters"},
    },
    "required": ["query"],
    "$defs": {
        "Filters": {"type": "object", "properties": {"lang": {"enum": ["en", "de"]}}},
    },
}


def test_raw_json_schema_tool_validates_and_passes_the_arguments() -> None:
    seen: list[tuple[dict[str, object], ToolContext]] = []

    def handler(arguments: dict[str, object], ctx: ToolContext) -> str:
        seen.append((arguments, ctx))
        return f"found {arguments['query']}"

    t = Tool(name="search", description="Search.", handler=handler, json_schema=_SEARCH_SCHEMA)
    out = asyncio.run(_call(t, {"query": "mvcc", "filters": {"lang": "en"}}))
    assert out == ToolOutcome("found mvcc")
    assert seen[0][0] == {"query": "mvcc", "filters": {"lang": "en"}}
    assert isinstance(seen[0][1], ToolContext)
    # the schema reaches the model as given, references inlined and titles dropped
    schema = t.definition.parameters
    assert schema == t.json_schema
    assert schema["properties"]["limit"] == {"type": "integer", "minimum": 1, "default": 5}
    assert schema["properties"]["filters"]["properties"]["lang"] == {"enum": ["en", "de"]}
    assert "title" not in schema and "$schema" not in schema


def test_raw_json_schema_tool_reports_every_bad_argument_without_calling_the_handler() -> None:
    calls: list[object] = []
    t = Tool(
        name="search",
        description="",
        handler=lambda a, ctx: calls.append(a),
        json_schema=_SEARCH_SCHEMA,
    )
    out = asyncio.run(_call(t, {"limit": 0, "filters": {"lang": "fr"}}))
    assert out.is_error and out.content["error"] == "invalid_arguments"
    assert out.content["details"] == [
        "(arguments): 'query' is a required property",
        "filters.lang: 'fr' is not one of ['en', 'de']",
        "limit: 0 is less than the minimum of 1",
    ]
    assert calls == []
    # a null for an optional field (OpenAI strict mode) means "not given"
    assert asyncio.run(_call(t, {"query": "x", "limit": None})).is_error is False
    assert calls == [{"query": "x"}]


def test_raw_json_schema_tool_with_an_invalid_schema_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'search': its JSON Schema is invalid"):
        Tool(
            name="search",
            description="",
            handler=lambda a, ctx: None,
            json_schema={"type": "object", "properties": {"q": {"type": "strng"}}},
        )


def test_raw_json_schema_with_an_unresolvable_reference_leaves_validation_to_the_tool() -> None:
    t = Tool(
        name="fetch",
        description="",
        handler=lambda a, ctx: a,
        json_schema={"type": "object", "properties": {"x": {"$ref": "https://example.com/x"}}},
    )
    assert asyncio.run(_call(t, {"x": 1})).content == {"x": 1}


def test_a_handler_may_return_a_tool_outcome_to_report_an_error() -> None:
    @tool
    def lookup(key: str) -> ToolOutcome:
        """Look a key up."""
        return ToolOutcome({"error": "not_found", "key": key}, is_error=True)

    out = asyncio.run(_call(lookup, {"key": "k"}))
    assert out == ToolOutcome({"error": "not_found", "key": "k"}, is_error=True)


def test_the_definition_is_built_once_and_follows_the_tool() -> None:
    t = create_tool(name="weather", description="Get weather", parameters=Weather, handler=print)
    first = t.definition
    assert t.definition is first  # cached: the schema is inlined once
    assert first.name == "weather" and first.description == "Get weather"
    assert first.strict is None and first.parameters["required"] == ["city"]
    assert "title" not in first.parameters
    t.description = "Weather for a city"
    assert t.definition.description == "Weather for a city" and t.definition is not first
    assert t.definition.parameters == first.parameters
    strict = create_tool(name="w", parameters=Weather, handler=print, strict=True).definition
    assert strict.strict is True and strict != first


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "needs a name"),
        ({"description": None}, "description must be a string"),
        ({"strict": 1}, "strict must be True, False or None"),
        ({"parameters": [1]}, "must be a JSON Schema object"),
        ({"parameters": {"x": float("nan")}}, "not plain JSON"),
        ({"parameters": {"x": b"bytes"}}, "not plain JSON"),
        ({"parameters": {"x": "\ud800"}}, "not plain JSON"),
        ({"description": "\ud800"}, "not plain JSON"),
    ],
)
def test_a_definition_that_could_not_be_sent_is_a_configuration_error(
    fields: dict[str, object], message: str
) -> None:
    given: dict[str, object] = {"name": "t", "description": "", "parameters": {}, **fields}
    with pytest.raises(ConfigurationError, match=message):
        ToolDefinition(**given)  # type: ignore[arg-type]


def test_a_definition_keeps_its_own_copy_of_the_schema() -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"q": {"type": "string"}}}
    definition = ToolDefinition(name="t", description="", parameters=schema)
    schema["properties"] = {}
    assert definition.parameters["properties"] == {"q": {"type": "string"}}
    assert definition == ToolDefinition(
        name="t",
        description="",
        parameters={"properties": {"q": {"type": "string"}}, "type": "object"},
    )
