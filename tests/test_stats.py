"""Paired McNemar test used by the voids and FactCheckmate benchmarks."""

import numpy as np
import pytest
from scipy.stats import binomtest

from internals.stats import mcnemar


def test_counts_discordant_pairs_and_exact_p():
    new = np.array([1, 1, 1, 0, 0, 1, 1], bool)
    old = np.array([0, 0, 1, 0, 1, 1, 0], bool)
    r = mcnemar(new, old)
    assert (r["wins"], r["losses"]) == (3, 1)
    assert r["p_value"] == pytest.approx(binomtest(3, 4, 0.5).pvalue) == pytest.approx(0.625)


def test_identical_systems_give_p_one():
    assert mcnemar([True, False], [True, False]) == {"wins": 0, "losses": 0, "p_value": 1.0}


def test_wilson_interval_brackets_the_rate_and_stays_in_unit_range():
    from internals.stats import wilson_interval

    lo, hi = wilson_interval(13, 40)
    assert round(lo, 3) == 0.201 and round(hi, 3) == 0.480  # the templates check's "?" row
    lo, hi = wilson_interval(40, 40)
    assert 0.9 < lo < 1.0 and hi == pytest.approx(1.0)
    assert all(v != v for v in wilson_interval(0, 0))  # NaN: no questions, no interval
