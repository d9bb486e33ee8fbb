"""Where the run controls show (issue 18): the examples (offline, with a real
provider, and durably through the deployable app), the cost in the stream's
events and the function outputs, and the CLI's ``run`` and ``chat``."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentkit_inngest import (
    BudgetExceededError,
    InlineRunner,
    Network,
    Usage,
    agent_function,
    create_agent,
    create_network,
    create_server,
    route_in_order,
)
from agentkit_inngest.streaming import CallbackPublisher, StreamEvent
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault
from tests.test_cli import invoke, offline, terminal

ROOT = Path(__file__).resolve().parents[1]
_ = (offline, terminal)  # fixtures, used by name


def _load(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.modules.pop(f"examples.{name}", None)
    return importlib.import_module(f"examples.{name}")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


# -- the ticket triage example ------------------------------------------------------------


def test_ticket_triage_runs_offline_with_a_typed_answer_a_retry_and_a_budget(
    no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    triage = _load("ticket_triage")
    assert triage.main([]) == 0
    out = capsys.readouterr().out
    assert "embedded offline model" in out
    assert "Triage (2 answer(s), 2 model request(s))" in out  # priority 7, then 2
    assert '"category": "billing"' in out and '"priority": 2' in out
    assert "cost ~$0.0000" in out
    run = triage.network.run_sync("Card 4111-1111-1111-1111 charged twice")
    assert isinstance(run.answer, triage.Triage)
    assert "4111" not in str(run.state.messages) and "[card number]" in run.answer.summary
    assert triage.network.budget.requests == 6


def test_ticket_triage_falls_back_to_openai_when_anthropic_is_rate_limited(
    no_keys: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    answer = {"category": "outage", "priority": 1, "summary": "down", "needs_human": True}
    fake_provider.reply(Fault(status=429, message="busy"), tool_call("final_answer", answer))
    triage = _load("ticket_triage")
    run = triage.network.run_sync("Everything is down")
    assert run.answer.category == "outage"
    assert [r.provider for r in fake_provider.requests] == ["anthropic", "openai"]
    assert list(run.to_json()["cost"]["by_model"]) == ["openai/gpt-4o-mini"]


def test_the_quick_start_stops_a_model_that_never_saves_its_answer(
    no_keys: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
    provider_url: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    fake_provider.reply(*[text("Use PgBouncer.")] * 20)  # text, never save_answer
    quick_start = _load("quick_start")
    with pytest.raises(BudgetExceededError, match=r"would use 9 model requests, over its cap of 8"):
        quick_start.network.run_sync("How do I scale Postgres?")
    assert len(fake_provider.requests) == 8


async def test_ticket_triage_through_the_deployable_app(
    no_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LocalExecutor() as executor:
        monkeypatch.syspath_prepend(str(ROOT))
        monkeypatch.setenv("INNGEST_DEV", executor.api_url)
        monkeypatch.setenv("INNGEST_APP_ID", "deploy-test")
        for module in ["examples", "examples.ticket_triage", "functions.app"]:
            sys.modules.pop(module, None)
        app = importlib.import_module("functions.app")
        await executor.attach(app.app)
        run = await executor.run("network-ticket-triage", {"input": "I was charged twice"})
        assert run.output["answer"] == {
            "category": "billing",
            "priority": 2,
            "summary": "I was charged twice",
            "needs_human": True,
        }
        # the clock of the budget's wall_time, then the answer and its retry
        assert executor.executed(run) == ["budget/clock", "Triage#1/infer", "Triage#1/infer#2"]
        assert run.output["cost"]["requests"] == 2 and run.output["cost"]["cost_usd"] == 0.0


# -- cost in the stream and the function outputs ------------------------------------------


async def test_usage_events_and_the_run_completed_event_carry_the_cost() -> None:
    events: list[StreamEvent] = []

    async def keep(event: StreamEvent) -> None:
        events.append(event)

    usage = Usage(input_tokens=1_000_000, output_tokens=100_000)  # $0.15 + $0.06
    priced = ScriptedModel([text("a", usage=usage)], model="gpt-4o-mini")
    unpriced = ScriptedModel([text("b")], model="in-house")
    first, second = create_agent(name="P", model=priced), create_agent(name="U", model=unpriced)
    network: Network[Any] = create_network(
        name="N", agents=[first, second], router=route_in_order(first, second)
    )
    await network.run("q", runner=InlineRunner(publisher=CallbackPublisher(keep)))
    spent = [e.data for e in events if e.type == "usage"]
    assert [(d["model"], d["cost_usd"]) for d in spent] == [
        ("test/gpt-4o-mini", pytest.approx(0.21)),
        ("test/in-house", None),
    ]
    completed = next(e for e in events if e.type == "run.completed")
    assert completed.data["cost"]["unpriced"] == ["test/in-house"]
    assert completed.data["cost"]["cost_usd"] is None  # part of the run has no price
    assert completed.data["cost"]["by_agent"]["P"]["cost_usd"] == pytest.approx(0.21)


async def test_an_agent_function_returns_its_typed_answer_and_cost() -> None:
    model = ScriptedModel([tool_call("final_answer", {"response": [3, 1, 2]})], model="gpt-4o-mini")
    agent = create_agent(name="Sorter", model=model, output_type=list[int])
    async with LocalExecutor() as executor:
        client = executor.client("test-app")
        app = create_server(client=client, functions=[agent_function(agent, client=client)])
        await executor.attach(app)
        run = await executor.run("agent-sorter", {"input": "three numbers"})
    assert run.output["answer"] == [3, 1, 2]
    assert run.output["cost_usd"] == pytest.approx((10 * 0.15 + 5 * 0.60) / 1_000_000)


# -- the CLI ------------------------------------------------------------------------------


_PRICED_MODULE = """
from agentkit_inngest import Usage, create_agent, create_network, route_in_order
from agentkit_inngest.testing import FunctionModel, text

