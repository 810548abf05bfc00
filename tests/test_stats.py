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
