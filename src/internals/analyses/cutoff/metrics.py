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
