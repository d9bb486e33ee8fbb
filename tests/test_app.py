"""The deployable app in functions/ runs every example durably.

Each test imports the real ``functions.app`` (with the examples it bundles), serves
it on 127.0.0.1 and lets the local executor drive it the way the Inngest server
does: every memo crosses JSON and the handler replays on every step.
"""

from __future__ import annotations

import collections
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentkit_inngest.testing import LocalExecutor, text, tool_call
from agentkit_inngest.testing.executor import Run
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "deploy-test"
EXAMPLES = (
    "quick_start",
    "support_agent",
    "state_routing",
    "multi_step_tool",
    "multitenancy",
    "ticket_triage",
)
BUNDLED = (*EXAMPLES, "mcp_agent", "ui", "ui.app")  # every example module functions.app imports


class Deployed:
    """The served app, its executor and the freshly imported example modules."""

    def __init__(self, executor: LocalExecutor, app: ModuleType) -> None:
        self.executor = executor
        self.app = app
        self.examples = {name: sys.modules[f"examples.{name}"] for name in EXAMPLES}

    async def trigger(self, name: str, data: dict[str, Any]) -> Run:
        """Send an event and return the one run it started."""
        before = set(self.executor.runs)
        await self.executor.send({"name": name, "data": data})
        started = [run for key, run in self.executor.runs.items() if key not in before]
        assert len(started) == 1, f"{name} started {len(started)} runs"
        return started[0]


