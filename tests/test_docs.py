"""The README's two commands stay true: CI runs the README's test command."""

from __future__ import annotations

import ast
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


_CITATION = re.compile(
    r"(?:tests/)?(?P<file>test_\w+\.py)(?:::(?P<in_file>\w+))?"  # tests/test_x.py::name
    r"|::(?P<further>\w+)"  # ::name, in the file named last before it
    r"|`(?P<anywhere>test_\w+)`"  # `test_name`, in some file of tests/
)


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_every_test_the_docs_cite_exists() -> None:
    """A guarantee names the test that fails when it breaks: that test must exist.

    ``tests/test_x.py::name`` names a test in a file; a bare ``::name`` is in the file
    named last before it (as RELIABILITY.md's tables write a row's further tests); a
    lone `` `test_name` `` is in some file of ``tests/``.
    """
    defined = {path.name: _defined(path) for path in (ROOT / "tests").glob("test_*.py")}
    everywhere = {name for names in defined.values() for name in names}
    documents = [ROOT / "README.md", ROOT / "RELIABILITY.md", ROOT / "BENCHMARKS.md"]
    documents += sorted((ROOT / "docs").glob("*.md"))
    missing: list[str] = []
    cited = 0
    for document in documents:
        current: str | None = None
        for match in _CITATION.finditer(document.read_text()):
            if match["anywhere"] is not None:
                cited += 1
                if match["anywhere"] not in everywhere:
                    missing.append(f"{document.name}: {match['anywhere']}")
                continue
            if match["file"] is not None:
                current = match["file"]
                if current not in defined:
                    missing.append(f"{document.name}: tests/{current}")
            name = match["in_file"] or match["further"]
            if name is None:
                continue
            cited += 1
            if name not in defined.get(current or "", set()):
                missing.append(f"{document.name}: {current}::{name}")
    assert cited > 150, f"only {cited} citations found: is the pattern still right?"
    assert not missing, "cited but not defined:\n" + "\n".join(missing)
