"""The benchmark's own logic: the scripted model, the effects count, the replay fit.

The benchmark itself runs end to end in ``.ci/run`` (``python -m bench --smoke``).
"""

from __future__ import annotations

import json
import pathlib

import pytest

from bench.report import render
from bench.runner import Config, RunStats, VariantResult, replay_fit
from bench.variants import VARIANTS, Variant, parse_variant
from bench.workload import Plan, answer, read_effects, record_effect


def test_plans_round_trip_through_the_user_message() -> None:
    plan = Plan(tag="t1", turns=3, first=2, ms=5)
    assert Plan.parse(plan.to_input()) == plan
    assert plan.tool_calls == 4
    assert plan.expected_effects() == {("t1", 1, 1), ("t1", 1, 2), ("t1", 2, 1), ("t1", 3, 1)}
    with pytest.raises(ValueError, match="not a benchmark input"):
        Plan.parse("hello")


def test_the_scripted_model_follows_the_plan_turn_by_turn() -> None:
    plan = Plan(tag="t", turns=2, first=3)
    messages = [
        {"role": "system", "content": "You are Worker."},
        {"role": "user", "content": [{"type": "text", "text": plan.to_input()}]},
    ]
    first = answer({"messages": messages})["choices"][0]
    calls = first["message"]["tool_calls"]
    assert first["finish_reason"] == "tool_calls" and len(calls) == 3
    assert json.loads(calls[2]["function"]["arguments"]) == {
        "tag": "t",
        "turn": 1,
        "slot": 3,
        "ms": 0,
    }
    messages.append(first["message"])
    second = answer({"messages": messages})["choices"][0]["message"]
    assert [c["id"] for c in second["tool_calls"]] == ["call_t_2_1"]
    messages.append(second)
    assert answer({"messages": messages})["choices"][0]["message"]["content"] == "done"
    with pytest.raises(ValueError, match="no benchmark plan"):
        answer({"messages": [{"role": "user", "content": "hi"}]})


def test_effects_are_counted_per_call(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "effects")
    assert read_effects(path) == {}
    for _ in range(2):
        record_effect(path, "t", 1, 1)
    record_effect(path, "t", 2, 1)
    assert read_effects(path) == {("t", 1, 1): 2, ("t", 2, 1): 1}


def _run(turns: int, cpu: float, requests: int, memos: int) -> RunStats:
    return RunStats(
        plan=Plan(tag=f"n{turns}", turns=turns),
        status="completed",
        wall=0.01 * turns,
        cpu=cpu,
        requests=requests,
        checkpoints=0,
        memos_sent=memos,
        bytes=1000 * turns,
        executions=turns,
        exactly_once=True,
    )


def test_the_replay_fit_recovers_known_costs() -> None:
    per_run, per_request, per_memo = 0.004, 0.002, 0.00005
    runs = []
    for turns in (5, 20, 50, 100):
        requests, memos = 2 * turns + 1, turns * (2 * turns + 1)
        cpu = per_run + per_request * requests + per_memo * memos
        runs.append(_run(turns, cpu, requests, memos))
    fit = replay_fit(runs)
    assert fit is not None
    assert fit["per_memo"] == pytest.approx(per_memo)
    assert fit["per_request"] == pytest.approx(per_request)
    assert fit["per_run"] == pytest.approx(per_run)
    assert fit["r2"] == pytest.approx(1.0)
    assert replay_fit(runs[:2]) is None  # two sizes cannot separate three costs


def test_the_report_prints_ratios_to_the_floor_and_skips_with_a_reason() -> None:
    config = Config(turns=[5, 20], reps=1, concurrency=[])
    floor = VariantResult(Variant("raw", "floor", "raw", floor=True))
    floor.replay = [_run(5, 0.05, 11, 55), _run(20, 0.4, 41, 820)]
    ours = VariantResult(Variant("agentkit", "ours", "agentkit"))
    ours.replay = [_run(5, 0.06, 11, 55), _run(20, 0.44, 41, 820)]
    skipped = VariantResult(VARIANTS[3], skipped="npm install failed: offline")
    text = render([floor, ours, skipped], config, ["- machine: test"])
    assert "| agentkit | 12.00 | 22.00 | 1.20x | 1.10x | 1.83x |" in text
    assert "**skipped** (c) AgentKit TS" in text and "npm install failed: offline" in text


def test_extra_variants_are_one_option_away() -> None:
    variant = parse_variant('fast=agentkit:{"network": {"max_iter": 3}}')
    assert (variant.name, variant.app, variant.options) == (
        "fast",
        "agentkit",
        {"network": {"max_iter": 3}},
    )
    with pytest.raises(ValueError, match="expected NAME=APP"):
        parse_variant("fast=python")
    with pytest.raises(ValueError, match="not JSON"):
        parse_variant("fast=agentkit:{nope")


def test_paired_ratios_are_medians_of_each_repetitions_ratio() -> None:
    from bench.paired import _report

    config = Config(turns=[5], reps=3, concurrency=[])
    ours, floor = Variant("ours", "ours", "agentkit"), Variant("raw", "floor", "raw", floor=True)
    # repetition by repetition: 1.5x, 1.2x, 1.1x
    cpu = {("ours", 5): [0.015, 0.012, 0.033], ("raw", 5): [0.010, 0.010, 0.030]}
    text = _report([ours, floor], config, cpu)
    assert "| ours | 3.00 |" in text  # median CPU per turn: 15 ms / 5 turns
    assert "| ours | 1.20x (1.10-1.50) |" in text
    assert "| raw | 1.00x (1.00-1.00) |" in text
