"""Baselines every probe must beat, read off the same passes as the probes.

- position only: a logistic regression on the chunk's position alone ((k + 1) / n_chunks); it
  can only learn "stop after chunk j", the same for every example.
- self-assessment: the model is asked at each boundary whether the context so far suffices
  (`prompting.yes_probability`, Yes vs No logits); it stops at the first Yes.
- fixed truncation: every context cut at the same fraction, the token budget the probe used.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ...errors import InternalsError
from .probes import ProbeInputError


def positions(chunk_index, n_chunks: int) -> np.ndarray:
    """[samples, 1] the prefix's share of the context, (k + 1) / n_chunks."""
    return ((np.asarray(chunk_index, dtype=float) + 1) / n_chunks).reshape(-1, 1)


def _column(X, one_column: bool = True):
    """A vector of chunk indices [samples] as one column [samples, 1] when the baseline reads one
    column; other X as given (validate_data checks it, and refuses a 1-D X with "Reshape your data")."""
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    return np.asarray(X).reshape(-1, 1) if ndim == 1 and one_column else X


class PositionBaseline(ClassifierMixin, BaseEstimator):
    """LogisticRegression(class_weight="balanced") on the chunk position alone.

    X: chunk indices, [samples] (as the cutoff pipeline passes them) or [samples, 1]; each is read
    as the position (k + 1) / n_chunks. More columns (sklearn's generic checks pass some) are each
    read the same way. y: [samples], two classes; the pipeline's are 0/1, 1 meaning "the prefix
    suffices" (`classes_[1]`).

    Fitted attributes: ``model_`` the regression, ``classes_`` [2], ``n_features_in_``.
    """

    def __init__(self, n_chunks: int = 10):
        self.n_chunks = n_chunks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y) -> PositionBaseline:
        X, y = validate_data(self, _column(X), y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:  # "one class": the wording check_estimator looks for
            raise ProbeInputError("position baseline: the labels are all one class")
        if len(classes) > 2:
            raise ProbeInputError(
                f"position baseline: Only binary classification is supported, y has {len(classes)} classes"
            )
        self.model_ = LogisticRegression(class_weight="balanced", max_iter=2000).fit((X + 1) / self.n_chunks, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """[samples, 2]: P(classes_[0]), P(classes_[1]) for prefixes at chunk indices X."""
        check_is_fitted(self)
        X = validate_data(self, _column(X, self.n_features_in_ == 1), dtype=np.float64, reset=False)
        return self.model_.predict_proba((X + 1) / self.n_chunks)

    def proba(self, chunk_index) -> np.ndarray:
        """[samples] P(sufficient) for prefixes at these chunk indices."""
        return self.predict_proba(chunk_index)[:, 1]

    def predict(self, X) -> np.ndarray:
        """[samples] classes_[1] where P(classes_[1]) >= 0.5, else classes_[0]."""
        positive = self.proba(X) >= 0.5  # first: it raises NotFittedError before classes_ is read
        return self.classes_[positive.astype(int)]

    def to_dict(self) -> dict:
        """The fitted one-column regression as JSON (n_chunks, coef, intercept): train.json's "position"."""
        check_is_fitted(self)
        if self.n_features_in_ != 1 or list(self.classes_) != [0, 1]:
            raise InternalsError(
                "only a position baseline fitted on one column of chunk indices with 0/1 labels "
                "can be written as a dict"
            )
        return {
            "n_chunks": self.n_chunks,
            "coef": float(self.model_.coef_[0, 0]),
            "intercept": float(self.model_.intercept_[0]),
        }

    @classmethod
    def from_dict(cls, d: dict) -> PositionBaseline:
        """The baseline `to_dict` wrote, fitted."""
        out = cls(int(d["n_chunks"]))
        model = LogisticRegression(class_weight="balanced", max_iter=2000)
        model.coef_, model.intercept_ = np.array([[d["coef"]]]), np.array([d["intercept"]])
        model.classes_, model.n_features_in_ = np.array([0, 1]), 1
        out.model_, out.classes_, out.n_features_in_ = model, model.classes_, 1
        return out


def fixed_chunk(budget: float, n_chunks: int) -> int:
    """The chunk index whose boundary is nearest to reading `budget` (a fraction) of every context."""
    return int(np.clip(round(budget * n_chunks) - 1, 0, n_chunks - 1))
