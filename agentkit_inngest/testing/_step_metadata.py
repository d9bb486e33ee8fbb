"""What the Inngest server keeps of a checkpointed op's options and metadata.

What the Inngest server keeps of a checkpointed op's ``opts`` and ``metadata``, for
:class:`~agentkit_inngest.testing.executor.LocalExecutor` (its checkpoint endpoint records them
on the run, so tests can check what the dev server would show).

The rules, from ``inngest/inngest``:

- ``opts.type`` is the step's run type (``"step.ai.wrap"`` makes it an AI step);
  ``RunOpts.UnmarshalAny`` refuses an ``opts.input`` that is not a JSON array, and the
  type is then lost with it (``pkg/execution/state/opcode.go``);
- each ``metadata`` entry (``{"scope", "kind", "op", "values"}``) is written only when
  step metadata is enabled for the account (``AllowStepMetadata``; the dev server's
  ``EXPERIMENTAL_STEP_METADATA``), and only if its kind is ``userland.*`` or one of the
  server's own allowed kinds (an ``inngest.*`` kind outside that list, such as
  ``inngest.ai.summary``, is refused; at most 128 characters:
  ``pkg/tracing/metadata/kind.go``, ``metadata.go``), its op is ``merge``, ``set``,
  ``delete`` or ``add`` (``enums.MetadataOpcode``), its scope one the server knows, and
  its values (keys and JSON values together) fit in 64 KiB
  (``consts.MaxMetadataSpanSize``, ``pkg/tracing/metadata.go``). A refused entry is
  dropped; the step is saved all the same.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["ALLOWED_INNGEST_KINDS", "MAX_METADATA_BYTES", "StepView", "step_view"]

ALLOWED_INNGEST_KINDS = frozenset({"inngest.ai", "inngest.http", "inngest.warnings"}) | {
    "inngest.experiment"
}
MAX_KIND_LENGTH = 128
MAX_METADATA_BYTES = 64 * 1024
_OPS = frozenset({"merge", "set", "delete", "add"})
_SCOPES = frozenset({"run", "step", "step_attempt", "extended_trace"})


@dataclasses.dataclass
class StepView:
    """What the server kept of one saved op's ``opts`` and ``metadata``."""

    type: str = ""
    """``opts.type`` (``""`` when absent or lost)."""
    input: list[Any] | None = None
    """``opts.input`` when it is an array."""
    metadata: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """The entries written."""
    refused: list[str] = dataclasses.field(default_factory=list)
    """Why each dropped entry (or the input) was dropped."""


def step_view(op: Mapping[str, Any], *, metadata_enabled: bool) -> StepView:
    """What the server keeps of ``op``'s ``opts`` and ``metadata``."""
    view = StepView()
    opts = op.get("opts")
    if isinstance(opts, dict):
        found = opts.get("input")
        if found is not None and not isinstance(found, list):
            view.refused.append("opts.input is not an array: the type is lost too")
        else:
            kind = opts.get("type")
            view.type = kind if isinstance(kind, str) else ""
            view.input = found
    entries = op.get("metadata")
    if not isinstance(entries, list):
        return view
    for entry in entries:
        why = _refusal(entry, enabled=metadata_enabled)
        if why is None:
            view.metadata.append(dict(entry))
        else:
            view.refused.append(why)
    return view


def _refusal(entry: Any, *, enabled: bool) -> str | None:
    """Why the server drops a metadata entry, or ``None`` when it writes it."""
    if not enabled:
        return "step metadata is not enabled (AllowStepMetadata)"
    if not isinstance(entry, dict):
        return "a metadata entry is not an object"
    kind = entry.get("kind")
    if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND_LENGTH:
        return f"invalid kind {kind!r}"
    if not kind.startswith("userland.") and kind not in ALLOWED_INNGEST_KINDS:
        return f"kind {kind!r} is not allowed"
    if entry.get("op") not in _OPS:
        return f"invalid op {entry.get('op')!r}"
    if entry.get("scope") not in _SCOPES:
        return f"invalid scope {entry.get('scope')!r}"
    values = entry.get("values")
    if not isinstance(values, dict):
        return "values is not an object"
    size = sum(len(str(k)) + len(json.dumps(v, separators=(",", ":"))) for k, v in values.items())
    if size > MAX_METADATA_BYTES:
        return f"metadata of {size} bytes exceeds the maximum size of 64KB"
    return None
