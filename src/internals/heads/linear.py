"""The logistic-regression baseline beside the MLP: standardise, then a class-balanced logistic regression."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def logistic_probe(C: float = 1.0, max_iter: int = 2000, random_state: int | None = 0) -> Pipeline:
    """`Pipeline(StandardScaler, LogisticRegression(class_weight="balanced"))`, an ordinary sklearn
    estimator (clone it, cross-validate it, save it with `internals.heads.save_probe`).

    Class weights "balanced" reweight the loss instead of dropping majority rows, so no data is
    lost; `C` is the inverse L2 strength.
    """
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(C=C, class_weight="balanced", max_iter=max_iter, random_state=random_state)),
        ]
    )