def answer(call):
    return text("A priced answer.", usage=Usage(input_tokens=100_000, output_tokens=10_000))

writer = create_agent(name="Writer", model=FunctionModel(answer, model="gpt-4o-mini"))
network = create_network(name="Priced", agents=[writer], router=route_in_order(writer))
"""


def test_run_shows_the_estimated_cost_and_its_json_carries_it(
    offline: None, tmp_path: Path
) -> None:
    (tmp_path / "priced.py").write_text(textwrap.dedent(_PRICED_MODULE))
    args = ["run", "priced:network", "Hello", "--app-dir", str(tmp_path)]
    shown = invoke(*args)
    assert shown.exit_code == 0, shown.output
    # 100,000 in at $0.15/M + 10,000 out at $0.60/M
    assert "Tokens: 100000 in, 10000 out, 110000 total · cost ~$0.0210 (estimated)" in (
        shown.output
    )
    outcome = json.loads(invoke(*args, "--json").stdout)
    assert outcome["cost"]["cost_usd"] == pytest.approx(0.021)
    unpriced = invoke("run", "examples.quick_start:network", "scale?")
    assert "cost unknown (no price for test/offline-devops)" in unpriced.output


def test_chat_shows_each_turns_cost_and_a_typed_answer(
    offline: None, tmp_path: Path, terminal: Any
) -> None:
    (tmp_path / "priced.py").write_text(textwrap.dedent(_PRICED_MODULE))
    db = tmp_path / "c.db"
    args = ["chat", "priced:network", "--db", str(db), "--app-dir", str(tmp_path)]
    result = invoke(*args, input="Hello\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "tokens 100000 in, 10000 out · cost ~$0.0210 (estimated)" in terminal.getvalue()
    args = ["chat", "examples.ticket_triage:network", "--db", str(db)]
    result = invoke(*args, input="I was charged twice\n/quit\n")
    assert result.exit_code == 0, result.output
    drawn = terminal.getvalue()
    assert '"category": "billing"' in drawn and '"priority": 2' in drawn


# -- the docs -----------------------------------------------------------------------------


def test_the_controls_page_code_compiles_and_imports_what_exists() -> None:
    import ast

    text = (ROOT / "docs" / "controls.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    for block in blocks:
        tree = compile(
            block, "controls.md", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("agentkit_inngest")
            ):
                module = importlib.import_module(node.module)
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, f"{node.module} has no {missing}"
