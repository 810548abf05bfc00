"""The evidence a probe card carries: intervals, operating points and controls.

A reviewer's questions, each answered by one function:
- how wide is the interval? `metric_intervals`: balanced accuracy and AUROC with 95% percentile
  bootstrap intervals over the evaluated rows (seeded);
- how useful at a low false-alarm rate? `recall_at_fpr`: recall of the positive class at 1% and
  5% false-positive rate (on the ROC curve, the best recall whose FPR does not exceed it);
- does the pipeline leak? `shuffle_control`: the same head fitted on shuffled training labels
  (it must score near chance);
- does the question's surface alone predict it? a random-model control: the same pipeline on the
  model's random-init twin's features (`control_metrics` with those features), and whether the
  real probe beats it beyond the intervals (`beats`);
- the majority baseline: always predicting the majority class scores balanced accuracy 0.5 and
  AUROC 0.5 by construction, so it is stated, not fitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve

from ..errors import InternalsError

FPRS = (0.01, 0.05)
MAJORITY = {"balanced_accuracy": 0.5, "auroc": 0.5, "why": "always the majority class: chance by construction"}


def positive_scores(estimator: Any, X: ArrayLike, positive: Any = 1) -> np.ndarray:
    """P(positive class) [n] from a fitted classifier on X [n, ...]."""
    return estimator.predict_proba(X)[:, list(estimator.classes_).index(positive)]


def metric_intervals(
    y: ArrayLike, p: ArrayLike, threshold: float = 0.5, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict:
    """Balanced accuracy (at `threshold`) and AUROC of scores p [n] against labels y [n] in {0, 1},
    each {"value", "low", "high"} with a percentile-bootstrap interval over rows; draws with one
    class only are left out of the interval (counted in "n_boot_used")."""
    labels, scores = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    if len(np.unique(labels)) < 2:
        raise InternalsError("metric intervals need both classes among the evaluated rows")
    pred = (scores >= threshold).astype(int)
    rng = np.random.default_rng(seed)
    ba: list[float] = []
    au: list[float] = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(labels), len(labels))
        if len(np.unique(labels[idx])) < 2:
            continue
        ba.append(balanced_accuracy_score(labels[idx], pred[idx]))
        au.append(roc_auc_score(labels[idx], scores[idx]))
    tail = (1 - level) / 2 * 100

    def cell(value: float, draws: list[float]) -> dict[str, float]:
        return {
            "value": float(value),
            "low": float(np.percentile(draws, tail)),
            "high": float(np.percentile(draws, 100 - tail)),
        }

    return {
        "balanced_accuracy": cell(balanced_accuracy_score(labels, pred), ba),
        "auroc": cell(roc_auc_score(labels, scores), au),
        "n": int(len(labels)),
        "n_positive": int(labels.sum()),
        "n_boot_used": len(ba),
        "level": level,
    }


def recall_at_fpr(y: ArrayLike, p: ArrayLike, fprs: Sequence[float] = FPRS) -> dict[str, float]:
    """Recall of the positive class (labels y [n], scores p [n]) at each false-positive rate in
    `fprs` ("0.01" -> recall)."""
    fpr, tpr, _ = roc_curve(np.asarray(y).astype(int), np.asarray(p, dtype=float))
    return {f"{f:g}": float(tpr[fpr <= f].max()) if np.any(fpr <= f) else 0.0 for f in fprs}


def shuffle_control(
    fit: Callable[[np.ndarray], Any], y_train: ArrayLike, X_test: ArrayLike, y_test: ArrayLike, seed: int = 0
) -> dict:
    """`fit(labels)` -> a head fitted as the probe was, on these training labels; here a seeded
    permutation of them. Scored on the test rows: a pipeline that does not leak scores near 0.5."""
    y_perm = np.random.default_rng(seed).permutation(np.asarray(y_train))
    return metric_intervals(y_test, positive_scores(fit(y_perm), X_test), seed=seed)


def control_metrics(estimator: Any, X_test: ArrayLike, y_test: ArrayLike, seed: int = 0) -> dict:
    """Intervals of a control head (e.g. fitted on the random-init twin's features of the same rows)."""
    return metric_intervals(y_test, positive_scores(estimator, X_test), seed=seed)


def beats(real: dict, control: dict, metric: str = "balanced_accuracy") -> bool:
    """Whether the real probe's interval lies wholly above the control's."""
    return bool(real[metric]["low"] > control[metric]["high"])


def evidence(
    estimator: Any,
    fit: Callable[[np.ndarray], Any],
    y_train: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    *,
    seed: int = 0,
    controls: dict | None = None,
) -> dict:
    """The card's evidence for a fitted probe evaluated on the test rows X_test [n, d], y_test [n]:
    intervals, recall at 1% / 5% FPR, the label-shuffle control (`fit` refits the head as it was
    fitted, on given training labels), the majority baseline, and each control in `controls`
    (name -> intervals dict, e.g. the random-model control) with whether the probe beats it beyond
    the intervals."""
    p = positive_scores(estimator, X_test)
    real = metric_intervals(y_test, p, seed=seed)
    shuffled = shuffle_control(fit, y_train, X_test, y_test, seed=seed)
    ba = shuffled["balanced_accuracy"]
    out = {
        "test": real,
        "recall_at_fpr": recall_at_fpr(y_test, p),
        "majority_baseline": MAJORITY,
        "label_shuffle_control": shuffled | {"near_chance": bool(ba["low"] <= 0.5 <= ba["high"])},
    }
    for name, control in (controls or {}).items():
        out[name] = control | {"probe_beats_it": beats(real, control)}
    return out
