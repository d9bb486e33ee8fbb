"""Print the results as Markdown tables (medians over repetitions; ratios to the floor)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .runner import Config, RunStats, VariantResult, median, replay_fit

DEV_SERVER_TRIP_MS = 150.0
"""What one trip through the queue of the Inngest dev server costs at its default tick
(about 150 ms, measured on a real dev server: issue 14); the local executor adds none."""


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(value: float, floor: float | None) -> str:
    if floor is None or not floor or math.isnan(floor) or math.isnan(value):
        return "-"
    return f"{value / floor:.2f}x"


def _median_at(result: VariantResult, turns: int, metric: Callable[[RunStats], float]) -> float:
    return median([metric(r) for r in result.runs_at(turns)])


def render(results: list[VariantResult], config: Config, header: list[str]) -> str:
    out: list[str] = ["# agentkit-inngest benchmark", "", *header, ""]
    measured = [r for r in results if r.skipped is None]
    floor = next((r for r in measured if r.variant.floor), None)
    for skipped in (r for r in results if r.skipped is not None):
        out.append(f"- **skipped** {skipped.variant.label}: {skipped.skipped}")
    if not measured:
        return "\n".join(out)
    turns = config.turns
    names = {r.variant.name: r.variant.label for r in measured}
    out.append("")
    out.append("Variants: " + "; ".join(f"`{k}` = {v}" for k, v in names.items()) + ".")

    def per_n(
        title: str,
        metric: Callable[[RunStats], float],
        *,
        scale: float = 1.0,
        digits: int = 2,
        ratios: bool = True,
        growth: bool = False,
    ) -> None:
        headers = ["variant", *(f"N={n}" for n in turns)]
        if ratios and floor is not None:
            headers += [f"vs floor N={n}" for n in turns]
        if growth and len(turns) > 1:
            headers.append(f"N={turns[-1]} / N={turns[0]}")
        rows = []
        for result in measured:
            values = [_median_at(result, n, metric) * scale for n in turns]
            row = [result.variant.name, *(num(v, digits) for v in values)]
            if ratios and floor is not None:
                row += [
                    ratio(v, _median_at(floor, n, metric) * scale)
                    for v, n in zip(values, turns, strict=True)
                ]
            if growth and len(turns) > 1:
                row.append(ratio(values[-1], values[0]))
            rows.append(row)
        out.extend(["", f"## {title}", "", table(headers, rows)])

    per_n(
        "Round trips per turn (requests from the executor to the app / turns)",
        lambda r: r.per_turn,
    )
    per_n("Round trips per run (requests from the executor to the app)", lambda r: r.requests)
    per_n(
        "Checkpoint calls per turn (app -> server, no queue trip)",
        lambda r: r.checkpoints / r.plan.turns,
        ratios=False,
    )
    per_n(
        "App CPU per turn (ms)",
        lambda r: r.cpu / r.plan.turns,
        scale=1000,
        growth=True,
    )
    per_n("App CPU per run (ms)", lambda r: r.cpu, scale=1000)
    per_n(
        "Tool executions per tool call (1.00 = exactly once)",
        lambda r: r.executions / r.plan.tool_calls,
        ratios=False,
    )
    per_n(
        "Bytes exchanged per run (KiB; executor <-> app, checkpoints included)",
        lambda r: r.bytes / 1024,
    )
    per_n(
        "Wall time per turn under the local executor (ms)",
        lambda r: r.wall / r.plan.turns,
        scale=1000,
    )
    per_n(
        f"Estimated wall time per turn on the Inngest dev server at its default tick (ms): "
        f"the above plus {DEV_SERVER_TRIP_MS:.0f} ms per round trip",
        lambda r: r.wall / r.plan.turns + r.per_turn * DEV_SERVER_TRIP_MS / 1000,
        scale=1000,
    )

    offload_floor(out, measured, turns)

    rows = []
    for result in measured:
        fit = replay_fit(result.replay)
        if fit is None:
            rows.append([result.variant.name, "-", "-", "-", "-"])
            continue
        rows.append(
            [
                result.variant.name,
                num(fit["per_memo"] * 1e6, 1),
                num(fit["per_request"] * 1e6, 0),
                num(fit["per_run"] * 1e3, 2),
                num(fit["r2"], 3),
            ]
        )
    out.extend(
        [
            "",
            "## Replay cost (least squares over every run above: "
            "cpu = per run + per request x requests + per memo x memos replayed)",
            "",
            table(
                ["variant", "per memoized step (us)", "per request (us)", "per run (ms)", "R^2"],
                rows,
            ),
        ]
    )

    headers = ["variant"]
    for c in config.concurrency:
        headers += [f"C={c} runs/s", f"C={c} turns/s", f"C={c} CPU/turn (ms)", f"C={c} ok"]
    rows = []
    for result in measured:
        row = [result.variant.name]
        for batch in result.batches:
            runs_total = batch.concurrency * batch.turns
            ok = f"{batch.completed}/{batch.concurrency}"
            ok += "" if batch.exactly_once else " (tools repeated)"
            row += [
                num(batch.completed / batch.wall, 1),
                num(batch.completed * batch.turns / batch.wall, 1),
                num(batch.cpu / runs_total * 1000, 2),
                ok,
            ]
        rows.append(row)
    out.extend(
        [
            "",
            f"## Throughput: C concurrent runs of {config.concurrent_turns} turns on one app "
            "process (ok = completed, every tool call once)",
            "",
            table(headers, rows),
        ]
    )

    rows = []
    for result in measured:
        par, seq = result.parallel, result.sequential
        if par is None or seq is None:
            continue
        rows.append(
            [
                result.variant.name,
                num(par.wall * 1000, 0),
                num(seq.wall * 1000, 0),
                ratio(seq.wall, par.wall),
                str(par.requests),
                str(seq.requests),
                num(par.executions / par.plan.tool_calls, 2),
            ]
        )
    width, ms = config.parallel_width, config.tool_ms
    out.extend(
        [
            "",
            f"## {width} tools of {ms} ms: one turn asking for all (parallel) vs "
            f"{width} turns of one tool (sequence)",
            "",
            table(
                [
                    "variant",
                    "parallel wall (ms)",
                    "sequence wall (ms)",
                    "sequence / parallel",
                    "parallel requests",
                    "sequence requests",
                    "parallel executions per call",
                ],
                rows,
            ),
        ]
    )

    rows = []
    later = config.later_turns
    for result in measured:
        runs = result.after_parallel
        if len(runs) < 4:
            continue
        after = (runs["parallel-n"].requests - runs["parallel-1"].requests) / later
        plain = (runs["single-n"].requests - runs["single-1"].requests) / later
        rows.append([result.variant.name, num(plain, 2), num(after, 2), ratio(after, plain)])
    out.extend(
        [
            "",
            f"## Round trips per later turn, after a first turn of one tool call vs after a "
            f"first turn of {width} parallel calls ({later} later turns)",
            "",
            table(["variant", "after one call", "after parallel calls", "ratio"], rows),
        ]
    )

    rows = [[r.variant.name, num(r.peak_rss_mib, 1)] for r in measured]
    out.extend(["", "## Peak RSS of the app process (MiB)", "", table(["variant", "MiB"], rows)])
    problems = [(r.variant.name, p) for r in results for p in r.problems]
    if problems:
        out.extend(["", "## Problems", ""])
        out += [f"- `{name}`: {problem}" for name, problem in problems]
    return "\n".join(out)


OFFLOAD_PAIR = ("agentkit-offload", "raw-offload")
"""agentkit-inngest's offloaded inference and its floor, a hand-written ``step.ai.infer``."""


def offload_floor(out: list[str], measured: list[VariantResult], turns: Sequence[int]) -> None:
    """Append the app CPU per turn of offloaded inference against its own floor (the
    target of issue 14: within 1.15x), when both variants ran."""
    found = {r.variant.name: r for r in measured}
    if not all(name in found for name in OFFLOAD_PAIR):
        return
    ours, floor = (found[name] for name in OFFLOAD_PAIR)

    def cpu(r: RunStats) -> float:
        return r.cpu / r.plan.turns

    rows = []
    for result in (ours, floor):
        rows.append([result.variant.name, *(num(_median_at(result, n, cpu) * 1000) for n in turns)])
    rows.append(
        [
            "ratio",
            *(ratio(_median_at(ours, n, cpu), _median_at(floor, n, cpu)) for n in turns),
        ]
    )
    out.extend(
        [
            "",
            f"## Offloaded inference: app CPU per turn (ms) against the hand-written "
            f"step.ai.infer floor (`{OFFLOAD_PAIR[1]}`; target: within 1.15x)",
            "",
            table(["variant", *(f"N={n}" for n in turns)], rows),
        ]
    )
