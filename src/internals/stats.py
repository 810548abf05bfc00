"""Paired significance of two systems answering the same questions; intervals of proportions and means."""

from __future__ import annotations

import warnings

import numpy as np

from .errors import InternalsError


def mcnemar(new, old) -> dict:
    """`new` and `old`: per question, right (True) or wrong. Wins (new right, old wrong), losses
    (the reverse) and the exact two-sided McNemar p-value (a binomial test on the discordant pairs)."""
    from scipy.stats import binomtest

    new, old = np.asarray(new, dtype=bool), np.asarray(old, dtype=bool)
    wins, losses = int(np.sum(new & ~old)), int(np.sum(old & ~new))
    p = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return {"wins": wins, "losses": losses, "p_value": float(p)}


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n (NaN, NaN for n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def bootstrap_mean(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Mean over units and its percentile-bootstrap interval, for every cell at once.

    values: [n_units, *cells] (e.g. prompts x categories x layers); NaN marks a cell a unit does
        not have (it is left out of that cell's mean). Every cell is resampled with the same
        n_boot draws of units with replacement, seeded, so intervals of cells are comparable.
    Returns {"mean", "lo", "hi", "n"}: arrays [*cells] ("n": units with a value; a cell no unit
        has, or no draw has, is NaN).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 1 or v.shape[0] < 1:
        raise InternalsError(f"bootstrap_mean needs at least one unit, got shape {v.shape}")
    if n_boot < 1 or not 0 < level < 1:
        raise InternalsError(f"bootstrap_mean needs n_boot >= 1 and 0 < level < 1, got {n_boot}, {level}")
    flat = v.reshape(v.shape[0], -1)
    have = np.isfinite(flat)
    filled = np.where(have, flat, 0.0)
    n = have.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(0) / n
        # a draw is a count per unit (multinomial): sums over a draw are one matrix product
        counts = np.random.default_rng(seed).multinomial(v.shape[0], np.full(v.shape[0], 1 / v.shape[0]), size=n_boot)
        draws = (counts @ filled) / (counts @ have)
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():  # cells without values give NaN, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    shape = v.shape[1:]
    return {"mean": mean.reshape(shape), "lo": lo.reshape(shape), "hi": hi.reshape(shape), "n": n.reshape(shape)}


def ratio_interval(num, den, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile-bootstrap interval of the pooled ratio sum(num) / sum(den) over units (e.g. voids
    over (token, block) pairs, per prompt): units resampled with replacement, n_boot seeded draws
    (a draw with no denominator counts as 0). Returns [lo, hi]."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 1:
        raise InternalsError(f"ratio_interval needs two equal-length 1-d samples, got shapes {a.shape} and {b.shape}")
    counts = np.random.default_rng(seed).multinomial(len(a), np.full(len(a), 1 / len(a)), size=n_boot)
    draws = (counts @ a) / np.maximum(counts @ b, 1)
    tail = (1 - level) / 2 * 100
    return [float(x) for x in np.percentile(draws, [tail, 100 - tail])]


def median_ratio(values, base, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Median over paired repeats of values[i] / base[i] (e.g. a timed call over the plain call of
    the same interleaved repeat) and a percentile-bootstrap interval of that median (repeats
    resampled with replacement, n_boot seeded draws). Returns {"median", "lo", "hi", "n"}."""
    v, b = np.asarray(values, dtype=float), np.asarray(base, dtype=float)
    if v.shape != b.shape or v.ndim != 1 or len(v) < 1:
        raise InternalsError(f"median_ratio needs two equal-length 1-d samples, got shapes {v.shape} and {b.shape}")
    r = v / b
    draws = np.median(r[np.random.default_rng(seed).integers(0, len(r), size=(n_boot, len(r)))], axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return {"median": float(np.median(r)), "lo": float(lo), "hi": float(hi), "n": len(r)}


def paired_log_ratio(new, old, level: float = 0.95) -> dict:
    """Replicates (e.g. seeds) measured under two arms: the geometric mean of new[i] / old[i] with its
    Student-t interval, and the two-sided paired t-test of mean log(new / old) = 0, plus how many
    replicates have new < old. Needs at least two replicates of positive values.
    Returns {"ratio", "lo", "hi", "p_value", "n", "lower", "log_ratios"}."""
    from scipy.stats import t as student_t

    v, b = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    if v.shape != b.shape or v.ndim != 1 or len(v) < 2:
        raise InternalsError(f"paired_log_ratio needs two equal-length 1-d samples of >= 2, got {v.shape}, {b.shape}")
    if not (np.all(v > 0) and np.all(b > 0)):
        raise InternalsError("paired_log_ratio needs positive values (it compares logs)")
    d = np.log(v) - np.log(b)
    n, mean, se = len(d), float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    q = float(student_t.ppf(0.5 + level / 2, n - 1))
    p = float(2 * student_t.sf(abs(mean) / se, n - 1)) if se > 0 else (0.0 if mean else 1.0)
    return {
        "ratio": float(np.exp(mean)),
        "lo": float(np.exp(mean - q * se)),
        "hi": float(np.exp(mean + q * se)),
        "p_value": p,
        "n": n,
        "lower": int(np.sum(d < 0)),
        "log_ratios": [float(x) for x in d],
    }
