"""Sufficiency probes: one logistic regression per (layer, head), the top-k by validation F1 averaged.

As in the paper's code (`probe.py`, `FinalClassifier.evaluate_single_head`): each head's probe is
``LogisticRegression(max_iter=2000, class_weight="balanced")`` on that head's prefix-mean
vector, fitted on the training prefixes and scored by F1 on held-out prefixes; heads are
ranked by that F1. The paper's code then trains a second-stage ensemble of boosted trees
and other classifiers on the concatenated top heads (their config: 5 heads, the 4 best
classifier families); here the top-k heads' own probabilities are averaged (k=5 by
default, the paper's text; `k=4` gives their classifier count). `standardize=True` puts a
StandardScaler before each regression (not in their head selection; a named option).

Saved through `internals.heads` (safetensors + JSON card with the model fingerprint, as the
FactCheckmate probes): the chosen heads' probes by name, the [layers, heads] F1 matrix in the
card; loading never unpickles and refuses a probe of another model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from ...errors import InternalsError
from ...heads import logistic_probe

ESTIMATOR = "cutoff.HeadEnsemble"


def _as_4d(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise InternalsError(f"{name} must be [samples, layers, heads, width], got shape {X.shape}")
    return X


def split_groups(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation rows: whole groups (one example's prefixes) go one way."""
    units = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(fraction * len(units))))
    if len(units) < 2:
        raise InternalsError("need at least 2 examples to hold some out for head selection")
    val = set(rng.permutation(units)[:min(n_val, len(units) - 1)].tolist())
    return np.asarray([g in val for g in groups])


class HeadEnsemble(ClassifierMixin, BaseEstimator):
    """Per-head logistic probes; predicts with the mean probability of the top-k heads.

    X: [samples, layers, heads, width] (prefix means from `features.stream`); y: [samples] 0/1.

    Fitted attributes: ``head_f1_`` [layers, heads] validation F1 of every head's probe;
    ``heads_`` [k, 2] (layer, head) of the chosen heads, best first; ``estimators_`` their probes.
    """

    def __init__(self, k: int = 5, C: float = 1.0, max_iter: int = 2000, standardize: bool = False,
                 validation_fraction: float = 0.2, random_state: int = 0):
        self.k = k
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _probe(self):
        if self.standardize:  # the project's logistic head: StandardScaler, then the same regression
            return logistic_probe(C=self.C, max_iter=self.max_iter, random_state=None)
        return LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")

    def fit(self, X, y, groups=None, X_val=None, y_val=None, progress: bool = False) -> "HeadEnsemble":
        """Fit every head's probe on (X, y), rank by F1 on (X_val, y_val), keep the top k.

        Without X_val, a `validation_fraction` of `groups` (default: each row its own group) is
        held out. Labels must hold both classes in the training and validation rows.
        """
        from tqdm.auto import tqdm

        X, y = _as_4d(X), np.asarray(y).astype(int)
        if len(X) != len(y):
            raise InternalsError(f"X has {len(X)} rows but y has {len(y)}")
        if X_val is None:
            val = split_groups(np.arange(len(y)) if groups is None else np.asarray(groups), self.validation_fraction,
                               self.random_state)
            X, X_val, y, y_val = X[~val], X[val], y[~val], y[val]
        X_val, y_val = _as_4d(X_val, "X_val"), np.asarray(y_val).astype(int)
        for part, labels in (("training", y), ("validation", y_val)):
            if len(np.unique(labels)) < 2:
                raise InternalsError(f"the {part} prefixes are all one class: use more examples (spread evidence depths)")
        n_layers, n_heads = X.shape[1:3]
        if not 1 <= self.k <= n_layers * n_heads:
            raise InternalsError(f"k={self.k} must be between 1 and the {n_layers * n_heads} heads")
        f1 = np.zeros((n_layers, n_heads))
        probes = {}
        for layer, head in tqdm([(a, b) for a in range(n_layers) for b in range(n_heads)], desc="head probes",
                                disable=not progress, unit="head"):
            probe = self._probe().fit(X[:, layer, head], y)
            probes[layer, head] = probe
            f1[layer, head] = f1_score(y_val, probe.predict(X_val[:, layer, head]), zero_division=0)
        order = sorted(probes, key=lambda lh: -f1[lh])[: self.k]
        self.head_f1_ = f1
        self.heads_ = np.asarray(order, dtype=int)
        self.estimators_ = [probes[lh] for lh in order]
        self.classes_ = np.array([0, 1])
        self.n_features_shape_ = tuple(X.shape[1:])
        return self

    def head_proba(self, X) -> np.ndarray:
        """[samples, k] P(sufficient) of each chosen head's probe."""
        X = _as_4d(X)
        if tuple(X.shape[1:]) != tuple(self.n_features_shape_):
            raise InternalsError(f"features of shape {X.shape[1:]} do not fit a probe trained on {self.n_features_shape_}")
        return np.stack([est.predict_proba(X[:, l, h])[:, 1] for est, (l, h) in zip(self.estimators_, self.heads_)], 1)

    def predict_proba(self, X) -> np.ndarray:
        """[samples, 2]: column 1 is the mean P(sufficient) over the top-k heads."""
        p = self.head_proba(X).mean(1)
        return np.stack([1 - p, p], 1)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def save_probe(probe: HeadEnsemble, path: str | Path, lm, card: dict | None = None) -> Path:
    """Save the chosen heads' probes with `internals.heads.save_probe` (weights.safetensors + card.json).

    The estimators are stored as "L<layer>.H<head>", best first; the card holds the model's
    describe() (with its fingerprint), the ensemble's params, its heads, the [layers, heads]
    validation F1 matrix, and `card`.
    """
    from ...heads import save_probe as save_dir

    if not hasattr(probe, "estimators_"):
        raise InternalsError("the probe is not fitted: call fit() before saving it")
    named = {f"L{l}.H{h}": est for est, (l, h) in zip(probe.estimators_, probe.heads_)}
    info = {"estimator": ESTIMATOR, "params": probe.get_params(), "feature_shape": list(probe.n_features_shape_),
            "heads": [{"layer": int(l), "head": int(h), "validation_f1": round(float(probe.head_f1_[l, h]), 4)}
                      for l, h in probe.heads_],
            "head_f1": np.asarray(probe.head_f1_).round(6).tolist(), "model": lm.describe(), **(card or {})}
    return save_dir(named, path, info)


def load_probe(path: str | Path, lm=None) -> tuple[HeadEnsemble, dict]:
    """Read a probe saved by `save_probe`; with `lm`, refuse it unless the model fingerprints match."""
    from ...heads import load_probe as load_dir

    path = Path(path)
    if not (path / "card.json").exists():
        raise InternalsError(f"{path} is not a saved cutoff probe (no card.json): "
                             "train one with `internals cutoff train CONFIG`")
    loaded = load_dir(path, model=lm)
    card = loaded.card
    if card.get("estimator") != ESTIMATOR:
        raise InternalsError(f"{path} holds a {card.get('estimator', 'different')} probe, not a cutoff {ESTIMATOR}")
    probe = HeadEnsemble(**card["params"])
    probe.heads_ = np.asarray([[h["layer"], h["head"]] for h in card["heads"]], dtype=int)
    probe.estimators_ = [loaded.estimators[f"L{l}.H{h}"] for l, h in probe.heads_]
    probe.head_f1_ = np.asarray(card["head_f1"])
    probe.classes_, probe.n_features_shape_ = np.array([0, 1]), tuple(card["feature_shape"])
    return probe, card
