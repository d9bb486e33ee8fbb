"""The package's shape: layers point one way, no import cycle, small modules.

The import graph is read from the source with ``ast``: every import counts, at
module level, inside functions and under ``TYPE_CHECKING`` alike. An import of
``a.b.c`` is an edge to ``a.b.c`` and to the packages ``a.b`` and ``a`` whose
``__init__`` runs first, except the importer's own packages (already running when
it is imported). docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

PACKAGE = "agentkit_inngest"
SOURCE = pathlib.Path(__file__).resolve().parent.parent / PACKAGE

LAYERS: dict[str, int] = {
    # 0 base: errors, JSON checks, limits, durations, optional dependencies
    "agentkit_inngest._version": 0,
    "agentkit_inngest.errors": 0,
    "agentkit_inngest._json": 0,
    "agentkit_inngest._limits": 0,
    "agentkit_inngest._durations": 0,
    "agentkit_inngest._extras": 0,
    # 1 messages
    "agentkit_inngest.messages": 1,
    # 2 data and storage: state, tools (provider-neutral), thread stores, stream events
    "agentkit_inngest._state": 2,
    "agentkit_inngest._patch": 2,
    "agentkit_inngest.tools": 2,
    "agentkit_inngest.history": 2,
    "agentkit_inngest.streaming": 2,
    # 3 models (each provider owns its dialect)
    "agentkit_inngest.models": 3,
    # 4 the step seam: runners, retry policy, the stream of a run
    "agentkit_inngest._steps": 4,
    "agentkit_inngest.durable": 4,
    #   and its Inngest-facing parts: the request context, the checkpoint client
    "agentkit_inngest._request_context": 4,
    "agentkit_inngest._checkpoint": 4,
    #   and tracing: configuration, span ids, the export of step spans to Inngest
    "agentkit_inngest._tracing": 4,
    # 5 the leaf run context, and what runs against it without running agents:
    #   tool sources (MCP) and tools that use steps (human in the loop)
    "agentkit_inngest._context": 5,
    "agentkit_inngest._ledger": 5,  # what a run spends and its budget (issue 18)
    "agentkit_inngest.mcp": 5,
    "agentkit_inngest.mcp_websocket": 5,
    "agentkit_inngest._hitl": 5,
    "agentkit_inngest.hitl": 5,
    # 6 the run layer: agent loop, tool execution, network loop, routing, thread hooks
    "agentkit_inngest._run": 6,
    # 7 definitions: agents, routing agents, networks (frozen data; .run() calls layer 6)
    "agentkit_inngest._agent": 7,
    "agentkit_inngest._routing": 7,
    "agentkit_inngest._network": 7,
    # 8 Inngest functions: flow control, payloads, compile
    "agentkit_inngest._functions": 8,
    "agentkit_inngest.functions": 8,
    # 9 the app and its tools: server, CLI, testing kit
    "agentkit_inngest._security": 9,
    "agentkit_inngest._server": 9,
    "agentkit_inngest.server": 9,
    "agentkit_inngest.cli": 9,
    "agentkit_inngest.testing": 9,
    # 10 the facade: the root package's __init__
    "agentkit_inngest": 10,
}
"""Module prefix -> layer; the longest prefix decides. A module may import only from
its own layer or lower ones."""

MAX_LINES = 400
TOO_LONG_FOR_NOW = {
    "agentkit_inngest/testing/executor.py": "the local Inngest server in one class; its parts "
    "(records, checkpoints, server rules) are moving out one by one",
}
"""Modules allowed over :data:`MAX_LINES` for now, and why; the test fails once one of
them is short enough, so the exception is removed with the reason."""


def _modules() -> dict[str, pathlib.Path]:
    found: dict[str, pathlib.Path] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _explicit_targets(importer: str, tree: ast.AST) -> Iterator[str]:
    """The modules an importer names, each import anywhere in it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(importer, node)
            named = [f"{module}.{alias.name}" for alias in node.names]
            submodules = [name for name in named if name in MODULES]
            yield from submodules
            if len(submodules) < len(named):  # names from the module itself
                yield module


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for importer, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        own = set(_ancestors(importer))
        for target in _explicit_targets(importer, tree):
            if target.split(".")[0] != PACKAGE:
                continue
            implicit = [p for p in _ancestors(target) if p not in own]
            for module in [target, *implicit]:
                if module in MODULES and module != importer:
                    graph[importer].add(module)
    return graph


def _layer(module: str) -> int | None:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)] if prefixes else None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (its modules in order, the first repeated), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_is_read_from_every_import() -> None:
    graph = _graph()
    # a function-local import counts (the lazy PostgresStore), and so does TYPE_CHECKING
    assert "agentkit_inngest.history._postgres" in graph["agentkit_inngest.history"]
    assert "agentkit_inngest.mcp._websocket" in graph["agentkit_inngest.mcp"]
    # a module's own packages are not edges; packages it reaches into are
    assert "agentkit_inngest.history" not in graph["agentkit_inngest.history._sqlite"]
    assert "agentkit_inngest.history" in graph["agentkit_inngest._context"]
    assert "agentkit_inngest" not in graph["agentkit_inngest._agent"]


def test_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_is_found_and_printed() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_has_a_layer() -> None:
    missing = sorted(name for name in MODULES if _layer(name) is None)
    assert not missing, f"add these modules to LAYERS (tests/test_architecture.py): {missing}"


def test_layers_point_one_way() -> None:
    wrong = [
        f"{importer} (layer {_layer(importer)}) imports {target} (layer {_layer(target)})"
        for importer, targets in sorted(_graph().items())
        for target in sorted(targets)
        if (_layer(target) or 0) > (_layer(importer) or 0)
    ]
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


def test_modules_stay_small() -> None:
    sizes = {
        path.relative_to(SOURCE.parent).as_posix(): len(path.read_text().splitlines())
        for path in MODULES.values()
    }
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    print("largest modules:", ", ".join(f"{name} ({lines})" for name, lines in largest))
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    unexplained = sorted(set(over) - set(TOO_LONG_FOR_NOW))
    assert not unexplained, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({over[name]})" for name in unexplained
    )
    stale = sorted(set(TOO_LONG_FOR_NOW) - set(over))
    assert not stale, f"now under {MAX_LINES} lines, remove from TOO_LONG_FOR_NOW: {stale}"


@pytest.mark.parametrize(
    ("importer", "layer"),
    [("agentkit_inngest._run._agent_loop", 6), ("agentkit_inngest.history._sqlite", 2)],
)
def test_the_longest_prefix_decides_the_layer(importer: str, layer: int) -> None:
    assert _layer(importer) == layer
