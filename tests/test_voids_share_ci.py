"""The void share's bootstrap interval over prompts (`voids.report.void_share_interval`) and the
interval over questions of the share of pairs skipped (`voids.evaluate.skipped_interval`)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from internals.analyses.voids.report import void_share_interval
from internals.analyses.voids.trace import NormTrace

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def trace() -> NormTrace:
    return NormTrace.load(RESULTS / "voids_trace")


def test_identical_prompts_give_a_point_interval(trace):
    one = replace(
        trace,
        pp=np.repeat(trace.pp[:1], 20, 0),
        pp_mask=np.repeat(trace.pp_mask[:1], 20, 0),
        pp_tokens=trace.pp_tokens[:1] * 20,
    )
    share = one.lac(0.8).void_share()
    lo, hi = void_share_interval(one, 0.8)
    assert lo == pytest.approx(share) and hi == pytest.approx(share)


def test_interval_brackets_the_share_and_narrows_with_more_prompts(trace):
    share = trace.lac(0.5).void_share()
    lo, hi = void_share_interval(trace, 0.5)
    assert lo < share < hi
    few = replace(trace, pp=trace.pp[:10], pp_mask=trace.pp_mask[:10], pp_tokens=trace.pp_tokens[:10])
    f_lo, f_hi = void_share_interval(few, 0.5)
    assert f_hi - f_lo > hi - lo
    assert void_share_interval(trace, 0.5) == [lo, hi]  # seeded


@pytest.mark.parametrize("model", ["", ".gemma3-270m"])
def test_committed_results_carry_the_interval_of_their_committed_trace(model):
    """`benchmarks/voids.py --intervals` filled these from the committed trace."""
    result = json.loads((RESULTS / f"voids{model}.json").read_text())
    trace = NormTrace.load(RESULTS / f"voids_trace{model}")
    cell = result["trace"]["alphas"]["0.8"]["pp"]
    assert cell["void_share"] == pytest.approx(trace.lac(0.8).void_share(), abs=1e-12)
    assert cell["void_share_ci"] == void_share_interval(trace, 0.8)


def _line(i: int, used: int, pairs: int, right: bool) -> dict:
    run = {"label": "paper a=0.8 both", "kind": "paper", "alpha": 0.8, "phases": "both", "pick_generate": None}
    full = {"label": "full", "kind": "none", "alpha": None, "phases": "both", "pick_generate": None}
    return {
        "id": str(i),
        "target": 0,
        "runs": [
            {**full, "pick_loglik": 0, "pp": [pairs, pairs], "gen": [0, 0], "opt": [10, 10]},
            {**run, "pick_loglik": 0 if right else 1, "pp": [used, pairs], "gen": [0, 0], "opt": [5, 10]},
        ],
    }


def test_skipped_interval_is_over_questions_and_matches_the_summary():
    from internals.analyses.voids.evaluate import skipped_interval, summarise_voids
    from internals.errors import InternalsError

    same = [_line(i, 20, 100, True) for i in range(30)]
    row = next(r for r in summarise_voids(same, "d") if r["kind"] == "paper" and r["protocol"] == "loglik")
    lo, hi = skipped_interval(same, "paper a=0.8 both", "loglik")
    assert lo == pytest.approx(row["layers_skipped"]) and hi == pytest.approx(row["layers_skipped"])
    mixed = [_line(i, 10 + 3 * i, 100, i % 2 == 0) for i in range(30)]
    row = next(r for r in summarise_voids(mixed, "d") if r["kind"] == "paper" and r["protocol"] == "loglik")
    lo, hi = skipped_interval(mixed, "paper a=0.8 both", "loglik")
    assert lo < row["layers_skipped"] < hi
    with pytest.raises(InternalsError, match="no configuration"):
        skipped_interval(mixed, "paper a=0.5 both", "loglik")


@pytest.mark.parametrize("model", ["", ".gemma3-270m"])
def test_committed_best_configuration_lines_reproduce_the_result_and_its_interval(model):
    """`benchmarks/voids.py --best-ci` reran the best trade-off, checked it against the committed
    numbers and committed its per-question lines: they give every number of the headline."""
    from internals.analyses.voids.evaluate import paired, skipped_interval, summarise_voids

    result = json.loads((RESULTS / f"voids{model}.json").read_text())
    path = RESULTS / f"voids_best{model}" / f"{result['dataset']}.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    rows = [r for r in summarise_voids(lines, result["dataset"]) if r["protocol"] == result["protocol"]]
    best = next(r for r in rows if r["label"] == result["label"])
    full = next(r for r in rows if r["kind"] == "none")
    assert best["n"] == result["n"] == len(lines)
    assert round(best["accuracy"], 4) == result["accuracy_skip"]
    assert round(full["accuracy"], 4) == result["accuracy_full"]
    assert round(best["layers_skipped"], 4) == result["layers_skipped"]
    assert paired(lines, result["label"], result["protocol"]) == result["paired"]
    lo, hi = result["layers_skipped_ci"]
    assert [lo, hi] == skipped_interval(lines, result["label"], result["protocol"])
    assert lo < result["layers_skipped"] < hi
