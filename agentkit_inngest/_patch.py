"""State patches: the change a tool made to the state, as data.

A tool runs on a copy of the state; :func:`diff` of the copy's JSON before and
after is the patch recorded in the tool's step output, and :func:`apply_patch`
re-applies it (on the first run and on every replay alike).
"""

from __future__ import annotations

import copy
from typing import Any, Literal, TypeAlias

__all__ = ["Patch", "PatchOp", "apply_patch", "diff"]

PatchOp: TypeAlias = dict[str, Any]
Patch: TypeAlias = list[PatchOp]
"""A list of ``{"op": "set"|"del"|"append", "path": [...], "value": ...}`` operations on JSON."""


def diff(before: Any, after: Any, path: tuple[Any, ...] = ()) -> Patch:
    """The operations that turn JSON value ``before`` into ``after``.

    Objects are compared key by key; a list that only grew at its end becomes an
    ``append`` (so parallel tools appending to one list keep every item); any other
    change replaces the value.
    """
    if before == after and type(before) is type(after):
        return []
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(after) > len(before)
        and after[: len(before)] == before
    ):
        return [{"op": "append", "path": list(path), "value": after[len(before) :]}]
    if isinstance(before, dict) and isinstance(after, dict):
        ops: Patch = []
        for key in before:
            if key not in after:
                ops.append({"op": "del", "path": [*path, key]})
        for key, value in after.items():
            if key in before:
                ops.extend(diff(before[key], value, (*path, key)))
            else:
                ops.append({"op": "set", "path": [*path, key], "value": value})
        return ops
    return [{"op": "set", "path": list(path), "value": after}]


def apply_patch(document: Any, patch: Patch) -> Any:
    """``document`` with ``patch`` applied (the input is not modified)."""
    result = copy.deepcopy(document)
    for op in patch:
        kind: Literal["set", "del", "append"] = op["op"]
        path: list[Any] = list(op["path"])
        if kind == "append":
            target = _resolve(result, path)
            if isinstance(target, list):
                target.extend(copy.deepcopy(op["value"]))
                continue
            kind, op = "set", {**op, "value": list(op["value"])}
        if not path:
            if kind == "set":
                result = copy.deepcopy(op["value"])
                continue
            raise ValueError("cannot delete the root of a document")
        parent = result
        for key in path[:-1]:
            child = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                child = {}
                parent[key] = child
            parent = child
        if kind == "set":
            parent[path[-1]] = copy.deepcopy(op["value"])
        else:
            parent.pop(path[-1], None)
    return result


def _resolve(document: Any, path: list[Any]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document
