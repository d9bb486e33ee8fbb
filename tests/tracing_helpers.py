"""Shared by the tracing tests: an in-memory OpenTelemetry set-up and span trees."""

from __future__ import annotations

import dataclasses
import html
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
    lines: list[str] = []
    for prefix, span in _walk(spans):
        lines.append(prefix + label(span))
    return "\n".join(lines)


def _walk(spans: Sequence[ReadableSpan]) -> list[tuple[str, ReadableSpan]]:
    """Each span with its tree prefix (``├─ ``...), parents before their children."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    for group in children.values():
        group.sort(key=_order if all(_index(s) is not None for s in group) else _started)
    rows: list[tuple[str, ReadableSpan]] = []

    def walk(span: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
        rows.append(("" if root else f"{prefix}{'└─ ' if last else '├─ '}", span))
        inner = prefix if root else prefix + ("   " if last else "│  ")
        kids = children.get(span.context.span_id, [])
        for index, child in enumerate(kids):
            walk(child, inner, index == len(kids) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
    return rows


def waterfall_svg(spans: Sequence[ReadableSpan]) -> str:
    """The trace as a picture: the span tree on the left, each span's time as a bar."""
    rows = _walk(spans)
    start = min(s.start_time or 0 for s in spans)
    end = max(s.end_time or 0 for s in spans)
    total = max(end - start, 1)
    row_h, label_w, bar_w, top = 22, 560, 420, 34
    height = top + row_h * len(rows) + 10
    width = label_w + bar_w + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="monospace" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="20" font-weight="bold">trace of one durable run: {len(rows)} spans, '
        f"{total / 1e6:.1f} ms</text>",
    ]
    for row, (prefix, span) in enumerate(rows):
        y = top + row * row_h
        began = ((span.start_time or start) - start) / total
        lasted = ((span.end_time or end) - (span.start_time or start)) / total
        failed = span.status.status_code.name == "ERROR"
        colour = "#d9534f" if failed else "#5b8def"
        ms = ((span.end_time or end) - (span.start_time or start)) / 1e6
        text = html.escape(prefix + label(span))
        parts += [
            f'<rect x="0" y="{y}" width="{width}" height="{row_h}" '
            f'fill="{"#f6f8fa" if row % 2 else "#ffffff"}"/>',
            f'<text x="8" y="{y + 15}" xml:space="preserve">{text}</text>',
            f'<rect class="span" x="{label_w + began * bar_w:.1f}" y="{y + 5}" '
            f'width="{max(lasted * bar_w, 1.5):.1f}" height="{row_h - 10}" fill="{colour}"/>',
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{ms:.1f} ms</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


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
