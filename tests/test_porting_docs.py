"""docs/porting.md maps every AgentKit docs sample to its Python equivalent and to the
test that runs it: each entry names a test that exists, and each porting test is named
by an entry, so the map and the tests cannot drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTING = (ROOT / "docs" / "porting.md").read_text()
ENTRY = re.compile(r"^- `([a-z0-9-]+/[a-z0-9-]+)` — TS: .* → Python: .*\. Test: (.*)$", re.M)
REFERENCE = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`")
SAMPLES = 169  # the AgentKit docs' samples (46 published pages and the UI-streaming page)


def _tests(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    }


def test_every_sample_has_an_entry_with_a_test_or_a_tested_equivalent() -> None:
    entries = ENTRY.findall(PORTING)
    ids = [sample for sample, _ in entries]
    assert len(ids) == SAMPLES and len(set(ids)) == SAMPLES
    assert len(re.findall(r"^- `", PORTING, re.M)) == SAMPLES  # no entry misses its shape
    for sample, test in entries:
        references = REFERENCE.findall(test)
        assert references, f"{sample}: no test named"
        if test.startswith("none ("):
            assert "React UI code" in test and "equivalent tested by" in test, sample
        for path, name in references:
            assert name in _tests(path), f"{sample}: {path}::{name} does not exist"


def test_every_porting_test_is_named_by_the_map() -> None:
    named = {(path, name) for path, name in REFERENCE.findall(PORTING)}
    for path in sorted(ROOT.glob("tests/test_porting_*.py")):
        relative = f"tests/{path.name}"
        if path.name == Path(__file__).name:
            continue
        for name in sorted(_tests(relative)):
            assert (relative, name) in named, f"{relative}::{name} is in no porting.md entry"
