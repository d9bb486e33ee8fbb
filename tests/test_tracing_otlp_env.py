"""``configure_tracing()`` with no provider exports over OTLP where ``OTEL_*`` says.

OpenTelemetry lets a process set its global tracer provider once, so the run happens
in a child process: it starts a small OTLP/HTTP receiver on 127.0.0.1, points
``OTEL_EXPORTER_OTLP_ENDPOINT`` at it, calls ``configure_tracing()`` with no argument,
runs a plain network and flushes. The receiver decodes what arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent(
    """
    import asyncio, json, os, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                service = {
                    a.key: a.value.string_value for a in resource.resource.attributes
                }.get("service.name")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        received.append({"path": self.path, "service": service,
                                         "name": span.name})
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"
    os.environ["OTEL_SERVICE_NAME"] = "otlp-env-check"

    from agentkit_inngest import configure_tracing, create_agent, create_network
    from agentkit_inngest import route_in_order
    from agentkit_inngest.testing import FunctionModel, text

    provider = configure_tracing()
    agent = create_agent(name="Echo", model=FunctionModel(lambda call: text("hi")))
    network = create_network(name="Desk", agents=[agent], router=route_in_order(agent))
    asyncio.run(network.run("hello"))
    provider.force_flush()
    provider.shutdown()
    server.shutdown()
    print(json.dumps(received))
    """
)


def test_configure_tracing_without_a_provider_exports_where_otel_variables_say() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout.strip().splitlines()[-1])
    names = {span["name"] for span in spans}
    assert {span["path"] for span in spans} == {"/v1/traces"}
    assert {span["service"] for span in spans} == {"otlp-env-check"}
    assert any(name.startswith("invoke_workflow") for name in names), names
    assert any(name.startswith("invoke_agent") for name in names), names
    assert any(name.startswith("chat") for name in names), names
