"""The deployable app in functions/ serves the example networks durably."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from agentkit_inngest.testing.executor import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]


async def test_functions_app_runs_the_quick_start_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    async with LocalExecutor() as executor:
        monkeypatch.setenv("INNGEST_DEV", executor.api_url)
        monkeypatch.setenv("INNGEST_APP_ID", "deploy-test")
        for module in ("examples.quick_start", "functions.app"):
            sys.modules.pop(module, None)
        app_module = importlib.import_module("functions.app")
        await executor.attach(app_module.app)
        assert "deploy-test-network-devops-team" in executor.functions
        run = await executor.run("network-devops-team", {"input": "How do I scale Postgres?"})
        data = run.output["state"]["data"]
        assert "PgBouncer" in data["dba_agent_answer"]
        assert "row-level security" in data["security_agent_answer"]
        assert executor.executed(run) == [
            "Database administrator#1/infer",
            "Database administrator#1/tool/save_answer",
            "Database Security Expert#1/infer",
            "Database Security Expert#1/tool/save_answer",
        ]
