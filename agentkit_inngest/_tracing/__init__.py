"""OpenTelemetry tracing (private).

Configuration, attribute values, span ids, and the export of step spans to Inngest. The run layer
and the step seam reach it only through the seam in ``agentkit_inngest._steps._tracing``;
:func:`configure_tracing` is public from :mod:`agentkit_inngest`. See docs/tracing.md.
"""

from ._config import CAPTURE_ENV, Tracing, configure_tracing, current, reset
from ._inngest import (
    CURRENT_STEP,
    LOGICAL,
    REQUEST_TRACE,
    InngestSpanProcessor,
    RequestTrace,
    TraceHeaders,
    parse_trace_headers,
)

__all__ = [
    "CAPTURE_ENV",
    "CURRENT_STEP",
    "LOGICAL",
    "REQUEST_TRACE",
    "InngestSpanProcessor",
    "RequestTrace",
    "TraceHeaders",
    "Tracing",
    "configure_tracing",
    "current",
    "parse_trace_headers",
    "reset",
]
