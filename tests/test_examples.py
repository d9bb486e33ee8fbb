"""The examples run offline by default and use a real provider when a key is set."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agentkit_inngest.testing import text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(f"examples.{name}")
    return importlib.reload(module)


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
