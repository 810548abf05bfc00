"""Train and evaluate probes at every layer; pick the best layer on validation, never on test.

Splits are the data package's seeded 80/10/10 split by record (`internals.data.split_of`), so a
question is in the same split for every model and setting. Metrics, all with class 1 =
hallucination: balanced accuracy (the paper's accuracy on balanced test sets equals it in
expectation), AUROC, macro F1 (the paper's `f1_score(average="macro")`), F1 of the
hallucination class, accuracy, and the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from tqdm.auto import tqdm

from ...errors import InternalsError
from ...heads import MLPProbe, fit_scaled_mlp, logistic_probe, scaled_mlp_probe

HEADS = ("mlp", "mlp_scaled", "logistic")
METRICS = ("balanced_accuracy", "auroc", "f1", "f1_hallucination", "accuracy")


def make_head(name: str, seed: int = 0):
    """A fresh, unfitted head: "mlp" (the paper's MLPProbe), "mlp_scaled" (ours: standardised
    features, then the paper's MLP) or "logistic" (the baseline, standardised too)."""
    if name == "mlp":
        return MLPProbe(random_state=seed)
    if name == "mlp_scaled":
        return scaled_mlp_probe(random_state=seed)
    if name == "logistic":
        return logistic_probe(random_state=seed)
    raise InternalsError(f"unknown head {name!r}: use one of {', '.join(HEADS)}")


@dataclass
class Split:
    """Row indices [k] of each split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def split_indices(dataset, seed: int = 0) -> Split:
    """The rows of `dataset` in each of the data package's seeded train/validation/test splits."""
    from ...data import split_of

    names = np.array([split_of(r, seed) for r in dataset])
    return Split(*(np.flatnonzero(names == s) for s in ("train", "validation", "test")))


def fit_head(name: str, X: np.ndarray, y: np.ndarray, split: Split, seed: int = 0):
    """Fit a head on the train rows; the MLP early-stops on the validation rows."""
    if len(np.unique(y[split.train])) < 2:
        raise InternalsError(
            f"the train split has only one class ({len(split.train)} rows): a probe needs factual "
            "and hallucinated answers in it; use more questions"
        )
    head = make_head(name, seed)
    if name == "mlp":
        return head.fit(X[split.train], y[split.train], X_val=X[split.validation], y_val=y[split.validation])
    if name == "mlp_scaled":
        return fit_scaled_mlp(head, X[split.train], y[split.train], X[split.validation], y[split.validation])
    return head.fit(X[split.train], y[split.train])


def probe_metrics(estimator, X: np.ndarray, y: np.ndarray) -> dict:
    """Metrics of a fitted probe on rows X [n, d] with labels y [n] (1 = hallucination)."""
    p = estimator.predict_proba(X)[:, list(estimator.classes_).index(1)]
    pred = (p >= 0.5).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else float("nan"),
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
        "f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "f1_hallucination": float(f1_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "flagged_rate": float(pred.mean()),
        "n": int(len(y)),
        "n_hallucinated": int(y.sum()),
    }


@dataclass
class SweepResult:
    """Per head: per-layer metrics on validation and test, and the layer chosen on validation.

    `results[head]` = {"layers": [...], "validation": {metric: [per layer]}, "test": {...},
    "best_layer": int, "best": {"validation": {...}, "test": {...}}}; `estimators[head]` is
    the probe fitted at that head's best layer.
    """

    results: dict = field(default_factory=dict)
    estimators: dict = field(default_factory=dict)


def best_layer(validation: dict, layers: list[int]) -> int:
    """The layer with the highest validation balanced accuracy (ties: higher validation AUROC)."""
    raw = [(validation["balanced_accuracy"][i], validation["auroc"][i]) for i in range(len(layers))]
    keys = [tuple(-np.inf if np.isnan(v) else v for v in k) for k in raw]
    return layers[max(range(len(layers)), key=lambda i: keys[i])]


def sweep(features, y: np.ndarray, split: Split, heads=HEADS, seed: int = 0, progress: bool = True) -> SweepResult:
    """Fit every head at every captured layer of `features` (a `Features`) and evaluate it."""
    out = SweepResult()
    for name in heads:
        per: dict[str, dict[str, list]] = {"validation": {m: [] for m in METRICS}, "test": {m: [] for m in METRICS}}
        fitted: dict = {}
        rows: dict[str, list] = {"validation": [], "test": []}
        for layer in tqdm(features.layers, desc=f"sweep {name}", unit="layer", disable=not progress):
            X = features.layer(layer)
            est = fit_head(name, X, y, split, seed)
            for part in ("validation", "test"):
                idx = getattr(split, part)
                m = probe_metrics(est, X[idx], y[idx])
                rows[part].append(m)
                for k in METRICS:
                    per[part][k].append(m[k])
            fitted[layer] = est
        best = best_layer(per["validation"], features.layers)
        i = features.layers.index(best)
        out.results[name] = {
            "layers": list(features.layers),
            **per,
            "best_layer": best,
            "best": {"validation": rows["validation"][i], "test": rows["test"][i]},
        }
        out.estimators[name] = fitted[best]
    return out
