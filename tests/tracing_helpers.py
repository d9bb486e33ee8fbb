"""Shared by the tracing tests: an in-memory OpenTelemetry set-up and span trees."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclasses.dataclass
class Traced:
    """A tracer provider whose spans land in memory."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    @classmethod
    def new(cls) -> Traced:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider, exporter)

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]


def label(span: ReadableSpan) -> str:
    """``name [attempt n] (ERROR error.type)``: what a tree line shows."""
    attributes = span.attributes or {}
    text = span.name
    if "agentkit.step.attempt" in attributes:
        text += f" [attempt {attributes['agentkit.step.attempt']!s}]"
    if span.status.status_code.name == "ERROR":
        text += f" (ERROR {attributes.get('error.type')})"
    return text


def render(spans: Sequence[ReadableSpan]) -> str:
    """The span tree as text, children in start order under their parents."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    for group in children.values():
        group.sort(key=_order if all(_index(s) is not None for s in group) else _started)
    lines: list[str] = []

    def walk(span: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
        lines.append(label(span) if root else f"{prefix}{'└─ ' if last else '├─ '}{label(span)}")
        inner = prefix if root else prefix + ("   " if last else "│  ")
        kids = children.get(span.context.span_id, [])
        for index, child in enumerate(kids):
            walk(child, inner, index == len(kids) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
    return "\n".join(lines)


def _index(span: ReadableSpan) -> Any:
    return (span.attributes or {}).get("agentkit.step.index")


def _order(span: ReadableSpan) -> tuple[Any, ...]:
    """Steps in the order the run reached them (parallel ones run in any order)."""
    return (_index(span), (span.attributes or {}).get("agentkit.step.attempt"))


def _started(span: ReadableSpan) -> tuple[Any, ...]:
    return (span.start_time or 0, span.name)


def parents_resolve(spans: Iterable[ReadableSpan]) -> bool:
    """Every span but one root has its parent among ``spans``."""
    spans = list(spans)
    ids = {s.context.span_id for s in spans}
    orphans = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    return len(orphans) == 1


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})
