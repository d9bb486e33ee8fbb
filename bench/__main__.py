"""``python -m bench``: measure every variant and print the tables (see BENCHMARKS.md).

Examples::

    python -m bench                         # the full run (several minutes)
    python -m bench --smoke                 # tiny sizes, a few seconds per variant (CI)
    python -m bench --variants agentkit,raw --turns 5,20 --reps 5
    python -m bench --variant 'fast=agentkit:{"network": {"fast_turns": true}}'
    python -m bench --profile agentkit      # py-spy on the app during one N=100 run
    python -m bench --paired agentkit-offload,raw-offload --turns 5,50 --reps 7
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from agentkit_inngest.testing.servers import serve_async

from .processes import Unavailable
from .report import render
from .runner import Config, VariantBench, VariantResult
from .variants import VARIANTS, Variant, parse_variant
from .workload import provider_app

T = TypeVar("T")


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas: {text!r}") from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers: {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument(
        "--variants",
        help="comma-separated names to run (default: all): " + ", ".join(v.name for v in VARIANTS),
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=APP[:JSON]",
        help='add a variant, e.g. \'fast=agentkit:{"network": {"fast_turns": true}}\'',
    )
    parser.add_argument("--turns", type=_ints, help="N values of the replay series")
    parser.add_argument("--reps", type=int, help="repetitions per N (medians are printed)")
    parser.add_argument("--concurrency", type=_ints, help="concurrent runs, e.g. 1,10,100")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument(
        "--profile",
        metavar="VARIANT",
        help="profile the app of a Python variant with py-spy during one long run instead",
    )
    parser.add_argument(
        "--paired",
        metavar="A,B,...",
        help="app CPU per run only, the variants taking turns run by run; ratios to the last",
    )
    parser.add_argument("--profile-turns", type=int, default=100)
    parser.add_argument(
        "--profile-runs", type=int, default=1, help="runs sampled one after another (short runs)"
    )
    return parser.parse_args(argv)


def select(args: argparse.Namespace, names_text: str | None = None) -> list[Variant]:
    """The variants named in ``names_text`` (default ``--variants``; all when neither)."""
    extra = [parse_variant(spec) for spec in args.variant]
    known = {v.name: v for v in [*VARIANTS, *extra]}
    text = names_text if names_text is not None else args.variants
    if text:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; known: {sorted(known)}")
        return [known[n] for n in names]
    return [*VARIANTS, *extra]


def _in_workdir(measure: Callable[[pathlib.Path], Coroutine[Any, Any, T]]) -> T | None:
    """``measure`` run in a temporary directory; ``None`` (reported) when it cannot run."""
    with tempfile.TemporaryDirectory(prefix="agentkit-bench-") as tmp:
        try:
            return asyncio.run(measure(pathlib.Path(tmp)))
        except Unavailable as err:
            print(f"benchmark could not run: {err}", file=sys.stderr)
            return None


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = shutil.which("node")
    node_version = (
        subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
        if node
        else "none"
    ).strip()
    from importlib.metadata import version

    return [
        f"- machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, inngest (PyPI) {version('inngest')}, "
        f"uvicorn {version('uvicorn')}, node {node_version}",
        "- command: `python -m bench " + shlex.join(sys.argv[1:]) + "`",
    ]


async def measure(variants: list[Variant], config: Config, workdir: pathlib.Path) -> list[Any]:
    results: list[VariantResult] = []
    async with serve_async(provider_app()) as provider:
        for variant in variants:
            print(f"... {variant.name}", file=sys.stderr, flush=True)
            bench = VariantBench(variant, config, provider.url, workdir)
            try:
                results.append(await bench.measure())
            except Unavailable as err:
                result = VariantResult(variant, skipped=str(err).splitlines()[0])
                print(f"    skipped: {err}", file=sys.stderr, flush=True)
                if variant.required:
                    result.problems.append(f"required variant could not run: {err}")
                results.append(result)
    return results


def _paired(variants: list[Variant], config: Config) -> int:
    from .paired import paired

    if len(variants) < 2:
        raise SystemExit("--paired needs two or more variants")
    report = _in_workdir(lambda workdir: paired(variants, config, workdir))
    if report is None:
        return 2
    print("\n".join([*machine(), "", report]))
    return 0


def to_json(results: list[VariantResult]) -> list[dict[str, Any]]:
    def default(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return str(value)

    return json.loads(json.dumps([dataclasses.asdict(r) for r in results], default=default))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from .profile import profile

        return profile(
            args.profile, turns=args.profile_turns, runs=args.profile_runs, extra=args.variant
        )
    config = Config.smoke() if args.smoke else Config()
    if args.turns:
        config.turns = args.turns
    if args.reps:
        config.reps = args.reps
    if args.concurrency:
        config.concurrency = args.concurrency
    if args.paired:
        return _paired(select(args, args.paired), config)
    variants = select(args)
    results = _in_workdir(lambda workdir: measure(variants, config, workdir))
    if results is None:
        return 2
    header = machine()
    sources = {r.cpu_source for r in results if r.cpu_source}
    if sources:
        header.append(f"- app CPU read from {', '.join(sorted(sources))}")
    print(render(results, config, header))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(to_json(results), indent=1))
    # problems of optional variants (AgentKit TS) are printed, not failures
    problems = [p for r in results if r.variant.required for p in r.problems]
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
