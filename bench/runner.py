"""Drive one variant through every measurement, with the local protocol executor."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
import statistics
import time
from typing import Any

from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.executor import Run

from .processes import AppProcess, node_app, python_app
from .variants import Variant
from .workload import FUNCTION, Plan, read_effects


@dataclasses.dataclass
class Config:
    """Sizes of the measurements (``--smoke`` makes them tiny)."""

    turns: list[int] = dataclasses.field(default_factory=lambda: [5, 20, 50, 100])
    reps: int = 3
    concurrency: list[int] = dataclasses.field(default_factory=lambda: [1, 10, 100])
    concurrent_turns: int = 5
    parallel_width: int = 5
    tool_ms: int = 200
    later_turns: int = 10
    run_timeout: float = 900.0

    @classmethod
    def smoke(cls) -> Config:
        return cls(
            turns=[2, 3, 4],
            reps=1,
            concurrency=[1, 3],
            concurrent_turns=2,
            parallel_width=3,
            tool_ms=20,
            later_turns=2,
        )


@dataclasses.dataclass
class RunStats:
    """One run, as the executor and ``/proc`` saw it."""

    plan: Plan
    status: str
    wall: float
    cpu: float
    requests: int
    checkpoints: int
    memos_sent: int
    bytes: int
    executions: int
    exactly_once: bool
    error: Any = None

    @property
    def per_turn(self) -> float:
        return self.requests / self.plan.turns


@dataclasses.dataclass
class BatchStats:
    """Runs started together (throughput)."""

    concurrency: int
    turns: int
    wall: float
    cpu: float
    completed: int
    exactly_once: bool
    failures: list[str]


@dataclasses.dataclass
class VariantResult:
    variant: Variant
    skipped: str | None = None
    cpu_source: str = ""
    replay: list[RunStats] = dataclasses.field(default_factory=list)
    batches: list[BatchStats] = dataclasses.field(default_factory=list)
    parallel: RunStats | None = None
    sequential: RunStats | None = None
    after_parallel: dict[str, RunStats] = dataclasses.field(default_factory=dict)
    peak_rss_mib: float = 0.0
    problems: list[str] = dataclasses.field(default_factory=list)

    def runs_at(self, turns: int) -> list[RunStats]:
        return [r for r in self.replay if r.plan.turns == turns]


class BenchExecutor(LocalExecutor):
    """The local executor, also counting the memos sent to the app (replayed steps)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.memos_sent: dict[str, int] = {}

    def _request_body(self, run: Run, item: Any) -> dict[str, Any]:
        self.memos_sent[run.id] = self.memos_sent.get(run.id, 0) + len(run.memos)
        return super()._request_body(run, item)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class VariantBench:
    def __init__(
        self, variant: Variant, config: Config, provider_url: str, workdir: pathlib.Path
    ) -> None:
        self.variant = variant
        self.config = config
        self.provider_url = provider_url
        self.effects = str(workdir / f"{variant.name}.effects")
        self.log = workdir / f"{variant.name}.log"
        self.result = VariantResult(variant)
        self._tags = 0

    def _app(self, executor: LocalExecutor) -> AppProcess:
        common = {"executor": executor.api_url, "provider": self.provider_url}
        if self.variant.app == "node":
            checkpointing = bool(self.variant.options.get("checkpointing", True))
            return node_app(checkpointing, effects=self.effects, log=self.log, **common)
        options = json.dumps(dict(self.variant.options))
        return python_app(self.variant.app, options, effects=self.effects, log=self.log, **common)

    def plan(self, turns: int, *, first: int = 1, ms: int = 0) -> Plan:
        self._tags += 1
        return Plan(tag=f"{self.variant.name}-{self._tags}", turns=turns, first=first, ms=ms)

    async def one(self, executor: BenchExecutor, app: AppProcess, plan: Plan) -> RunStats:
        before, started = app.cpu(), time.perf_counter()
        run = await executor.run(
            FUNCTION, {"input": plan.to_input()}, check=False, timeout=self.config.run_timeout
        )
        wall, cpu = time.perf_counter() - started, app.cpu() - before
        return self._stats(executor, run, plan, wall, cpu)

    def _stats(
        self, executor: BenchExecutor, run: Run, plan: Plan, wall: float, cpu: float
    ) -> RunStats:
        requests = executor.requests_for(run)
        checkpoints = [c for c in executor.checkpoints if c.run_id == run.id]
        counts = {k: v for k, v in read_effects(self.effects).items() if k[0] == plan.tag}
        expected = plan.expected_effects()
        stats = RunStats(
            plan=plan,
            status=run.status,
            wall=wall,
            cpu=cpu,
            requests=len(requests),
            checkpoints=len(checkpoints),
            memos_sent=executor.memos_sent.get(run.id, 0),
            bytes=sum(r.bytes_sent + r.bytes_received for r in requests)
            + sum(c.bytes_received for c in checkpoints),
            executions=sum(counts.values()),
            exactly_once=counts == dict.fromkeys(expected, 1),
            error=run.error,
        )
        self._check(stats)
        return stats

    def _check(self, stats: RunStats) -> None:
        if stats.status != "completed":
            self.result.problems.append(f"run {stats.plan.tag} ended {stats.status}: {stats.error}")
        elif self.variant.exactly_once and not stats.exactly_once:
            self.result.problems.append(
                f"run {stats.plan.tag}: {stats.executions} tool executions for "
                f"{stats.plan.tool_calls} tool calls (exactly once was promised)"
            )

    async def batch(self, executor: BenchExecutor, app: AppProcess, concurrency: int) -> BatchStats:
        turns = self.config.concurrent_turns
        plans = [self.plan(turns) for _ in range(concurrency)]
        before, started = app.cpu(), time.perf_counter()
        runs = await asyncio.gather(
            *(
                executor.run(
                    FUNCTION,
                    {"input": p.to_input()},
                    check=False,
                    timeout=self.config.run_timeout,
                )
                for p in plans
            )
        )
        wall, cpu = time.perf_counter() - started, app.cpu() - before
        stats = [
            self._stats(executor, run, plan, 0.0, 0.0)
            for run, plan in zip(runs, plans, strict=True)
        ]
        failures = [f"{s.plan.tag}: {s.status} {s.error}" for s in stats if s.status != "completed"]
        return BatchStats(
            concurrency=concurrency,
            turns=turns,
            wall=wall,
            cpu=cpu,
            completed=sum(s.status == "completed" for s in stats),
            exactly_once=all(s.exactly_once for s in stats),
            failures=failures,
        )

    async def ready(self, executor: BenchExecutor) -> AppProcess:
        """The variant's app, started, synced and warmed up (the caller stops it)."""
        app = self._app(executor)
        await app.start()
        try:
            await executor.sync(app.url)
            from .processes import cpu_source

            self.result.cpu_source = cpu_source(app.pid)
            for _ in range(3):  # warm-up: lazy imports, caches, the JIT of node
                await self.one(executor, app, self.plan(min(5, max(self.config.turns))))
        except BaseException:
            await app.stop()
            raise
        return app

    async def measure(self) -> VariantResult:
        config = self.config
        async with BenchExecutor() as executor:
            app = await self.ready(executor)
            try:
                for turns in config.turns:
                    for _ in range(config.reps):
                        self.result.replay.append(await self.one(executor, app, self.plan(turns)))
                for concurrency in config.concurrency:
                    self.result.batches.append(await self.batch(executor, app, concurrency))
                width, ms = config.parallel_width, config.tool_ms
                self.result.parallel = await self.one(
                    executor, app, self.plan(1, first=width, ms=ms)
                )
                self.result.sequential = await self.one(executor, app, self.plan(width, ms=ms))
                later = config.later_turns
                for key, first, turns in (
                    ("parallel-1", width, 1),
                    ("parallel-n", width, 1 + later),
                    ("single-1", 1, 1),
                    ("single-n", 1, 1 + later),
                ):
                    self.result.after_parallel[key] = await self.one(
                        executor, app, self.plan(turns, first=first)
                    )
                self.result.peak_rss_mib = app.peak_rss_mib()
            finally:
                await app.stop()
        return self.result


def replay_fit(runs: list[RunStats]) -> dict[str, float] | None:
    """Least squares of ``cpu = per_run + per_request * requests + per_memo * memos``.

    ``per_memo`` is the cost of replaying one memoized step: each request re-runs
    the handler and hands back every earlier step's memo.
    """
    rows = [(1.0, float(r.requests), float(r.memos_sent), r.cpu) for r in runs]
    if len({(r[1], r[2]) for r in rows}) < 3:
        return None
    size = 3
    normal = [[sum(row[i] * row[j] for row in rows) for j in range(size)] for i in range(size)]
    target = [sum(row[i] * row[3] for row in rows) for i in range(size)]
    solution = _solve(normal, target)
    if solution is None:
        return None
    per_run, per_request, per_memo = solution
    mean = sum(row[3] for row in rows) / len(rows)
    total = sum((row[3] - mean) ** 2 for row in rows)
    residual = sum(
        (row[3] - (per_run + per_request * row[1] + per_memo * row[2])) ** 2 for row in rows
    )
    return {
        "per_run": per_run,
        "per_request": per_request,
        "per_memo": per_memo,
        "r2": 1 - residual / total if total else float("nan"),
    }


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    size = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(size):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][size] / rows[i][i] for i in range(size)]
