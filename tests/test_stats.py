"""Paired tests and intervals of `internals.stats` (McNemar for the voids and FactCheckmate benchmarks, paired time ratios)."""

import numpy as np
import pytest
from scipy.stats import binomtest

from internals.errors import InternalsError
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


def test_median_ratio_pairs_repeats_and_brackets_the_median():
    from internals.stats import median_ratio

    base = [1.0, 2.0, 4.0, 8.0, 16.0]
    same = median_ratio([2 * b for b in base], base)  # every paired ratio is 2, whatever the drift
    assert same == {"median": 2.0, "lo": 2.0, "hi": 2.0, "n": 5}
    ratios = [1.00, 1.02, 1.05, 1.01, 1.30, 0.99, 1.03]
    got = median_ratio([r * 3.0 for r in ratios], [3.0] * len(ratios))
    assert got["median"] == pytest.approx(1.02) and got["lo"] <= 1.02 <= got["hi"]
    assert min(ratios) <= got["lo"] and got["hi"] <= max(ratios)
    assert median_ratio([r * 3.0 for r in ratios], [3.0] * len(ratios)) == got  # seeded
    with pytest.raises(InternalsError, match="equal-length"):
        median_ratio([1.0, 2.0], [1.0])
