"""Scores for the cutoff table: lenient answer match, stopping points, token reduction, F1."""

from __future__ import annotations

import re
import string
from typing import Sequence

import numpy as np
from sklearn.metrics import f1_score

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalize(text: str) -> str:
    """SQuAD-style: lower case, punctuation and articles dropped, whitespace collapsed."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def lenient_match(prediction: str, answers: Sequence[str]) -> bool:
    """True when the normalised prediction contains a normalised gold alias or is contained in one
    (whole words), as the FactCheckmate evaluation does. An empty prediction never matches."""
    p = normalize(prediction)
    if not p:
        return False
    for gold in answers:
        g = normalize(gold)
        if g and (f" {g} " in f" {p} " or f" {p} " in f" {g} "):
            return True
    return False


def first_at_least(scores: Sequence[float], threshold: float) -> int:
    """Index of the first chunk whose score reaches `threshold`; the last chunk when none does."""
    hit = np.flatnonzero(np.asarray(scores) >= threshold)
    return int(hit[0]) if hit.size else len(scores) - 1


def token_reduction(total: Sequence[int], read: Sequence[int]) -> float:
    """sum(context tokens) / sum(context tokens read): 1.0 means nothing saved."""
    return float(np.sum(total) / max(np.sum(read), 1))


def f1(y_true, y_pred) -> float:
    return float(f1_score(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), zero_division=0))
