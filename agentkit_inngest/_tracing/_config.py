"""Whether runs are traced, and with which tracer: :func:`configure_tracing`.

Tracing is off unless OpenTelemetry has a real tracer provider: the one
:func:`configure_tracing` set up, or one the application installed globally
(Logfire, ``opentelemetry-instrument``, its own SDK set-up). Without one,
:func:`current` returns ``None`` without importing anything, and every run gets
the no-op seam.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any

from .._extras import require
from .._version import __version__
from ._ids import SteerableIds

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["CAPTURE_ENV", "Tracing", "configure_tracing", "current", "reset"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The environment variable that turns on recording prompts and completions."""

_CAPTURE_ON = {"true", "1", "yes", "span_only", "span_and_event"}
_SCOPE = "agentkit_inngest"


@dataclasses.dataclass(frozen=True)
class Tracing:
    """The tracer runs use, and whether content is recorded."""

    tracer: Any
    steerable: bool
    """Whether logical units (run, agent call) can be emitted with their fixed ids."""
    capture: bool | None = None
    """Record prompts and completions; ``None`` follows :data:`CAPTURE_ENV`."""

    @property
    def capture_content(self) -> bool:
        """Whether prompts, completions and tool arguments are recorded."""
        if self.capture is not None:
            return self.capture
        return os.environ.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON


_configured: Tracing | None = None
_disabled = False
_seen: tuple[object, Tracing | None] | None = None  # the global provider last looked at


def current() -> Tracing | None:
    """The tracing runs use now, or ``None`` (off)."""
    global _seen
    if _disabled:
        return None
    if _configured is not None:
        return _configured
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # nobody imported OpenTelemetry: nobody configured it
        return None
    provider = trace.get_tracer_provider()
    if _seen is not None and _seen[0] is provider:
        return _seen[1]
    found = None
    if not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        found = _tracing_for(provider, None)
    _seen = (provider, found)
    return found


def _tracing_for(provider: Any, capture: bool | None) -> Tracing:
    tracer = provider.get_tracer(_SCOPE, __version__)
    ids = getattr(tracer, "id_generator", None)
    if ids is not None and not isinstance(ids, SteerableIds):
        tracer.id_generator = SteerableIds(ids)
    return Tracing(tracer, steerable=ids is not None, capture=capture)


def configure_tracing(
    *,
    tracer_provider: TracerProvider | None = None,
    capture_content: bool | None = None,
    service_name: str | None = None,
    inngest: bool = True,
    enabled: bool = True,
) -> TracerProvider | None:
    """Trace runs with OpenTelemetry (needs ``pip install 'agentkit-inngest[otel]'``).

    Spans follow the GenAI semantic conventions: ``invoke_workflow`` (a network
    run), ``invoke_agent`` (an agent call), ``chat`` (an inference),
    ``execute_tool`` (a tool call) and ``plan`` (a routing decision); under Inngest
    each step's span is emitted once, by the request that runs it, and a retried
    step's attempts are spans of their own. See docs/tracing.md.

    Args:
        tracer_provider: the OpenTelemetry ``TracerProvider`` to use. Default: the
            global one when the application has set an SDK provider up (Logfire,
            ``opentelemetry-instrument``...), else a new one that exports over OTLP
            when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is
            set, made the global provider.
        capture_content: record prompts, completions and tool arguments and
            results on the spans (they can hold personal data). Default: off,
            unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is
            ``true`` (or ``SPAN_ONLY``/``SPAN_AND_EVENT``).
        service_name: ``service.name`` of a provider made here (default
            ``OTEL_SERVICE_NAME``, else ``agentkit-inngest``).
        inngest: also send each step's spans to the Inngest server that called
            the app (``/v1/traces/userland``), so they show inside the run in the
            dev server and Inngest Cloud (apps built with
            :func:`~agentkit_inngest.create_server`).
        enabled: ``False`` turns tracing off, even with a global provider.

    Returns:
        The tracer provider in use (``None`` when ``enabled`` is ``False``).

    Raises:
        MissingExtraError: the ``otel`` extra is not installed.
    """
    global _configured, _disabled, _seen
    if not enabled:
        _configured, _disabled, _seen = None, True, None
        return None
    sdk = require("opentelemetry.sdk.trace", extra="otel", feature="configure_tracing")
    from opentelemetry import trace

    provider: Any = tracer_provider
    if provider is None:
        found = trace.get_tracer_provider()
        provider = found if isinstance(found, sdk.TracerProvider) else _new_provider(service_name)
    if inngest and hasattr(provider, "add_span_processor"):
        from ._inngest import InngestSpanProcessor

        InngestSpanProcessor.install(provider)
    _configured, _disabled, _seen = _tracing_for(provider, capture_content), False, None
    used: TracerProvider = provider
    return used


def _new_provider(service_name: str | None) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "agentkit-inngest"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def reset() -> None:
    """Forget what :func:`configure_tracing` set (tests)."""
    global _configured, _disabled, _seen
    _configured, _disabled, _seen = None, False, None
