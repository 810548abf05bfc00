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


def test_paired_log_ratio_matches_a_paired_t_test_on_logs():
    from scipy.stats import ttest_rel

    from internals.stats import paired_log_ratio

    old = np.array([1240.6, 1180.0, 1302.5, 1210.2])
    new = old * np.array([0.88, 0.90, 0.87, 0.91])
    got = paired_log_ratio(new, old)
    assert got["p_value"] == pytest.approx(ttest_rel(np.log(new), np.log(old)).pvalue)
    assert got["ratio"] == pytest.approx(np.exp(np.mean(np.log(new / old))))
    assert got["lo"] < got["ratio"] < got["hi"] < 1.0  # every seed lower: the interval is below 1
    assert got["lower"] == 4 and got["n"] == 4
    flat = paired_log_ratio([2.0, 3.0, 5.0], [2.0, 3.0, 5.0])  # identical arms: ratio 1, p 1
    assert flat["ratio"] == 1.0 and flat["p_value"] == 1.0 and flat["lower"] == 0
    mixed = paired_log_ratio([0.9, 1.1, 0.95, 1.05], [1.0, 1.0, 1.0, 1.0])
    assert mixed["lo"] < 1.0 < mixed["hi"] and mixed["p_value"] > 0.5
    with pytest.raises(InternalsError):
        paired_log_ratio([1.0], [2.0])
    with pytest.raises(InternalsError):
        paired_log_ratio([1.0, -1.0], [1.0, 1.0])
