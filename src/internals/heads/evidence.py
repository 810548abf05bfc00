"""The evidence a probe card carries: intervals, operating points and controls.

A reviewer's questions, each answered by one function:
- how wide is the interval? `metric_intervals`: balanced accuracy and AUROC with 95% percentile
  bootstrap intervals over the evaluated rows (seeded);
- how useful at a low false-alarm rate? `recall_at_fpr`: recall of the positive class at 1% and
  5% false-positive rate (on the ROC curve, the best recall whose FPR does not exceed it);
- does the pipeline leak? `shuffle_control`: the same head fitted, `N_PERMUTATIONS` times, on
  permuted labels of every row its fit sees (training rows, and the validation rows a head
  early-stops on): the permutation null, which must centre near chance, and the real probe's
  permutation p-value against it (sklearn's `permutation_test_score` idea);
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
N_PERMUTATIONS = 20  # the smallest count whose permutation p-value can fall below 0.05 (1 / 21)
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
    fit: Callable[[np.ndarray], Any],
    y_fit: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    seed: int = 0,
    n_permutations: int = N_PERMUTATIONS,
) -> dict:
    """The label-shuffle control: `fit(labels)` -> a head fitted as the probe was, given the labels
    of EVERY row its fit sees (`y_fit`: the training rows and the validation rows it early-stops
    or selects on; a control that permutes the training labels only still selects on the real
    validation labels and scores above chance). Here each of `n_permutations` seeded permutations
    of them, each scored on the test rows. Per metric: "value" the mean over permutations, "low" /
    "high" the 2.5 / 97.5 percentiles of the permutation null, "draws" every permutation's score.
    A pipeline that does not leak centres near 0.5."""
    if n_permutations < 1:
        raise InternalsError(f"shuffle_control needs n_permutations >= 1, got {n_permutations}")
    labels, y_test = np.asarray(y_fit), np.asarray(y_test).astype(int)
    if len(np.unique(y_test)) < 2:
        raise InternalsError("the label-shuffle control needs both classes among the test rows")
    rng = np.random.default_rng(seed)
    ba, au = [], []
    for _ in range(n_permutations):
        p = positive_scores(fit(rng.permutation(labels)), X_test)
        ba.append(float(balanced_accuracy_score(y_test, (p >= 0.5).astype(int))))
        au.append(float(roc_auc_score(y_test, p)))

    def cell(draws: list[float]) -> dict:
        low, high = np.percentile(draws, [2.5, 97.5])
        return {"value": float(np.mean(draws)), "low": float(low), "high": float(high), "draws": draws}

    return {
        "balanced_accuracy": cell(ba),
        "auroc": cell(au),
        "n": int(len(y_test)),
        "n_positive": int(y_test.sum()),
        "n_permutations": n_permutations,
        "permuted": "the labels of every row the fit sees (train and validation)",
    }


def permutation_p_value(real: float, draws: Sequence[float]) -> float:
    """(1 + permutations scoring at least `real`) / (1 + permutations): the real probe's p-value
    against the permutation null (Ojala & Garriga 2010; sklearn's permutation_test_score)."""
    return float((1 + sum(d >= real for d in draws)) / (1 + len(draws)))


def shuffle_summary(real: dict, shuffled: dict) -> dict:
    """The shuffle control with its verdicts: `near_chance` (0.5 lies within the permutation null's
    2.5-97.5 percentile range of balanced accuracy) and the real probe's permutation p-value."""
    ba = shuffled["balanced_accuracy"]
    return shuffled | {
        "near_chance": bool(ba["low"] <= 0.5 <= ba["high"]),
        "probe_p_value": permutation_p_value(real["balanced_accuracy"]["value"], ba["draws"]),
    }


def control_metrics(estimator: Any, X_test: ArrayLike, y_test: ArrayLike, seed: int = 0) -> dict:
    """Intervals of a control head (e.g. fitted on the random-init twin's features of the same rows)."""
    return metric_intervals(y_test, positive_scores(estimator, X_test), seed=seed)


def beats(real: dict, control: dict, metric: str = "balanced_accuracy") -> bool:
    """Whether the real probe's interval lies wholly above the control's."""
    return bool(real[metric]["low"] > control[metric]["high"])


def evidence(
    estimator: Any,
    fit: Callable[[np.ndarray], Any],
    y_fit: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    *,
    seed: int = 0,
    controls: dict | None = None,
) -> dict:
    """The card's evidence for a fitted probe evaluated on the test rows X_test [n, d], y_test [n]:
    intervals, recall at 1% / 5% FPR, the label-shuffle control (`fit` refits the head as it was
    fitted, given the labels `y_fit` of every row its fit sees, see `shuffle_control`), the
    majority baseline, and each control in `controls` (name -> intervals dict, e.g. the
    random-model control) with whether the probe beats it beyond the intervals."""
    p = positive_scores(estimator, X_test)
    real = metric_intervals(y_test, p, seed=seed)
    shuffled = shuffle_summary(real, shuffle_control(fit, y_fit, X_test, y_test, seed=seed))
    out = {
        "test": real,
        "recall_at_fpr": recall_at_fpr(y_test, p),
        "majority_baseline": MAJORITY,
        "label_shuffle_control": shuffled,
    }
    for name, control in (controls or {}).items():
        out[name] = control | {"probe_beats_it": beats(real, control)}
    return out
