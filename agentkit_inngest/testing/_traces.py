"""The executor's side of tracing: trace headers on each call, and the userland span API.

As the Inngest server does (``inngest/inngest``):

- every call of the app carries a W3C ``traceparent`` (the run's trace, a span id of
  the call) and a ``tracestate`` with ``inngest@traceref`` (URL-escaped JSON
  ``{"tp": traceparent, "ts": ""}``), ``inngest@fn`` (the function's UUID) and
  ``inngest@app`` (``HeadersFromTraceState``, ``pkg/telemetry/trace/tracer.go``);
- ``POST /v1/traces/userland`` takes OTLP (protobuf, or JSON when the content type
  says so) and keeps each span that has a valid ``inngest.traceref``, an
  ``sdk.run.id`` that parses as a ULID and a ``sys.function.id`` naming a known
  function; the others are counted in ``partial_success.rejected_spans``. Only
  string, integer, float and boolean values survive (arrays become ``""``); a span
  hangs under the call's span, since the server honours a parent span id only when
  it is 12 bytes long and OTLP's are 8 (``pkg/api/apiv1/traces.go``). The dev server
  asks for no authentication; with a signing key the caller must send the hash of
  it as a bearer token (``401`` otherwise). Bodies over :attr:`TraceAPI.max_body`
  get ``413`` (the server's own limit, ``consts.MaxUserlandTraceBodySize``, was not
  found; 4 MiB here).

Parsing OTLP needs the ``otel`` extra (``opentelemetry-proto``); without it the
endpoint answers ``501``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .server_rules import is_uuid, parse_ulid

if TYPE_CHECKING:
    from ._records import Run

__all__ = ["TraceAPI", "UserlandSpan"]

MAX_TRACE_BODY = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class UserlandSpan:
    """A span the app sent to ``/v1/traces/userland`` and the server kept."""

    name: str
    span_id: str
    parent_span_id: str
    """The span it hangs under: the call's span named by its traceref."""
    run_id: str
    function_id: str
    attributes: dict[str, Any]
    status: str
    """``completed``, ``failed`` or ``unknown`` (OTLP OK, ERROR, unset)."""


class TraceAPI:
    """Trace headers for the executor's calls, and its ``/v1/traces/userland``."""

    def __init__(self, executor: Any, *, max_body: int = MAX_TRACE_BODY) -> None:
        self._executor = executor
        self.max_body = max_body
        self.spans: list[UserlandSpan] = []
        """Every span kept, in arrival order."""
        self.exports: list[tuple[int, int, int]] = []
        """``(status, spans received, spans rejected)`` of each export call."""
        self.traceparents: list[tuple[str, str]] = []
        """``(run id, traceparent)`` of each call of the app."""
        self._traces: dict[str, str] = {}

    def routes(self) -> list[Route]:
        """The endpoint, for the executor's API app."""
        return [Route("/v1/traces/userland", self._userland, methods=["POST"])]

    def headers(self, run: Run) -> dict[str, str]:
        """``traceparent`` and ``tracestate`` of a new call in ``run``."""
        trace_id = self._traces.setdefault(run.id, os.urandom(16).hex())
        traceparent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
        self.traceparents.append((run.id, traceparent))
        fn_uuid = self._executor.checkpoint_api.function_uuid(run.fn_id)
        app_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"agentkit-local-executor/app/{run.fn_id}"))
        traceref = urllib.parse.quote(json.dumps({"tp": traceparent, "ts": ""}), safe="")
        state = f"inngest@traceref={traceref},inngest@fn={fn_uuid},inngest@app={app_uuid}"
        return {"traceparent": traceparent, "tracestate": state}

    # -- the endpoint ---------------------------------------------------------------------

    async def _userland(self, request: Request) -> Response:
        as_json = "json" in request.headers.get("content-type", "")
        key = self._executor.signing_key
        if key and not _authorized(request.headers.get("authorization", ""), key):
            return _status(401, "No auth found", as_json)
        body = await request.body()
        if len(body) > self.max_body:
            return _status(413, "Request body too large", as_json)
        try:
            from google.protobuf import json_format
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        except ImportError:
            return Response("OTLP parsing needs the otel extra", status_code=501)
        export = trace_service_pb2.ExportTraceServiceRequest()
        try:
            if as_json:
                json_format.Parse(body, export)
            else:
                export.ParseFromString(body)
        except Exception:  # noqa: BLE001 - the server answers 400 to anything it cannot read
            return _status(400, "Invalid payload", as_json)
        received, rejected = self._commit_all(export)
        self.exports.append((200, received, rejected))
        answer = trace_service_pb2.ExportTraceServiceResponse()
        if rejected:
            answer.partial_success.rejected_spans = rejected
        if as_json:
            return Response(json_format.MessageToJson(answer), media_type="application/json")
        return Response(answer.SerializeToString(), media_type="application/x-protobuf")

    def _commit_all(self, export: Any) -> tuple[int, int]:
        """Commit every span of an OTLP export; returns how many came and how many were refused."""
        received = rejected = 0
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received += 1
                    rejected += self._commit(span) is None
        return received, rejected

    def _commit(self, span: Any) -> UserlandSpan | None:
        attributes = {kv.key: _value(kv.value) for kv in span.attributes}
        try:
            reference = json.loads(urllib.parse.unquote(str(attributes.get("inngest.traceref"))))
        except ValueError:
            return None
        parent = reference.get("tp") if isinstance(reference, dict) else None
        if not isinstance(parent, str) or not parent:
            return None
        run_id, function_id = attributes.get("sdk.run.id"), attributes.get("sys.function.id")
        if not isinstance(run_id, str) or parse_ulid(run_id) is None:
            return None
        known = {self._executor.checkpoint_api.function_uuid(f) for f in self._executor.functions}
        if not isinstance(function_id, str) or not is_uuid(function_id) or function_id not in known:
            return None
        status = {1: "completed", 2: "failed"}.get(span.status.code, "unknown")
        kept = UserlandSpan(
            name=span.name,
            span_id=span.span_id.hex(),
            parent_span_id=parent.split("-")[2] if parent.count("-") == 3 else "",
            run_id=run_id,
            function_id=function_id,
            attributes=attributes,
            status=status,
        )
        self.spans.append(kept)
        return kept


def _value(value: Any) -> Any:
    """A value as the server keeps it: strings, integers, floats, booleans; else ""."""
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        return getattr(value, kind)
    return ""


def _authorized(header: str, signing_key: str) -> bool:
    """The SDKs' bearer token for a signing key.

    The SDKs' bearer token: SHA-256 of the key's hex part, without its
    ``signkey-<env>-`` prefix (Python SDK) or with it (TypeScript SDK).
    """
    match = re.match(r"^(signkey-\w+-)?(.*)$", signing_key)
    prefix, hex_part = (match.group(1) or "", match.group(2)) if match else ("", signing_key)
    try:
        hashed = hashlib.sha256(bytes.fromhex(hex_part)).hexdigest()
    except ValueError:
        return False
    candidates = [f"Bearer {hashed}", f"Bearer {prefix}{hashed}"]
    return any(hmac.compare_digest(header, c) for c in candidates)


def _status(code: int, message: str, as_json: bool) -> Response:
    """An error as the server writes it: a ``google.rpc.Status`` message."""
    if as_json:
        return Response(json.dumps({"message": message}), code, media_type="application/json")
    try:
        from google.rpc import status_pb2

        return Response(
            status_pb2.Status(message=message).SerializeToString(),
            code,
            media_type="application/x-protobuf",
        )
    except ImportError:
        return Response(message.encode(), code, media_type="application/x-protobuf")
