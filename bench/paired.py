"""``python -m bench --paired A,B[,C...]``: app CPU per run, the variants taking turns.

On a shared machine the CPU one run costs drifts by tens of percent within minutes, so
figures measured one variant after another compare the variants *and* the minutes they
ran in. Here every variant's app runs at once, and each repetition runs one plan on every
variant in turn (the order rotating), so neighbouring runs see the same machine. Printed
per N: each variant's median app CPU per turn, and its ratio to the last variant named
(the floor): the median of the per-repetition ratios, with their range.
"""

from __future__ import annotations

import contextlib
import pathlib
import statistics
from collections.abc import Sequence

from agentkit_inngest.testing.servers import serve_async

from .processes import AppProcess
from .report import num, table
from .runner import BenchExecutor, Config, VariantBench
from .variants import Variant
from .workload import provider_app


async def paired(variants: Sequence[Variant], config: Config, workdir: pathlib.Path) -> str:
    """Measure ``variants`` interleaved; the Markdown report."""
    cpu: dict[tuple[str, int], list[float]] = {}
    async with serve_async(provider_app()) as provider, contextlib.AsyncExitStack() as stack:
        running: list[tuple[VariantBench, BenchExecutor, AppProcess]] = []
        for variant in variants:
            bench = VariantBench(variant, config, provider.url, workdir)
            executor = await stack.enter_async_context(BenchExecutor())
            app = await bench.ready(executor)
            stack.push_async_callback(app.stop)
            running.append((bench, executor, app))
        for turns in config.turns:
            for rep in range(config.reps):
                shift = rep % len(running)
                for bench, executor, app in running[shift:] + running[:shift]:
                    stats = await bench.one(executor, app, bench.plan(turns))
                    if stats.status != "completed" or not stats.exactly_once:
                        raise RuntimeError(f"{bench.variant.name} N={turns}: {stats.status}")
                    cpu.setdefault((bench.variant.name, turns), []).append(stats.cpu)
    return _report(variants, config, cpu)


def _report(
    variants: Sequence[Variant], config: Config, cpu: dict[tuple[str, int], list[float]]
) -> str:
    floor = variants[-1].name
    headers = ["variant", *(f"N={n}" for n in config.turns)]
    figures, ratios = [], []
    for variant in variants:
        name = variant.name
        per_turn = [statistics.median(cpu[name, n]) * 1000 / n for n in config.turns]
        figures.append([name, *(num(v) for v in per_turn)])
        cells = []
        for n in config.turns:
            each = [a / b for a, b in zip(cpu[name, n], cpu[floor, n], strict=True)]
            cells.append(f"{statistics.median(each):.2f}x ({min(each):.2f}-{max(each):.2f})")
        ratios.append([name, *cells])
    return "\n".join(
        [
            f"## App CPU per turn (ms), variants interleaved, median of {config.reps}",
            "",
            table(headers, figures),
            "",
            f"## Ratio to `{floor}` (median of per-repetition ratios, range)",
            "",
            table(headers, ratios),
        ]
    )
