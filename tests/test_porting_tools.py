"""AgentKit docs, concepts/tools: typed parameters, optional (nullable) ones, and tools
without parameters written TypeScript-style (issue 15 point 9)."""

from __future__ import annotations

import datetime
from typing import Any

import pydantic
import pytest

from agentkit_inngest import State, ToolContext, create_agent, create_tool, tool
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.models import openai
from agentkit_inngest.testing import ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

from .porting_helpers import point_providers_at


class Created(pydantic.BaseModel):
    gte: datetime.date = pydantic.Field(description="Start date in YYYY-MM-DD format")
    lte: datetime.date = pydantic.Field(description="End date in YYYY-MM-DD format")


class ListChargesParams(pydantic.BaseModel):
    userId: str  # the sample's field name, as the model sees it
    created: Created | None = None  # TS: .nullable(): the model may send null


def list_charges(params: ListChargesParams, ctx: ToolContext) -> list[dict[str, Any]]:
    charges = [{"id": "ch_1", "date": "2024-05-02"}, {"id": "ch_2", "date": "2024-07-01"}]
    if params.created is None:
        return charges
    low, high = params.created.gte.isoformat(), params.created.lte.isoformat()
    return [c for c in charges if low <= c["date"] <= high]


list_charges_tool = create_tool(
    name="list_charges",
    description="Returns all of a user's charges. Call this whenever you need to find one "
    "or more charges between a date range.",
    parameters=ListChargesParams,
    handler=list_charges,
)


async def test_typed_dates_are_validated_and_parsed() -> None:
    model = ScriptedModel(
        [
            tool_call(
                "list_charges",
                {"userId": "u1", "created": {"gte": "2024-05-01", "lte": "2024-05-31"}},
            ),
            tool_call("list_charges", {"userId": "u1", "created": {"gte": "May", "lte": "x"}}),
            text("One charge in May."),
        ]
    )
    agent = create_agent(name="Billing", model=model, tools=[list_charges_tool], max_iter=3)
    result = await agent.run("May charges of u1?")
    ok, bad = result.tool_calls
    assert ok.content == [{"id": "ch_1", "date": "2024-05-02"}]
    assert bad.is_error and "created.gte" in str(bad.content)  # back to the model to fix


async def test_optional_parameters_are_nullable_for_openai_and_null_means_not_given(
    fake_provider: FakeProvider, provider_url: str, monkeypatch: Any
) -> None:
    point_providers_at(monkeypatch, provider_url)
    fake_provider.reply(tool_call("list_charges", {"userId": "u1", "created": None}), text("2"))
    agent = create_agent(
        name="Billing", model=openai("gpt-4o"), tools=[list_charges_tool], max_iter=2
    )
    result = await agent.run("All charges of u1?")
    assert len(result.tool_calls[0].content) == 2
    sent = fake_provider.bodies("openai")[0]["tools"][0]["function"]
    assert sent["strict"] is True
    assert {"type": "null"} in sent["parameters"]["properties"]["created"]["anyOf"]


def test_a_ts_style_no_parameter_handler_is_told_how_to_write_it() -> None:
    with pytest.raises(ConfigurationError) as raised:
        # TS: handler: async (params, { network }) => ... with no parameters
        create_tool(
            name="list_files",
            description="List the files",
            handler=lambda params, ctx: ctx.state.data["files"],
        )
    message = str(raised.value)
    assert "parameter 'params' needs a type annotation" in message
    assert "handler=lambda ctx: ..." in message and "handler(_params, ctx)" in message


async def test_no_parameter_handlers_the_python_way_and_the_agentkit_way() -> None:
    def with_context_only(ctx: ToolContext) -> list[str]:
        return list(ctx.state.data["files"])

    @tool
    def list_files(ctx: ToolContext) -> list[str]:
        """List the files."""
        return list(ctx.state.data["files"])

    agentkit_shaped = create_tool(
        name="list_files_ts",
        description="List the files",
        handler=lambda _params, ctx: [*sorted(ctx.state.data["files"]), _params],
    )
    tools = [
        create_tool(name="list_files_ctx", description="List", handler=with_context_only),
        list_files,
        agentkit_shaped,
    ]
    for each in tools:
        assert each.json_schema == {"type": "object", "properties": {}}
    model = ScriptedModel(
        [
            tool_call("list_files_ctx"),
            tool_call("list_files"),
            tool_call("list_files_ts"),
            tool_call("list_files_ts", {"unexpected": 1}),
            text("done"),
        ]
    )
    agent = create_agent(name="Files", model=model, tools=tools, max_iter=5)
    result = await agent.run("ls", state=State({"files": ["b.ts", "a.ts"]}))
    contents = [r.content for r in result.tool_calls]
    assert contents[:3] == [["b.ts", "a.ts"], ["b.ts", "a.ts"], ["a.ts", "b.ts", {}]]
    assert result.tool_calls[3].content == [
        "a.ts",
        "b.ts",
        {"unexpected": 1},
    ]  # an empty schema allows extra fields, as TS's createTool does


def test_an_unannotated_underscore_parameter_beside_real_ones_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="parameter '_x' needs a type annotation"):
        create_tool(name="t", handler=lambda _x, city, ctx: None)
