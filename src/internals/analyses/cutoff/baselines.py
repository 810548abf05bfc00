"""Baselines every probe must beat, read off the same passes as the probes.

- position only: a logistic regression on the chunk's position alone ((k + 1) / n_chunks); it
  can only learn "stop after chunk j", the same for every example.
- self-assessment: the model is asked at each boundary whether the context so far suffices
  (`prompting.yes_probability`, Yes vs No logits); it stops at the first Yes.
- fixed truncation: every context cut at the same fraction, the token budget the probe used.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from ...errors import InternalsError


def positions(chunk_index, n_chunks: int) -> np.ndarray:
    """[samples, 1] the prefix's share of the context, (k + 1) / n_chunks."""
    return ((np.asarray(chunk_index, dtype=float) + 1) / n_chunks).reshape(-1, 1)


class PositionBaseline:
    """LogisticRegression(class_weight="balanced") on the chunk position alone."""

    def __init__(self, n_chunks: int = 10):
        self.n_chunks = n_chunks
        self.model = LogisticRegression(class_weight="balanced", max_iter=2000)

    def fit(self, chunk_index, y) -> "PositionBaseline":
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise InternalsError("position baseline: the labels are all one class")
        self.model.fit(positions(chunk_index, self.n_chunks), y)
        return self

    def proba(self, chunk_index) -> np.ndarray:
        """[samples] P(sufficient) for prefixes at these chunk indices."""
        return self.model.predict_proba(positions(chunk_index, self.n_chunks))[:, 1]

    def predict(self, chunk_index) -> np.ndarray:
        return (self.proba(chunk_index) >= 0.5).astype(int)

    def to_dict(self) -> dict:
        return {"n_chunks": self.n_chunks, "coef": float(self.model.coef_[0, 0]), "intercept": float(self.model.intercept_[0])}

    @classmethod
    def from_dict(cls, d: dict) -> "PositionBaseline":
        out = cls(int(d["n_chunks"]))
        out.model.coef_, out.model.intercept_ = np.array([[d["coef"]]]), np.array([d["intercept"]])
        out.model.classes_, out.model.n_features_in_ = np.array([0, 1]), 1
        return out


def fixed_chunk(budget: float, n_chunks: int) -> int:
    """The chunk index whose boundary is nearest to reading `budget` (a fraction) of every context."""
    return int(np.clip(round(budget * n_chunks) - 1, 0, n_chunks - 1))
