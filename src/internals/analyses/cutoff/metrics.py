"""Scores for the cutoff table: stopping points, token reduction, F1 (answers: `internals.answers`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

MATCHING = "whole_word"  # internals.answers: ours (whole words), the cutoff analysis's rule


def first_at_least(scores: Sequence[float] | np.ndarray, threshold: float) -> int:
    """Index of the first chunk whose score reaches `threshold` (scores: [chunks]); the last chunk when none does."""
    hit = np.flatnonzero(np.asarray(scores) >= threshold)
    return int(hit[0]) if hit.size else len(scores) - 1


def token_reduction(total: Sequence[int], read: Sequence[int]) -> float:
    """sum(context tokens) / sum(context tokens read): 1.0 means nothing saved."""
    return float(np.sum(total) / max(np.sum(read), 1))


def f1(y_true, y_pred) -> float:
    return float(f1_score(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), zero_division=0))


def reduction_interval(
    tables: dict[str, dict], method: str, n_chunks: int, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict:
    """Percentile-bootstrap interval of `method`'s token reduction, from the per-example detail of
    `evaluate_cutoff` tables ({dataset: table}; each example's `n_tokens` and `stops[method]`).

    The examples of each dataset are resampled with replacement (n_boot seeded draws), its
    reduction recomputed as a ratio of sums (`token_reduction`), and the headline, the mean over
    datasets, taken per draw. Returns {"lo", "hi", "n", "n_boot", "per_dataset": {name: [lo, hi]}}.
    """
    from .chunks import boundaries

    tail = (1 - level) / 2 * 100
    rng = np.random.default_rng(seed)
    draws, per = [], {}
    for name, table in tables.items():
        ex = table["examples"]
        total = np.array([e["n_tokens"] for e in ex], dtype=float)
        read = np.array([boundaries(e["n_tokens"], n_chunks)[e["stops"][method]] for e in ex], dtype=float)
        counts = rng.multinomial(len(ex), np.full(len(ex), 1 / len(ex)), size=n_boot)
        d = (counts @ total) / np.maximum(counts @ read, 1)
        draws.append(d)
        lo, hi = np.percentile(d, [tail, 100 - tail])
        per[name] = [round(float(lo), 4), round(float(hi), 4)]
    lo, hi = np.percentile(np.mean(draws, axis=0), [tail, 100 - tail])
    n = sum(len(t["examples"]) for t in tables.values())
    return {"lo": round(float(lo), 4), "hi": round(float(hi), 4), "n": n, "n_boot": n_boot, "per_dataset": per}
