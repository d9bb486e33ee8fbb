"""The examples run offline by default and use a real provider when a key is set."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agentkit_inngest import (
    ConfigurationError,
    EventWait,
    InlineRunner,
    Invocation,
    WaitUnavailableError,
)
from agentkit_inngest.testing import text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.modules.pop(f"examples.{name}", None)
    return importlib.import_module(f"examples.{name}")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_quick_start_runs_offline(offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    quick_start = _load("quick_start")
    assert quick_start.main([]) == 0
    out = capsys.readouterr().out
    assert "embedded offline model" in out
    assert "PgBouncer" in out and "row-level security" in out
    run = quick_start.network.run_sync("scale it")
    assert [r.agent_name for r in run.results] == [
        "Database administrator",
        "Database Security Expert",
    ]
    assert run.state.data.dba_agent_answer and run.state.data.security_agent_answer


def test_quick_start_uses_a_real_provider_when_a_key_is_set(
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    fake_provider.reply(
        tool_call("save_answer", {"answer": "Shard by organization."}),
        tool_call("save_answer", {"answer": "Use row-level security."}),
    )
    quick_start = _load("quick_start")
    assert quick_start.main(["How do I scale?"]) == 0
    out = capsys.readouterr().out
    assert "OpenAI gpt-4o-mini" in out and "Shard by organization." in out
    assert [r.body["model"] for r in fake_provider.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
    systems = [r.body["messages"][0]["content"] for r in fake_provider.requests]
    assert "database administrator" in systems[0] and "security expert" in systems[1]


# -- support agent with a human in the loop -------------------------------------------------


def test_support_agent_runs_offline_with_a_canned_developer_reply(
    offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    support = _load("support_agent")
    assert support.main([]) == 0
    out = capsys.readouterr().out
    assert "waits for app/support.ticket.developer-response" in out
    assert "Handled by: Technical Support" in out
    assert f"Workaround: {support.CANNED_REPLY}" in out

    assert support.main(["T-1002"]) == 0
    out = capsys.readouterr().out
    assert "Handled by: Customer Support" in out and "Settings > Billing > Invoices" in out
    assert support.desk.updates == [{"ticketId": "T-1002", "priority": "low", "status": "resolved"}]

    assert support.main(["T-404"]) == 1
    assert "ticket 'T-404' does not exist" in capsys.readouterr().err


def test_support_agent_without_a_wait_handler_says_what_to_pass(offline: None) -> None:
    support = _load("support_agent")
    with pytest.raises(WaitUnavailableError, match=r"InlineRunner\(on_wait_for_event=\.\.\.\)"):
        asyncio.run(support.handle_ticket("T-1001", runner=InlineRunner()))


def test_support_agent_with_a_real_provider_continues_an_unfinished_agent(
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    support = _load("support_agent")
    search = tool_call("search_latest_release_notes", {"query": "dashboard"})
    fake_provider.reply(
        tool_call("route_to_agent", {"agent": "Technical Support"}),
        search,
        search,
        search,
        search,  # max_iter=4 used up while still calling tools
        text("Roll back to 2.4.1."),  # the router sent it back: it finishes
        tool_call("done"),
    )
    waits: list[EventWait] = []

    async def no_wait(wait: EventWait) -> None:
        waits.append(wait)

    outcome = asyncio.run(
        support.handle_ticket("T-1001", runner=InlineRunner(on_wait_for_event=no_wait))
    )
    assert outcome["agents"] == ["Technical Support", "Technical Support"]
    assert outcome["response"] == "Roll back to 2.4.1."
    bodies = fake_provider.bodies()
    assert len(bodies) == 7 and fake_provider.remaining == 0
    assert bodies[0]["tool_choice"] == "required"  # the supervisor must route or finish
    assert [t["function"]["name"] for t in bodies[0]["tools"]] == ["route_to_agent", "done"]
    assert "Ticket T-1001 from Acme Corp (critical priority)" in bodies[0]["messages"][1]["content"]
    assert waits == []


# -- deterministic state routing -----------------------------------------------------------


def test_state_routing_runs_offline(offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    routing = _load("state_routing")
    assert routing.main([]) == 0
    out = capsys.readouterr().out
    assert "Planner#1 called ['list_files', 'read_file', 'create_plan']" in out
    assert "Editor#1 called ['write_file', 'finish']" in out
    assert "if not values:\n        return 0.0" in out
    run = routing.network.run_sync("fix average")
    assert isinstance(run.state.data.plan, routing.Plan)
    assert run.state.data.files == sorted(routing.REPOSITORY)


def test_state_routing_stops_after_its_call_limit(
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    routing = _load("state_routing")
    plan = {
        "thoughts": "t",
        "plan_details": "d",
        "edits": [{"filename": "README.md", "idea": "i", "reasoning": "r"}],
    }
    fake_provider.reply(
        tool_call("write_file", {"filename": "README.md", "content": "x"}),  # not planned yet
        tool_call("create_plan", plan),
        text("planned"),
        *[text("I will not edit anything.")] * 5,
    )
    assert routing.main(["edit the readme"]) == 1
    out = capsys.readouterr().out
    assert "OpenAI gpt-4o" in out and "Done: False" in out
    assert out.count("- Editor#") == 5  # six agent calls in all, then the router stops
    first = fake_provider.bodies()[0]
    assert "repository acme/calculator" in first["messages"][0]["content"]
    tool_error = fake_provider.bodies()[1]["messages"][-1]
    assert "no tool named 'write_file'" in tool_error["content"]


# -- a multi-step tool -----------------------------------------------------------------------


def test_multi_step_tool_runs_offline(offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    research = _load("multi_step_tool")
    assert research.main(["pgvector"]) == 0
    out = capsys.readouterr().out
    assert "Queries: ['pgvector', 'pgvector internals', 'pgvector best practices']" in out
    assert "Sources: ['https://example.com/postgres/pgvector']" in out
    assert "HNSW and IVFFlat" in out


def test_multi_step_tool_needs_an_invoker_in_plain_python(offline: None) -> None:
    research = _load("multi_step_tool")
    with pytest.raises(WaitUnavailableError, match=r"InlineRunner\(on_invoke=\.\.\.\)"):
        research.network.run_sync("pgvector")
    with pytest.raises(ConfigurationError, match="no function 'other' to run inline"):
        asyncio.run(research.run_inline(Invocation("s", "other", {}, None)))


# -- multi-tenancy and retries ---------------------------------------------------------------


def test_multitenancy_runs_offline_per_user(
    offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    tenancy = _load("multitenancy")
    assert tenancy.main([]) == 0
    assert "raise Pro to $20/month" in capsys.readouterr().out
    assert tenancy.main(["user-b", "pricing?"]) == 0
    out = capsys.readouterr().out
    assert "pricing stays flat" in out and "$20" not in out
    assert tenancy.main(["user-c"]) == 0
    assert "Nothing in your workspace mentions this." in capsys.readouterr().out


# -- MCP agent ------------------------------------------------------------------------------


def test_mcp_agent_runs_offline_against_its_stdio_server(
    offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    mcp_agent = _load("mcp_agent")
    assert mcp_agent.main(["How far is Paris from Berlin, in miles?"]) == 0
    out = capsys.readouterr().out
    assert "embedded offline model" in out
    assert "MCPServer(name='travel', stdio:" in out
    assert '- travel-distance -> {"from_city": "Paris", "to_city": "Berlin", "km": 878}' in out
    assert '- travel-convert -> {"result": 545.6}' in out
    assert "Answer: Paris to Berlin is 878 km, about 545.6 miles." in out


def test_mcp_agent_offers_the_server_tools_to_a_real_provider(
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    fake_provider.reply(
        tool_call("travel-distance", {"from_city": "Rome", "to_city": "Vienna"}),
        text("Rome to Vienna is 765 km."),
    )
    mcp_agent = _load("mcp_agent")
    assert mcp_agent.main(["Rome to Vienna?"]) == 0
    out = capsys.readouterr().out
    assert "OpenAI gpt-4o-mini" in out and "Answer: Rome to Vienna is 765 km." in out
    tools = {t["function"]["name"]: t["function"] for t in fake_provider.requests[0].body["tools"]}
    assert set(tools) == {"travel-distance", "travel-convert"}
    distance = tools["travel-distance"]
    # the server's input schema, as declared (titles aside), not rewritten for strict mode
    assert distance["parameters"] == {
        "type": "object",
        "properties": {"from_city": {"type": "string"}, "to_city": {"type": "string"}},
        "required": ["from_city", "to_city"],
    }
    assert distance["strict"] is False
    assert "European capitals" in distance["description"]
    answer = fake_provider.requests[1].body["messages"][-1]
    assert answer["role"] == "tool" and '"km":765' in answer["content"]
