"""The README's two commands stay true: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README must start with a bash block of commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_the_two_commands() -> None:
    first, second = _readme_commands()
    assert "pip install -e ." in first and "examples/quick_start.py" in first
    assert "pip install -e '.[dev]'" in second and "pytest" in second


def test_ci_runs_the_readme_test_command() -> None:
    _, second = _readme_commands()
    test_command = second.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1].strip() == test_command
    assert "python -m venv .venv" in ci.replace('"$PYTHON"', "python")


def test_the_tour_snippet_runs_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first tour snippet falls back to the embedded model, as the quick
    start does (issue 15: it needed a key)."""
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    text = (ROOT / "README.md").read_text()
    tour = text.split("**1. Agents, tools and typed state, in plain Python.**", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", tour, re.S)
    assert snippet is not None
    namespace: dict[str, object] = {"__name__": "tour"}
    exec(compile(snippet.group(1), "README.md (tour)", "exec"), namespace)
    run: Any = namespace["run"]
    assert run.state.data.dba == "Add PgBouncer."
    assert "Add PgBouncer." in capsys.readouterr().out
