"""Step spans sent to the Inngest server, so they show inside the run.

The server calls the app with a W3C ``traceparent`` and a ``tracestate`` holding
``inngest@app``, ``inngest@fn`` and ``inngest@traceref`` (``HeadersFromTraceState``
in ``pkg/telemetry/trace/tracer.go`` of ``inngest/inngest``): SDKs "parrot them
back" on their spans. It accepts OTLP at ``POST /v1/traces/userland``
(``pkg/api/apiv1/traces.go``), keeps only spans with an ``inngest.traceref``
attribute, ties them to the run by ``sdk.run.id`` (a ULID) and ``sys.function.id``
(the function's UUID), hangs them under the referenced span, and reads
``inngest.step.id``/``hash``/``attempt`` into the step's metadata; arrays arrive as
empty strings, so they are sent as JSON text here.

:class:`TraceHeaders` (ASGI, installed by ``create_server``) keeps each call's
headers in :data:`REQUEST_TRACE`; :class:`InngestSpanProcessor` stamps those
attributes on every span started while a step's body runs in that call, and sends
those spans (and only those: a run's logical spans would land under whichever
step's call emitted them) to the calling server's endpoint.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CURRENT_STEP",
    "LOGICAL",
    "REQUEST_TRACE",
    "InngestSpanProcessor",
    "RequestTrace",
    "TraceHeaders",
    "parse_trace_headers",
]

logger = logging.getLogger("agentkit_inngest.tracing")

LOGICAL = "agentkit.span.logical"
"""Set on the spans of a run's logical units (never sent to Inngest)."""

USERLAND_PATH = "/v1/traces/userland"


@dataclasses.dataclass(frozen=True)
class RequestTrace:
    """What the Inngest server's call of the app said about its trace."""

    traceparent: str
    traceref: str
    """The raw (URL-escaped JSON) ``inngest@traceref`` value."""
    app_id: str | None
    fn_id: str | None
    api: str | None
    """The origin of the server's API (where spans go)."""


REQUEST_TRACE: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar(
    "agentkit_request_trace", default=None
)
"""The trace headers of the Inngest call being served."""

CURRENT_STEP: contextvars.ContextVar[tuple[str, int, int, str] | None] = contextvars.ContextVar(
    "agentkit_current_step", default=None
)
"""``(step id, index, attempt, run id)`` of the step whose body runs in this task."""

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_destinations: dict[str, dict[str, str]] = {}  # API origin -> headers


def parse_trace_headers(
    traceparent: str | None, tracestate: str | None, *, api: str | None = None
) -> RequestTrace | None:
    """The :class:`RequestTrace` of a call's headers.

    ``None`` without a valid ``traceparent`` or an ``inngest@traceref``.
    """
    if not traceparent or not tracestate or not _TRACEPARENT.match(traceparent.strip().lower()):
        return None
    members: dict[str, str] = {}
    for member in tracestate.split(",")[:32]:
        key, sep, value = member.strip().partition("=")
        if sep:
            members[key] = value
    traceref = members.get("inngest@traceref")
    if not traceref or len(traceref) > 4096:
        return None
    return RequestTrace(
        traceparent=traceparent.strip().lower(),
        traceref=traceref,
        app_id=members.get("inngest@app") or None,
        fn_id=members.get("inngest@fn") or None,
        api=api,
    )


def _auth_headers(client: Any) -> dict[str, str]:
    key = getattr(client, "signing_key", None)
    if not getattr(client, "is_production", False) or not key:
        return {}  # the dev server asks for no authentication (NilAuthFinder)
    hex_part = re.sub(r"^signkey-\w+-", "", key)
    try:
        hashed = hashlib.sha256(bytes.fromhex(hex_part)).hexdigest()
    except ValueError:
        return {}
    return {"Authorization": f"Bearer {hashed}"}


