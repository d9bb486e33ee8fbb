"""The curated public API stays complete: everything public is exported, and only that.

The public surface is the root package and the documented subpackages; everything
else lives in private modules (``_name``), as httpx does. Old import paths kept for
one version re-export public objects only, and the README, docs and examples import
from the public surface alone.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import types
from typing import Any

import pytest

import agentkit_inngest
import agentkit_inngest.testing

ROOT = pathlib.Path(__file__).resolve().parent.parent

PUBLIC = [
    "agentkit_inngest",
    "agentkit_inngest.history",
    "agentkit_inngest.mcp",
    "agentkit_inngest.models",
    "agentkit_inngest.streaming",
    "agentkit_inngest.testing",
    "agentkit_inngest.tools",
]
"""The root package and the documented subpackages, each with a curated ``__all__``."""

KEPT_PATHS = [
    "agentkit_inngest.durable",
    "agentkit_inngest.functions",
    "agentkit_inngest.hitl",
    "agentkit_inngest.mcp_websocket",
    "agentkit_inngest.server",
    "agentkit_inngest.history.memory",
    "agentkit_inngest.history.postgres",
    "agentkit_inngest.history.sqlite",
]
"""Old import paths the README documented, kept as re-exports for one version."""

PUBLIC_MODULES = [
    "agentkit_inngest.errors",
    "agentkit_inngest.messages",
    "agentkit_inngest.cli",
]
"""Public modules (not packages) that user code may import from."""


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }


def _documented(value: object) -> bool:
    if inspect.isclass(value) or inspect.isfunction(value):
        return bool(inspect.getdoc(value))
    return True  # constants and type aliases are documented where they are defined


@pytest.mark.parametrize("name", PUBLIC)
def test_all_lists_every_public_member_and_nothing_private(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(module.__all__) == len(exported), f"{name}.__all__ has duplicates"
    assert not [n for n in exported if n.startswith("_") and n != "__version__"]
    missing = _public_names(module) - exported
    assert not missing, f"{name} has public names missing from __all__: {sorted(missing)}"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_is_importable_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    for member in module.__all__:
        if name == "agentkit_inngest.history" and member == "PostgresStore":
            pytest.importorskip("asyncpg")
        value = getattr(module, member)  # lazily imported names resolve too
        assert not isinstance(value, types.ModuleType), f"{name}.{member} is a module"
        assert _documented(value), f"{name}.{member} has no docstring"


def test_testing_kit_exports() -> None:
    assert set(agentkit_inngest.testing.__all__) == _public_names(agentkit_inngest.testing)


def test_models_exports_and_names_the_factories_not_modules() -> None:
    import importlib

    import agentkit_inngest.models as models
    import agentkit_inngest.tools as tools

    assert set(models.__all__) == _public_names(models)
    assert len(models.__all__) == len(set(models.__all__))
    for name in models.__all__:
        value = getattr(models, name)
        if isinstance(value, (types.FunctionType, type)):
            assert value.__doc__, f"models.{name} has no docstring"
    for provider in ("openai", "anthropic", "gemini", "grok"):
        factory = getattr(models, provider)
        assert isinstance(factory, types.FunctionType), provider
        assert factory is getattr(agentkit_inngest, provider)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"agentkit_inngest.models.{provider}")
    assert models.ToolDefinition is tools.ToolDefinition
    assert "ToolDefinition" in tools.__all__ and "Provider" not in tools.__all__


@pytest.mark.parametrize("name", KEPT_PATHS + PUBLIC_MODULES)
def test_kept_paths_export_documented_public_objects(name: str) -> None:
    if name.endswith("postgres"):
        pytest.importorskip("asyncpg")
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} does not say why it is kept"
    for member in module.__all__:
        value = getattr(module, member)
        assert _documented(value), f"{name}.{member} has no docstring"


KEPT_HELPERS = {
    "agentkit_inngest.durable": {"count_fetched_memos"},
    "agentkit_inngest.functions": {"bounded_output", "served_functions", "slugify"},
    "agentkit_inngest.mcp_websocket": {"SUBPROTOCOL"},
    "agentkit_inngest.server": {"DEFAULT_MAX_BODY_BYTES"},
}
"""Names the old modules exported that the public surface does not (kept with them)."""


def test_kept_paths_name_the_same_objects_as_the_public_surface() -> None:
    surface: set[int] = set()
    for name in PUBLIC:
        module = importlib.import_module(name)
        surface |= {id(getattr(module, m)) for m in module.__all__ if m != "PostgresStore"}
    for name in KEPT_PATHS:
        if name.endswith("postgres"):
            continue
        module = importlib.import_module(name)
        for member in set(module.__all__) - KEPT_HELPERS.get(name, set()):
            assert id(getattr(module, member)) in surface, f"{name}.{member} is not public"


def _imports(path: pathlib.Path, source: str) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return [m for m in modules if m == "agentkit_inngest" or m.startswith("agentkit_inngest.")]


def _python_blocks(markdown: str) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            if inside:
                blocks.append("\n".join(current))
            current, inside = [], line.strip() in ("```python", "```py")
            continue
        if inside:
            current.append(line)
    return blocks


def _user_facing_sources() -> list[tuple[pathlib.Path, str]]:
    sources: list[tuple[pathlib.Path, str]] = []
    for path in [*sorted((ROOT / "examples").rglob("*.py")), ROOT / "functions" / "app.py"]:
        sources.append((path, path.read_text()))
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        sources.extend((path, block) for block in _python_blocks(path.read_text()))
    return sources


def test_readme_docs_and_examples_import_only_the_public_surface() -> None:
    allowed = {*PUBLIC, *PUBLIC_MODULES}
    allowed |= {f"agentkit_inngest.testing.{m}" for m in ("executor", "servers", "fake_providers")}
    wrong: list[str] = []
    for path, source in _user_facing_sources():
        try:
            modules = _imports(path, source)
        except SyntaxError:
            continue  # a fragment, not a program
        wrong += [f"{path.relative_to(ROOT)}: {m}" for m in modules if m not in allowed]
    assert not wrong, "imports outside the public surface:\n" + "\n".join(wrong)


def test_the_root_is_documented_and_versioned() -> None:
    assert agentkit_inngest.__doc__
    assert isinstance(agentkit_inngest.__version__, str)
    value: Any = agentkit_inngest.create_agent
    assert value is agentkit_inngest.Agent  # one definition, two spellings