def _import_app(monkeypatch: pytest.MonkeyPatch, api_url: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("INNGEST_DEV", api_url)
    monkeypatch.setenv("INNGEST_APP_ID", APP_ID)
    for module in ["examples", *(f"examples.{name}" for name in BUNDLED), "functions.app"]:
        sys.modules.pop(module, None)
    return importlib.import_module("functions.app")


@pytest.fixture
async def offline(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deployed]:
    """The app as `docker compose up` runs it without provider keys: offline models."""
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    async with LocalExecutor() as executor:
        app = _import_app(monkeypatch, executor.api_url)
        await executor.attach(app.app)
        yield Deployed(executor, app)


@pytest.fixture
async def with_openai(
    monkeypatch: pytest.MonkeyPatch, provider_url: str
) -> AsyncIterator[Deployed]:
    """The app with OPENAI_API_KEY set, its provider a local fake."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_url}/v1")
    async with LocalExecutor() as executor:
        app = _import_app(monkeypatch, executor.api_url)
        await executor.attach(app.app)
        yield Deployed(executor, app)


async def test_the_app_serves_every_example_function(offline: Deployed) -> None:
    assert sorted(offline.executor.functions) == [
        f"{APP_ID}-agent-database-administrator",
        f"{APP_ID}-agent-database-security-expert",
        f"{APP_ID}-agent-travel-planner",
        f"{APP_ID}-deep-research-network",
        f"{APP_ID}-network-code-writing-network",
        f"{APP_ID}-network-devops-team",
        f"{APP_ID}-network-research-network",
        f"{APP_ID}-network-ticket-triage",
        f"{APP_ID}-network-weather-desk",
        f"{APP_ID}-research-web-tool",
        f"{APP_ID}-support-agent-workflow",
    ]
    triggers = {
        fn_id.removeprefix(f"{APP_ID}-"): [t["event"] for t in config["triggers"]]
        for fn_id, config in offline.executor.functions.items()
    }
    assert triggers["support-agent-workflow"] == ["app/support.ticket.created"]
    assert triggers["research-web-tool"] == ["research-web-tool/run"]
    assert triggers["deep-research-network"] == ["deep-research-network/run"]
    assert triggers["network-devops-team"] == [f"{APP_ID}/network-devops-team"]


# -- quick start -------------------------------------------------------------------------


async def test_quick_start_network(offline: Deployed) -> None:
    run = await offline.executor.run("network-devops-team", {"input": "How do I scale Postgres?"})
    data = run.output["state"]["data"]
    assert "PgBouncer" in data["dba_agent_answer"]
    assert "row-level security" in data["security_agent_answer"]
    assert offline.executor.executed(run) == [
        "Database administrator#1/infer",
        "Database administrator#1/tool/save_answer",
        "Database Security Expert#1/infer",
        "Database Security Expert#1/tool/save_answer",
    ]
    config = offline.executor.functions[f"{APP_ID}-network-devops-team"]
    assert config["steps"]["step"]["retries"] == {"attempts": 3}


async def test_quick_start_agents_run_on_their_own_with_typed_state(offline: Deployed) -> None:
    run = await offline.executor.run(
        "agent-database-security-expert", {"input": "How do I secure Postgres?"}
    )
    assert "row-level security" in run.output["state"]["data"]["security_agent_answer"]
    assert run.output["state"]["data"]["dba_agent_answer"] is None


async def test_the_mcp_agent_and_the_chat_page_network(offline: Deployed) -> None:
    travel = await offline.executor.run(
        "agent-travel-planner", {"input": "How far is Paris from Berlin, in miles?"}
    )
    assert "miles" in travel.output["output"]
    assert offline.executor.executed(travel)[0] == "mcp/travel/tools"
    weather = await offline.executor.run(
        "network-weather-desk", {"input": "What should I wear in Oslo tomorrow?"}
    )
    assert "Oslo" in weather.output["output"] and "coat" in weather.output["output"]


# -- support agent with a human in the loop ------------------------------------------------


async def test_support_ticket_waits_for_the_developer_of_that_ticket(offline: Deployed) -> None:
    executor = offline.executor
    run = await offline.trigger("app/support.ticket.created", {"ticketId": "T-1001"})
    pause = await executor.wait_for_pause(run)
    assert pause.name == "Technical Support#1/tool/ask_developer/wait"
    assert pause.event == "app/support.ticket.developer-response"
    assert pause.if_exp == "async.data.ticketId == event.data.ticketId"

    # a reply about another ticket does not resume this run
    await executor.send(
        {
            "name": "app/support.ticket.developer-response",
            "data": {"ticketId": "T-1002", "answer": "wrong ticket"},
        }
    )
    assert [p.run_id for p in executor.pauses] == [run.id]

    await executor.send(
        {
            "name": "app/support.ticket.developer-response",
            "data": {"ticketId": "T-1001", "answer": "Roll back to 2.4.1", "timestamp": "t1"},
        }
    )
    await run.wait()
    assert run.status == "completed", run.error
    assert run.output["response"].endswith("Workaround: Roll back to 2.4.1")
    assert run.output["ticket"]["id"] == "T-1001"
    assert run.output["agents"] == ["Technical Support"]
    assert executor.executed(run) == [
        "get_ticket_details",
        "Supervisor#1/infer",
        "Technical Support#1/infer",
        "Technical Support#1/tool/search_latest_release_notes",
        "Technical Support#1/infer#2",
        "Technical Support#1/infer#3",
        "Supervisor#2/infer",
    ]
    assert run.memo_for("Technical Support#1/tool/ask_developer/wait")["data"]["answer"] == (
        "Roll back to 2.4.1"
    )


async def test_support_developer_timeout_reaches_the_agent(offline: Deployed) -> None:
    run = await offline.trigger("app/support.ticket.created", {"ticketId": "T-1001"})
    await offline.executor.wait_for_pause(run)
    assert offline.executor.expire_waits(run) == 1
    await run.wait()
    assert run.status == "completed", run.error
    assert "could not reach a developer" in run.output["response"]


async def test_support_ticket_update_happens_exactly_once(offline: Deployed) -> None:
    desk = offline.examples["support_agent"].desk
    run = await offline.trigger("app/support.ticket.created", {"ticketId": "T-1002"})
    await run.wait()
    assert run.status == "completed", run.error
    assert run.output["agents"] == ["Customer Support"]
    assert "Settings > Billing > Invoices" in run.output["response"]
    # the handler replayed once per step, but the ticket was updated once
    assert len(offline.executor.requests_for(run)) > 5
    assert desk.updates == [{"ticketId": "T-1002", "priority": "low", "status": "resolved"}]
    assert desk.get("T-1002").status == "resolved"


async def test_a_missing_ticket_fails_at_once_without_retries(offline: Deployed) -> None:
    run = await offline.trigger("app/support.ticket.created", {"ticketId": "T-404"})
    await run.wait()
    assert run.status == "failed"
    assert "ticket 'T-404' does not exist" in run.error["message"]
    requests = offline.executor.requests_for(run)
    assert [r.attempt for r in requests] == [0, 0]  # load the ticket, then fail: no retry
    assert run.memo_for("get_ticket_details") == {"data": None}

    no_id = await offline.trigger("app/support.ticket.created", {})
    await no_id.wait()
    assert no_id.status == "failed" and "needs data.ticketId" in no_id.error["message"]


# -- deterministic state routing -----------------------------------------------------------


async def test_state_routing_plans_then_edits(offline: Deployed) -> None:
    run = await offline.executor.run(
        "network-code-writing-network", {"input": "average([]) should return 0.0"}
    )
    data = run.output["state"]["data"]
    assert data["done"] is True
    assert data["plan"]["edits"][0]["filename"] == "calculator/stats.py"
    assert "if not values:" in data["changes"]["calculator/stats.py"]
    assert [r["agent_name"] for r in run.output["results"]] == ["Planner", "Editor"]
    executed = offline.executor.executed(run)
    assert executed.index("Planner#1/tool/create_plan") < executed.index("Editor#1/infer")
    assert executed.count("Editor#1/tool/write_file") == 1


# -- a multi-step tool -----------------------------------------------------------------------


def _child_run(deployed: Deployed) -> Run:
    children = [r for r in deployed.executor.runs.values() if r.fn_id.endswith("research-web-tool")]
    assert len(children) == 1
    return children[0]


async def test_the_research_tool_is_invoked_as_a_function(offline: Deployed) -> None:
    executor = offline.executor
    run = await executor.run("network-research-network", {"input": "Postgres indexes"})
    assert "pgvector adds a vector type" in run.output["output"]
    assert any(
        op == "InvokeFunction" and name == "Deep Research Agent#1/tool/research_web/invoke"
        for r in executor.requests_for(run)
        for op, name in r.ops
    )
    child = _child_run(offline)
    assert child.status == "completed"
    assert child.output["queries"] == [
        "postgres indexes",
        "postgres indexes internals",
        "postgres indexes best practices",
    ]
    executed = executor.executed(child)
    assert executed[0] == "generate-queries" and executed[-1] == "summarize"
    assert sorted(executed[1:-1]) == ["crawl-web/1", "crawl-web/2", "crawl-web/3"]
    # checkpointed (the default): the crawls run at once inside the request, each saved once
    saved = [name for c in executor.checkpoints if c.run_id == child.id for name in c.saved]
    assert sorted(saved) == sorted(executed)


async def test_the_research_function_runs_on_its_own_event(offline: Deployed) -> None:
    run = await offline.trigger("research-web-tool/run", {"input": "pgvector"})
    await run.wait()
    assert run.status == "completed", run.error
    assert run.output["sources"] == ["https://example.com/postgres/pgvector"]
    bad = await offline.trigger("research-web-tool/run", {"input": ""})
    await bad.wait()
    assert bad.status == "failed" and "data.input" in bad.error["message"]


async def test_with_a_key_the_research_inference_is_offloaded(
    with_openai: Deployed, fake_provider: FakeProvider
) -> None:
    fake_provider.reply(
        tool_call("research_web", {"input": "pgvector"}),
        text("pgvector overview\npgvector indexes"),
        text("pgvector brings vector search to Postgres."),
        text("pgvector brings vector search to Postgres (example.com)."),
    )
    run = await with_openai.executor.run("network-research-network", {"input": "pgvector?"})
    assert run.output["output"] == "pgvector brings vector search to Postgres (example.com)."
    child = _child_run(with_openai)
    gateway = [
        name
        for r in with_openai.executor.requests_for(child)
        for op, name in r.ops
        if op == "AIGateway"
    ]
    assert gateway == ["generate-queries", "summarize"]
    assert [body["model"] for body in fake_provider.bodies()] == [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o",
    ]


# -- multi-tenancy and retries ---------------------------------------------------------------


async def test_deep_research_registers_per_user_limits_and_retries(offline: Deployed) -> None:
    config = offline.executor.functions[f"{APP_ID}-deep-research-network"]
    assert config["concurrency"] == [{"key": "event.data.user_id", "limit": 10}]
    assert config["throttle"] == {
        "key": "event.data.user_id",
        "limit": 20,
        "period": "1m",
        "burst": 1,
    }
    assert config["steps"]["step"]["retries"] == {"attempts": 1}


async def test_deep_research_reads_only_the_users_workspace(offline: Deployed) -> None:
    outputs = {}
    for user in ("user-a", "user-b"):
        run = await offline.trigger(
            "deep-research-network/run", {"user_id": user, "input": "pricing decisions?"}
        )
        await run.wait()
        assert run.status == "completed", run.error
        outputs[user] = run.output
    assert "Pro to $20/month" in outputs["user-a"]["report"]
    assert "stays flat" in outputs["user-b"]["report"]
    assert "flat" not in outputs["user-a"]["report"]

    missing = await offline.trigger("deep-research-network/run", {"input": "no tenant"})
    await missing.wait()
    assert missing.status == "failed" and "data.user_id" in missing.error["message"]
    assert [r.attempt for r in offline.executor.requests_for(missing)] == [0]


async def test_deep_research_retries_a_failing_step_once(
    with_openai: Deployed, fake_provider: FakeProvider
) -> None:
    executor = with_openai.executor
    fake_provider.reply(
        Fault(status=500),
        tool_call("save_report", {"report": "Recovered."}),
        text("Saved."),
    )
    run = await executor.run(
        "deep-research-network", {"user_id": "user-a", "input": "status?"}, check=False
    )
    assert run.status == "completed", run.error
    assert run.output["report"] == "Recovered."
    attempts = collections.Counter(r.attempt for r in executor.requests_for(run))
    assert attempts[1] == 1  # the inference step failed once and was retried once

    fake_provider.reset()
    fake_provider.reply(Fault(status=500), Fault(status=503))
    failed = await executor.run(
        "deep-research-network", {"user_id": "user-a", "input": "status?"}, check=False
    )
    assert failed.status == "failed"
    assert len(fake_provider.requests) == 2  # retries=1: two attempts, then the run fails
