"""Each model converts the neutral tool definition into its provider's schema dialect:
OpenAI's strict mode, Gemini's OpenAPI subset, Anthropic's plain JSON Schema."""

from __future__ import annotations

import json
import warnings
from typing import Any, Literal

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit_inngest import ConfigurationError, TextMessage, Tool, create_tool, tool
from agentkit_inngest.models import (
    Model,
    ModelRequest,
    ToolDefinition,
    anthropic,
    gemini,
    grok,
    openai,
)
from agentkit_inngest.models._schema import GeminiDialect, OpenAIDialect, _converted


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


class Free(pydantic.BaseModel):
    labels: dict[str, str]


def _tool(parameters: type[pydantic.BaseModel], name: str = "t", **kw: Any) -> Tool:
    return create_tool(name=name, parameters=parameters, handler=lambda p, ctx: None, **kw)


def _openai_schema(t: Tool) -> dict[str, Any]:
    return OpenAIDialect().schema(t.definition).parameters


def _openai_strict(t: Tool) -> bool | None:
    return OpenAIDialect().schema(t.definition).strict


def _gemini_schema(t: Tool) -> dict[str, Any]:
    return GeminiDialect().schema(t.definition).parameters


def _sent(model: Model, *tools: Tool | ToolDefinition) -> dict[str, Any]:
    """The request body ``model`` sends for ``tools``."""
    definitions = [t.definition if isinstance(t, Tool) else t for t in tools]
    return model.build_body(
        ModelRequest(messages=[TextMessage(role="user", content="q")], tools=definitions)
    )


# -- OpenAI strict mode --------------------------------------------------------------------


def test_a_tool_without_parameters_in_each_dialect() -> None:
    @tool
    def now() -> str:
        """Tell the time."""
        return "noon"

    assert _openai_schema(now) == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }
    assert _gemini_schema(now) == {"type": "object", "properties": {}}
    declaration = _sent(gemini("g", api_key="k"), now)["tools"][0]["functionDeclarations"][0]
    assert declaration == {"name": "now", "description": "Tell the time."}  # no empty schema


def test_openai_strict_schema_makes_optional_fields_nullable() -> None:
    t = _tool(Order, "order")
    schema = _openai_schema(t)
    assert _openai_strict(t) is True
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["items", "ship_to", "note"]
    assert schema["properties"]["note"]["anyOf"][-1] == {"type": "null"}
    nested = schema["properties"]["ship_to"]
    assert nested["additionalProperties"] is False and nested["required"] == ["street", "zip"]
    assert "$defs" not in schema and "title" not in nested
    # the neutral definition is untouched by the conversion
    assert "additionalProperties" not in t.definition.parameters


def test_openai_schema_nullable_forms() -> None:
    props = _openai_schema(_tool(Weather, "weather"))["properties"]
    assert props["days"]["type"] == ["integer", "null"] and "default" not in props["days"]
    assert props["city"] == {"type": "string", "description": "City name"}


def test_free_form_objects_fall_back_to_non_strict() -> None:
    t = _tool(Free, "label")
    assert _openai_strict(t) is False
    assert "additionalProperties" in _openai_schema(t)["properties"]["labels"]
    off = _tool(Weather, "w", strict=False)
    assert _openai_strict(off) is False and "additionalProperties" not in _openai_schema(off)


def test_a_tool_demanding_strict_that_cannot_be_strict_is_a_configuration_error() -> None:
    forced = _tool(Free, "label2", strict=True)
    with pytest.raises(ConfigurationError, match=r"tool 'label2' asks for strict=True"):
        OpenAIDialect().schema(forced.definition)
    with pytest.raises(ConfigurationError, match="'label2'"):
        _sent(openai("m", api_key="k"), forced)
    # providers without strict mode, or with it switched off, send it as it is
    assert _sent(anthropic("m", api_key="k"), forced)["tools"][0]["input_schema"]["required"]
    assert _sent(grok("m", api_key="k"), forced)["tools"][0]["function"]["strict"] is False


def test_recursive_models_are_never_strict() -> None:
    class Node(pydantic.BaseModel):
        name: str
        children: list[Node] = []

    t = _tool(Node, "tree")
    schema = anthropic("m", api_key="k").build_body(
        ModelRequest(messages=[], tools=[t.definition])
    )["tools"][0]["input_schema"]
    assert "$defs" in schema or "$ref" in str(schema)
    assert _openai_strict(t) is False


def test_openai_compatible_servers_choose_how_strict_is_sent() -> None:
    t = _tool(Weather, "weather")
    auto = _sent(openai("m", api_key="k"), t)["tools"][0]["function"]
    off = _sent(openai("m", api_key="k", strict_tools="off"), t)["tools"][0]["function"]
    omit = _sent(openai("m", api_key="k", strict_tools="omit"), t)["tools"][0]["function"]
    assert auto["strict"] is True and auto["parameters"]["additionalProperties"] is False
    assert off["strict"] is False and off["parameters"] == t.definition.parameters
    assert "strict" not in omit and omit["parameters"] == t.definition.parameters
    assert _sent(grok("g", api_key="k"), t)["tools"][0]["function"]["strict"] is False
    strict_grok = _sent(grok("g", api_key="k", strict_tools="auto"), t)["tools"][0]["function"]
    assert strict_grok == auto
    assert openai("m", api_key="k").strict_tools == "auto"
    assert grok("g", api_key="k").strict_tools == "off"
    with pytest.raises(ConfigurationError, match="strict_tools must be 'auto', 'off' or 'omit'"):
        openai("m", api_key="k", strict_tools="always")  # type: ignore[arg-type]


