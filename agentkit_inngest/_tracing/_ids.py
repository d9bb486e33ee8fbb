"""Trace and span ids derived from a run, so a run spread over many requests is one tree.

Under Inngest a run is served by many HTTP requests, perhaps by several processes,
and its parallel steps by requests of their own. Every one of them derives the same
trace id from the run id (:func:`trace_id_for`), and the same span id for each
logical unit of the run (:func:`span_id_for` of a key such as ``run`` or
``agent:Triage#1``). A step's span is started under its unit's span id as a remote
parent (:func:`parent_context`), which works with any tracer; the unit's own span is
emitted once, later, with that fixed id: the SDK tracer of this package gets a
:class:`SteerableIds` generator that hands out a chosen id when asked to
(:func:`forced_ids`), and random ones otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator
from typing import Any

__all__ = ["SteerableIds", "forced_ids", "parent_context", "span_id_for", "trace_id_for"]

_FORCED: contextvars.ContextVar[tuple[int | None, int | None] | None] = contextvars.ContextVar(
    "agentkit_forced_span_ids", default=None
)


def _digest(data: str, size: int) -> int:
    raw = hashlib.sha256(data.encode("utf-8", "surrogatepass")).digest()[:size]
    return int.from_bytes(raw, "big") or 1  # an id of 0 is invalid


def trace_id_for(run_id: str) -> int:
    """The 128-bit trace id of run ``run_id`` (the same in every request)."""
    return _digest(f"agentkit-inngest/trace\0{run_id}", 16)


def span_id_for(trace_id: int, key: str) -> int:
    """The 64-bit span id of the logical unit ``key`` in trace ``trace_id``."""
    return _digest(f"{trace_id:032x}\0{key}", 8)


@contextlib.contextmanager
def forced_ids(trace_id: int | None, span_id: int | None) -> Iterator[None]:
    """Choose the ids of the next span started in this context.

    The next span started in this context gets ``span_id`` (and, when it is a
    root, ``trace_id``) from a :class:`SteerableIds` generator; ``None`` leaves an
    id random.
    """
    token = _FORCED.set((trace_id, span_id))
    try:
        yield
    finally:
        _FORCED.reset(token)


class SteerableIds:
    """An id generator that hands out the ids :func:`forced_ids` chose.

    For any other id it asks the generator it wraps (random ids).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def generate_span_id(self) -> int:
        """The forced span id, else a random one."""
        forced = _FORCED.get()
        if forced is not None and forced[1] is not None:
            return forced[1]
        span_id: int = self.inner.generate_span_id()
        return span_id

    def generate_trace_id(self) -> int:
        """The forced trace id, else a random one."""
        forced = _FORCED.get()
        if forced is not None and forced[0] is not None:
            return forced[0]
        trace_id: int = self.inner.generate_trace_id()
        return trace_id

    def is_trace_id_random(self) -> bool:
        """Whether trace ids are random (not while one is forced)."""
        forced = _FORCED.get()
        if forced is not None and forced[0] is not None:
            return False
        return bool(getattr(self.inner, "is_trace_id_random", lambda: True)())


def parent_context(trace_id: int, span_id: int) -> Any:
    """A context whose current span is the remote span ``span_id``.

    An OpenTelemetry context whose current span is the (remote) span ``span_id``
    of trace ``trace_id``: spans started with it are its children.
    """
    from opentelemetry import trace

    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id,
            span_id,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    )
    return trace.set_span_in_context(parent)
