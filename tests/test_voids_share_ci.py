"""The void share's bootstrap interval over prompts (`voids.report.void_share_interval`)."""

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
