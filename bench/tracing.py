"""``python -m bench.tracing``: what OpenTelemetry tracing costs per turn, in process.

A network of one agent runs N turns in plain Python; each turn is one inference
(a :class:`~agentkit_inngest.testing.FunctionModel`, no HTTP) and one tool call in a
step, so the figures are the framework's own time per turn, which is where tracing
adds its work. Three set-ups, interleaved over the repetitions so drift hits them
alike:

- ``off``: no tracer provider (the no-op seam);
- ``on``: an SDK ``TracerProvider`` whose batch exporter drops the spans (making and
  processing spans, not a backend);
- ``on+content``: the same, recording prompts, completions and tool arguments.

It prints the median CPU microseconds per turn (of the whole process, the span
exporter's thread included) and the spans per turn. With ``--durable`` the same network
also runs durably: the app served on 127.0.0.1 in this process and driven by the local
executor, every turn replaying the earlier ones (the CPU is the app's and the
executor's together; the executor's share is the same with tracing on or off). It
asserts nothing about speed. ``python -m bench`` with
``--variant 'traced=agentkit:{"tracing": {}}'`` measures the app in a process of its
own (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentkit_inngest import NetworkRun, create_agent, create_network, tool
from agentkit_inngest.testing import FunctionModel, ModelCall, text, tool_call

try:
    from agentkit_inngest import configure_tracing
    from agentkit_inngest._tracing import reset
except ImportError:  # a version before tracing: only "off" can be measured
    configure_tracing = reset = None  # type: ignore[assignment]


class _Counted(SpanExporter):
    """Drops spans, counting them."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _network(turns: int) -> Any:
    @tool
    async def bump(turn: int) -> dict[str, int]:
        """Count a turn."""
        return {"turn": turn}

    def respond(call: ModelCall) -> Any:
        if call.last is not None and call.last.kind == "tool_result":
            return text("done")
        return tool_call("bump", {"turn": len(call.messages)}, id=f"c{len(call.messages)}")

    worker = create_agent(
        name="Worker",
        system="You are Worker.",
        model=FunctionModel(respond),
        tools=[bump],
        max_iter=1,
    )

    def router(*, network: NetworkRun, call_count: int) -> Any:
        return worker if call_count < turns else None

    return create_network(name="Bench", agents=[worker], router=router)


async def _seconds(turns: int) -> float:
    """CPU seconds of the process (all its threads) for one run: other processes on
    the machine do not count, the exporter's thread does."""
    network = _network(turns)
    started = time.process_time()
    await network.run("go")
    return time.process_time() - started


async def measure(turns: int, reps: int) -> dict[str, tuple[float, float]]:
    """Median CPU microseconds per turn and spans per turn of each set-up."""
    exporter = _Counted()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    setups: dict[str, Any] = {"off": None}
    if configure_tracing is not None:
        setups["on"] = {"capture_content": False}
        setups["on+content"] = {"capture_content": True}
    times: dict[str, list[float]] = {name: [] for name in setups}
    spans: dict[str, int] = dict.fromkeys(setups, 0)
    await _seconds(turns)  # warm up imports and caches
    for _ in range(reps):
        for name, options in setups.items():
            if reset is not None:
                reset()
            if options is not None:
                configure_tracing(tracer_provider=provider, inngest=False, **options)
            provider.force_flush()
            before = exporter.count
            times[name].append(await _seconds(turns))
            provider.force_flush()
            spans[name] += exporter.count - before
    if reset is not None:
        reset()
    provider.shutdown()
    return {
        name: (statistics.median(values) / turns * 1e6, spans[name] / (reps * turns))
        for name, values in times.items()
    }


async def measure_durable(turns: int, reps: int) -> dict[str, float]:
    """Median CPU microseconds per turn of a durable run, tracing off and on."""
    from agentkit_inngest import create_server
    from agentkit_inngest.testing import LocalExecutor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Counted()))
    times: dict[str, list[float]] = {"off": [], "on": []}
    async with LocalExecutor() as executor:
        app = create_server(client=executor.client("bench"), networks=[_network(turns)])
        await executor.attach(app)
        for round_ in range(reps + 1):
            for name in times:
                if reset is not None:
                    reset()
                if name == "on" and configure_tracing is not None:
                    configure_tracing(tracer_provider=provider, inngest=False)
                started = time.process_time()
                await executor.run("network-bench", {"input": "go"})
                if round_:  # the first round warms up
                    times[name].append(time.process_time() - started)
    if reset is not None:
        reset()
    provider.shutdown()
    return {name: statistics.median(v) / turns * 1e6 for name, v in times.items() if v}


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--durable", action="store_true", help="also measure durable runs")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.turns, args.reps))
    off = results["off"][0]
    print(f"Tracing cost per turn ({args.turns} turns a run, median of {args.reps} runs)\n")
    print("| set-up | CPU us per turn | vs off | spans per turn |")
    print("|---|---|---|---|")
    for name, (micros, per_turn) in results.items():
        print(f"| {name} | {micros:,.0f} | {micros - off:+,.0f} us | {per_turn:.1f} |")
    if args.durable:
        durable = asyncio.run(measure_durable(args.turns, args.reps))
        print(f"\nDurable, app and executor in this process ({args.turns} turns a run)\n")
        print("| set-up | CPU us per turn | vs off |")
        print("|---|---|---|")
        for name, micros in durable.items():
            print(f"| {name} | {micros:,.0f} | {micros - durable['off']:+,.0f} us |")


if __name__ == "__main__":
    main()