class TraceHeaders:
    """ASGI middleware that keeps the trace headers of each call of ``path``.

    ASGI middleware: keeps the trace headers of each call of ``path`` for the
    spans of that call, and where the calling server takes them.
    """

    def __init__(self, app: Any, *, path: str, client: Any) -> None:
        self.app = app
        self.path = path
        self.api = str(getattr(client, "api_origin", "") or "").rstrip("/") or None
        if self.api is not None:
            _destinations[self.api] = _auth_headers(client)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the request with its trace headers in :data:`REQUEST_TRACE`."""
        if scope.get("type") != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        found = parse_trace_headers(
            headers.get(b"traceparent", b"").decode("latin-1"),
            headers.get(b"tracestate", b"").decode("latin-1"),
            api=self.api,
        )
        token = REQUEST_TRACE.set(found)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_TRACE.reset(token)


def _hash_step_id(step_id: str) -> str:
    return hashlib.sha1(step_id.encode("utf-8", "surrogatepass")).hexdigest()


class InngestSpanProcessor:
    """Ties spans to Inngest runs and exports them to the server.

    Stamps the run-tie attributes on spans started in a step's body during an
    Inngest call, and exports those spans to that server's ``/v1/traces/userland``.
    """

    def __init__(self) -> None:
        self._batches: dict[str, Any] = {}

    @classmethod
    def install(cls, provider: Any) -> None:
        """Add one processor to ``provider`` (once)."""
        if not getattr(provider, "_agentkit_inngest_processor", False):
            provider.add_span_processor(cls())
            provider._agentkit_inngest_processor = True

    def on_start(self, span: Any, parent_context: Any = None) -> None:  # noqa: ARG002
        """Add the attributes that tie ``span`` to the Inngest run and step."""
        # OpenTelemetry's SpanProcessor.on_start signature; the run and step come from
        # context variables, so ``parent_context`` is not needed.
        request, step = REQUEST_TRACE.get(), CURRENT_STEP.get()
        attributes = getattr(span, "attributes", None) or {}
        if request is None or step is None or attributes.get(LOGICAL):
            return
        step_id, index, attempt, run_id = step
        stamped: dict[str, str | int] = {
            "inngest.step.index": index,
            "inngest.traceref": request.traceref,
            "inngest.traceparent": request.traceparent,
            "sdk.run.id": run_id,
            "inngest.step.id": step_id,
            "inngest.step.hash": _hash_step_id(step_id),
            "inngest.step.attempt": attempt,
        }
        if request.fn_id:
            stamped["sys.function.id"] = request.fn_id
        if request.app_id:
            stamped["sys.app.id"] = stamped["sdk.app.id"] = request.app_id
        if request.api:
            stamped["agentkit.inngest.api"] = request.api
        span.set_attributes(stamped)

    def on_end(self, span: Any) -> None:
        """Queue ``span`` for its server when it carries a traceref."""
        attributes = span.attributes or {}
        api = attributes.get("agentkit.inngest.api")
        if not attributes.get("inngest.traceref") or not isinstance(api, str):
            return
        batch = self._batches.get(api)
        if batch is None:
            batch = self._batches[api] = _batch_for(api)
        batch.on_end(span)

    def _on_ending(self, span: Any) -> None:
        """Nothing to do before a span ends (SDK hook)."""

    def shutdown(self) -> None:
        """Flush and stop every exporter."""
        for batch in self._batches.values():
            batch.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export every queued span now."""
        return all(batch.force_flush(timeout_millis) for batch in self._batches.values())


def _batch_for(api: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = urllib.parse.urljoin(api + "/", USERLAND_PATH.lstrip("/"))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=_destinations.get(api, {}), timeout=10)
    flat: Any = _FlatArrays(exporter)
    return BatchSpanProcessor(flat, schedule_delay_millis=1000)


class _FlatArrays:
    """Sends array attributes as JSON text (the server turns arrays into "")."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def export(self, spans: Sequence[Any]) -> Any:
        """Export ``spans`` with their arrays flattened."""
        return self.inner.export([_flattened(span) for span in spans])

    def shutdown(self) -> None:
        """Stop the exporter."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the exporter."""
        return bool(self.inner.force_flush(timeout_millis))


def _flattened(span: Any) -> Any:
    attributes = dict(span.attributes or {})
    if not any(isinstance(v, (list, tuple)) for v in attributes.values()):
        return span
    from opentelemetry.sdk.trace import ReadableSpan

    for key, value in attributes.items():
        if isinstance(value, (list, tuple)):
            attributes[key] = json.dumps(list(value), ensure_ascii=False)
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
