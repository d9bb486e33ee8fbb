"""How the Inngest server decodes and checks a checkpoint body.

How it decodes a checkpoint body (``checkpointAsyncSteps`` in
``pkg/api/apiv1/checkpoint_types.go``, read with Go's ``encoding/json``): unknown fields
are ignored, ``null`` leaves a field empty, ``run_id`` must be a ULID and ``fn_id`` a
UUID, integers must fit 64 bits (no fractions or exponents), and each step's ``op``
must be an opcode the server knows (``pkg/enums`` opcode names, in any case). A body
that does not decode is answered 400 ``invalid request body``.

Before saving anything, the server refuses async opcodes and oversized step outputs
(:func:`refused_ops`) and a stale dispatch (:func:`stale_dispatch`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._records import QueueItem
from .server_rules import (
    decode_queue_ref,
    dispatch_request_id_entropy,
    go_json,
    is_uuid,
    parse_ulid,
    read_json,
)

__all__ = [
    "ASYNC_OPCODES",
    "STALE_SKIP_SECONDS",
    "SYNC_OPCODES",
    "BadBody",
    "decode_body",
    "refused_ops",
    "stale_dispatch",
]

STALE_SKIP_SECONDS = 10.0
"""``dispatchValidationSkipDuration``: younger requests are not validated."""

SYNC_OPCODES = frozenset(
    ("Step", "StepRun", "StepPlanned", "RunComplete", "SyncRunComplete", "StepFailed", "DeferAdd")
).union(("DeferAbort",))
"""``enums.OpcodeIsSync``; every other opcode is refused before anything is saved."""
ASYNC_OPCODES = frozenset(
    ("None", "StepError", "Sleep", "WaitForEvent", "InvokeFunction", "AIGateway", "Gateway")
).union(("WaitForSignal", "DiscoveryRequest"))
_BY_LOWER = {name.lower(): name for name in (*SYNC_OPCODES, *ASYNC_OPCODES)}


class BadBody(ValueError):
    """The body does not decode into the server's struct."""


def decode_body(raw: bytes) -> dict[str, Any]:
    """The body as the server's ``checkpointAsyncSteps`` struct reads it.

    Go's decoder: unknown fields ignored, ``null`` leaves a field empty.
    """
    try:
        value = read_json(raw.decode("utf-8", "replace")) if raw.strip() else None
    except ValueError as err:
        raise BadBody(str(err)) from err
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadBody(f"cannot unmarshal {type(value).__name__} into the checkpoint body")
    body: dict[str, Any] = {}
    for key in ("run_id", "fn_id", "qi_id", "request_id"):
        body[key] = _string(value, key)
    if value.get("run_id") is not None and parse_ulid(body["run_id"]) is None:
        raise BadBody(f"run_id {body['run_id']!r} is not a ULID")
    if value.get("fn_id") is not None and not is_uuid(body["fn_id"]):
        raise BadBody(f"fn_id {body['fn_id']!r} is not a UUID")
    for key in ("ts", "request_started_at", "generation_id"):
        body[key] = _integer(value, key)
    steps = value.get("steps")
    if steps is not None and not isinstance(steps, list):
        raise BadBody("steps is not a list")
    body["steps"] = [_op(op) for op in steps or []]
    return body


def _string(value: Mapping[str, Any], key: str) -> str:
    item = value.get(key)
    if item is None:
        return ""
    if not isinstance(item, str):
        raise BadBody(f"{key} is not a string")
    return item


def _integer(value: Mapping[str, Any], key: str) -> int | None:
    item = value.get(key)
    if item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int) or not -(2**63) <= item < 2**63:
        raise BadBody(f"{key} is not a 64-bit integer: {json.dumps(item)[:40]}")
    return item


def _op(value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadBody("a step is not an object")
    op = dict(value)
    kind = op.get("op")
    if kind is None:
        op["op"] = "None"
    elif not isinstance(kind, str) or kind.lower() not in _BY_LOWER:
        raise BadBody(f"unknown opcode {kind!r}")
    else:
        op["op"] = _BY_LOWER[kind.lower()]
    for key in ("id", "name", "displayName"):
        if op.get(key) is not None and not isinstance(op[key], str):
            raise BadBody(f"step {key} is not a string")
    for key in ("error", "timing", "userland"):
        if op.get(key) is not None and not isinstance(op[key], dict):
            raise BadBody(f"step {key} is not an object")
    return op


def refused_ops(ops: list[dict[str, Any]], step_limit: int | None) -> str | None:
    """Why the server refuses a body's steps before saving any of them, or ``None``.

    An async opcode is refused (``async steps``), and so is a step whose output is over
    ``step_limit`` bytes of JSON (``too large``).
    """
    if any(op["op"] not in SYNC_OPCODES for op in ops):
        return "async steps"
    if step_limit is not None and any(len(go_json(op.get("data"))) > step_limit for op in ops):
        return "too large"
    return None


def stale_dispatch(
    body: Mapping[str, Any], now: float, jobs: Mapping[str, QueueItem]
) -> str | None:
    """Why the dispatch is stale (``validateAsyncDispatch``), or ``None``.

    A request younger than :data:`STALE_SKIP_SECONDS` is not checked; otherwise its request id
    must be the one the server gave the current generation of its queue item in ``jobs``.
    """
    request_id: str = body["request_id"]
    if not request_id:
        return None
    started = body["request_started_at"]
    if started and 0 <= now - started / 1000 < STALE_SKIP_SECONDS:
        return None
    parsed = parse_ulid(request_id)
    if parsed is None:
        return f"stale dispatch: invalid request id {request_id!r}"
    ref = decode_queue_ref(body["qi_id"])
    if ref is None:
        return "stale dispatch: missing queue item reference"
    job = jobs.get(ref[0])
    if job is None:
        return "stale dispatch: queue item not found"
    expected = dispatch_request_id_entropy(body["run_id"], job.id, job.generation)
    generation = body["generation_id"]
    if parsed[6:] != expected or (generation is not None and generation != job.generation):
        return f"stale dispatch: request id {request_id} is not generation {job.generation}"
    return None
