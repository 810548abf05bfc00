"""Token reduction intervals of the cutoff (`metrics.reduction_interval`, `pipeline.with_intervals`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from internals.analyses.cutoff.chunks import boundaries
from internals.analyses.cutoff.metrics import reduction_interval, token_reduction
from internals.analyses.cutoff.pipeline import with_answer_rule, with_intervals

ROOT = Path(__file__).resolve().parent.parent
N_CHUNKS = 10


def _table(stops: list[int], n_tokens: int = 100, main: str = "probe:x@0.95") -> dict:
    """A cutoff table with per-example detail: every context `n_tokens` long, `main` stopping at `stops`."""
    return {
        "main": main,
        "examples": [{"n_tokens": n_tokens, "stops": {"full": N_CHUNKS - 1, main: s}} for s in stops],
    }


def test_constant_examples_give_a_point_interval():
    # dataset a reads half of every context (reduction 2), b all of it (1): the mean over datasets is 1.5
    tables = {"a": _table([4] * 30), "b": _table([9] * 30)}
    ci = reduction_interval(tables, "probe:x@0.95", N_CHUNKS)
    assert ci["lo"] == ci["hi"] == 1.5
    assert ci["per_dataset"] == {"a": [2.0, 2.0], "b": [1.0, 1.0]}
    assert ci["n"] == 60


def test_interval_brackets_the_estimate_and_narrows_with_more_examples():
    stops = [0, 2, 4, 9, 9, 1, 7, 3, 9, 5]
    small = {"a": _table(stops)}
    large = {"a": _table(stops * 10)}
    point = token_reduction([100] * 10, [boundaries(100, N_CHUNKS)[s] for s in stops])
    ci_small = reduction_interval(small, "probe:x@0.95", N_CHUNKS)
    ci_large = reduction_interval(large, "probe:x@0.95", N_CHUNKS)
    assert ci_small["lo"] < point < ci_small["hi"]
    assert ci_large["lo"] < point < ci_large["hi"]
    assert ci_large["hi"] - ci_large["lo"] < 0.5 * (ci_small["hi"] - ci_small["lo"])
    assert reduction_interval(small, "probe:x@0.95", N_CHUNKS) == ci_small  # seeded


def test_with_intervals_fills_a_saved_result_without_changing_its_numbers():
    saved = json.loads((ROOT / "benchmarks/results/context_cutoff_query_confirm.json").read_text())
    before = copy.deepcopy(saved)
    out = with_intervals(saved)
    ci = out["calibrated"]["token_reduction_ci"]
    assert ci["n"] == out["calibrated"]["vs_full"]["n"] == 400
    assert ci["lo"] < out["calibrated"]["token_reduction"] < ci["hi"]
    for name, (lo, hi) in ci["per_dataset"].items():
        assert lo < out["calibrated"]["per_dataset"][name]["token_reduction"] < hi
    for key in ("token_reduction", "accuracy_cutoff", "accuracy_full", "vs_full", "per_dataset", "tables"):
        assert out[key] == before[key]


def test_tables_without_examples_have_no_interval():
    tables = {"a": {"main": "probe:x@0.95", "examples": []}}
    result = {"tables": tables, "calibrated": {"method": "probe:x@0.95"}}
    assert with_intervals(result)["token_reduction_ci"] is None


@pytest.mark.parametrize(
    "name",
    [
        "context_cutoff.json",
        "context_cutoff_query.json",
        "context_cutoff_query_confirm.json",
        "context_cutoff.gemma3-270m.json",
        "context_cutoff_confirm.gemma3-270m.json",
    ],
)
def test_committed_results_carry_their_intervals(name):
    """Each committed cutoff result holds the intervals `--reuse` computes from its own tables."""
    saved = json.loads((ROOT / "benchmarks/results" / name).read_text())
    again = with_intervals(copy.deepcopy(saved))
    assert saved["token_reduction_ci"] == again["token_reduction_ci"]
    assert saved["calibrated"]["token_reduction_ci"] == again["calibrated"]["token_reduction_ci"]


def test_answer_rule_check_lists_only_verdicts_the_truncation_rule_can_change():
    main = "probe:x@0.95"
    ex = [
        {"id": "a", "answers": {"9": "Warszawa"}, "gold": ["miasto stołeczne Warszawa"]},  # inside the alias
        {"id": "b", "answers": {"9": "the city of Paris"}, "gold": ["Paris"]},  # holds the whole alias
        {"id": "c", "answers": {"9": "Rome"}, "gold": ["Paris"]},  # wrong either way
    ]
    result = {"tables": {"d": {"main": main, "examples": ex}}, "manifest": {}}
    answers = with_answer_rule(result)["manifest"]["answers"]
    assert answers["truncation_recorded"] is False
    assert answers["answers_checked"] == 3
    assert [d["id"] for d in answers["verdicts_that_depend_on_truncation"]] == ["a"]
    recorded = {"tables": {}, "manifest": {"answers": {"matching": "whole_word"}}}
    assert with_answer_rule(copy.deepcopy(recorded)) == recorded  # a result that records its rule is left alone


def test_committed_smollm2_results_are_checked_against_the_truncation_rule():
    for name in ("context_cutoff.json", "context_cutoff_query.json", "context_cutoff_query_confirm.json"):
        answers = json.loads((ROOT / "benchmarks/results" / name).read_text())["manifest"]["answers"]
        assert answers["truncated"] and answers["truncation_recorded"] is False
        assert all(len(d["answer"].split()) == 1 for d in answers["verdicts_that_depend_on_truncation"])
    confirm = json.loads((ROOT / "benchmarks/results/context_cutoff_query_confirm.json").read_text())
    assert confirm["manifest"]["answers"]["verdicts_that_depend_on_truncation"] == []
