"""Variant (a): the workload as an agentkit-inngest network.

``options`` tune the variant without new code: ``model`` (keyword arguments of
:func:`agentkit_inngest.openai`), ``agent`` (of ``create_agent``), ``network`` (of
``create_network``), ``function`` (of ``network_function``; a ``checkpointing``
object holds the fields of :class:`~agentkit_inngest.Checkpointing`) and ``tracing`` (of
``configure_tracing``: spans go to an OpenTelemetry SDK provider whose batch exporter
drops them, and, unless ``"inngest": false``, step spans to the executor's trace
endpoint, so a run pays for making, processing and sending spans but not a backend).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import fastapi
import inngest

from agentkit_inngest import (
    Budget,
    Checkpointing,
    NetworkRun,
    create_agent,
    create_network,
    create_server,
    network_function,
    openai,
    tool,
)

from ..workload import TOOL, TOOL_DESCRIPTION, Plan, record_effect


def build(
    *, client: inngest.Inngest, provider_url: str, effects: str, options: dict[str, Any]
) -> fastapi.FastAPI:
    @tool(name=TOOL, description=TOOL_DESCRIPTION)
    async def bump(tag: str, turn: int, slot: int, ms: int) -> dict[str, Any]:
        record_effect(effects, tag, turn, slot)
        if ms:
            await asyncio.sleep(ms / 1000)
        return {"ok": True, "turn": turn, "slot": slot}

    if "tracing" in options:
        _trace(options["tracing"])
    model = openai(
        "gpt-bench",
        api_key="bench",
        base_url=f"{provider_url}/v1",
        **options.get("model", {}),
    )
    worker = create_agent(
        name="Worker",
        system="You are Worker.",
        model=model,
        tools=[bump],
        **options.get("agent", {}),
    )

    @functools.lru_cache(maxsize=1024)
    def turns_of(text: str) -> int:  # read once per run, as the floor does
        return Plan.parse(text).turns

    def router(*, network: NetworkRun, call_count: int) -> Any:
        return worker if call_count < turns_of(network.input) else None

    # no request cap: runs of any length measure replays (the default caps 100 requests)
    network_options = {"budget": Budget(), **options.get("network", {})}
    network = create_network(name="Bench", agents=[worker], router=router, **network_options)
    function_options = dict(options.get("function", {}))
    if isinstance(function_options.get("checkpointing"), dict):  # JSON: Checkpointing(**...)
        function_options["checkpointing"] = Checkpointing(**function_options["checkpointing"])
    function = network_function(network, client=client, **function_options)
    return create_server(client=client, functions=[function])


def _trace(options: dict[str, Any]) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from agentkit_inngest import configure_tracing

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    configure_tracing(tracer_provider=provider, **options)