# -- Gemini --------------------------------------------------------------------------------


def test_gemini_schema_is_the_openapi_subset() -> None:
    class Choice(pydantic.BaseModel):
        mode: Literal["fast"]
        level: Literal[1, 2]
        ship_to: Address | None = None
        tags: list[str] | None = None

    schema = _gemini_schema(_tool(Choice, "g"))
    text = str(schema)
    for banned in ("additionalProperties", "$ref", "$defs", "const", "'null'", "title"):
        assert banned not in text
    props = schema["properties"]
    assert props["mode"] == {"enum": ["fast"], "type": "string"}
    assert props["level"]["enum"] == ["1", "2"]
    assert props["ship_to"]["nullable"] is True and props["ship_to"]["type"] == "object"
    assert props["tags"] == {"items": {"type": "string"}, "type": "array", "nullable": True}


# -- the neutral definition in requests ----------------------------------------------------


def test_each_model_converts_the_same_definition_into_its_own_dialect() -> None:
    definition = _tool(Order, "order").definition
    openai_body = _sent(openai("m", api_key="k"), definition)["tools"][0]["function"]
    anthropic_body = _sent(anthropic("m", api_key="k"), definition)["tools"][0]
    gemini_body = _sent(gemini("m", api_key="k"), definition)["tools"][0]
    assert openai_body["parameters"]["properties"]["note"]["anyOf"][-1] == {"type": "null"}
    assert anthropic_body["input_schema"] == definition.parameters
    assert gemini_body["functionDeclarations"][0]["parameters"]["properties"]["note"] == {
        "type": "string",
        "nullable": True,
    }
    neutral = Model.build_body(
        openai("m", api_key="k"), ModelRequest(messages=[], tools=[definition])
    )
    assert neutral["tools"] == [
        {"name": "order", "description": "", "parameters": definition.parameters}
    ]


def test_conversions_are_cached_per_dialect_and_definition() -> None:
    _converted.cache_clear()
    first = _tool(Order, "order").definition
    again = _tool(Order, "order").definition  # another tool object, the same definition
    assert first == again and hash(first) == hash(again) and first is not again
    model = openai("m", api_key="k")
    for _ in range(3):
        _sent(model, first)
        _sent(openai("other", api_key="k"), again)
    _sent(grok("g", api_key="k"), first)
    info = _converted.cache_info()
    assert (info.misses, info.hits) == (2, 5)  # one per dialect: OpenAI auto, Grok off
    renamed = _tool(Order, "order2").definition
    assert renamed != first
    _sent(model, renamed)
    assert _converted.cache_info().misses == 3


def test_a_model_request_still_accepts_tools_for_one_version() -> None:
    t = _tool(Weather, "weather")
    with pytest.warns(DeprecationWarning, match=r"tool\.definition"):
        request = ModelRequest(messages=[], tools=[t])  # type: ignore[list-item]
    assert request.tools == [t.definition]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModelRequest(messages=[], tools=[t.definition]).tools == [t.definition]
    with pytest.raises(TypeError, match="ToolDefinition objects"):
        ModelRequest(messages=[], tools=[{"name": "x"}])  # type: ignore[list-item]


# -- hostile schemas -----------------------------------------------------------------------

_keywords = st.sampled_from(
    [
        "type",
        "properties",
        "required",
        "anyOf",
        "enum",
        "const",
        "items",
        "default",
        "nullable",
        "additionalProperties",
        "$defs",
        "$ref",
    ]
) | st.text(max_size=6)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.sampled_from(["object", "string", "null", "array", "\ud800", "\x00"])
    | st.binary(max_size=3)
)
_schemas = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keywords, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.dictionaries(_keywords, _schemas, max_size=4),
    st.sampled_from([None, True, False]),
)
def test_any_schema_is_sent_as_json_in_every_dialect_or_refused_naming_the_tool(
    parameters: dict[str, Any], strict: bool | None
) -> None:
    try:
        definition = ToolDefinition(
            name="hostile", description="d", parameters=parameters, strict=strict
        )
    except ConfigurationError as err:
        refused = str(err)
        assert "'hostile'" in refused, refused
        return
    models: list[Model] = [
        openai("m", api_key="k"),
        openai("m", api_key="k", strict_tools="omit"),
        grok("g", api_key="k"),
        anthropic("m", api_key="k"),
        gemini("m", api_key="k"),
    ]
    for model in models:
        try:
            body = _sent(model, definition)
        except ConfigurationError as err:
            refused = str(err)
            assert "tool 'hostile'" in refused, refused
            continue
        json.dumps(body["tools"], allow_nan=False, ensure_ascii=False).encode("utf-8")
