"""Sufficiency probes: one logistic regression per (layer, head), the top-k by validation F1 averaged.

As in the paper's code (`probe.py`, `FinalClassifier.evaluate_single_head`): each head's probe is
``LogisticRegression(max_iter=2000, class_weight="balanced")`` on that head's prefix-mean
vector, fitted on the training prefixes and scored by F1 on held-out prefixes; heads are
ranked by that F1. The paper's code then trains a second-stage ensemble of boosted trees
and other classifiers on the concatenated top heads (their config: 5 heads, the 4 best
classifier families); by default (``combine="mean"``) the top-k heads' own probabilities are
averaged (k=5, the paper's text). ``combine="logistic"`` is that second stage with its
logistic-regression member only: the top-k heads' vectors concatenated, clipped to the
training rows' IQR fences, standardised, then ``LogisticRegression(class_weight="balanced")``
(their `FinalClassifier.train_final_classifier`; their tree members cannot be saved without
pickling). Their `preprocess_features` recomputes the IQR fences on whatever batch it is given,
so at inference, one prefix at a time, it clips nothing; here the fences are learned on the
training rows and applied to every row (`IQRClip`). `standardize=True` puts a StandardScaler
before each head's regression (not in their head selection; a named option).

`HeadEnsemble` and `IQRClip` are sklearn estimators: `check_estimator` passes, see
tests/test_heads_estimator_checks.py for the checks waived and why.

Saved through `internals.heads` (safetensors + JSON card with the model fingerprint, as the
FactCheckmate probes): the chosen heads' probes by name, the [layers, heads] F1 matrix in the
card; loading never unpickles and refuses a probe of another model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_array, check_consistent_length, check_X_y, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ...errors import InternalsError
from ...heads import logistic_probe, register_estimator

ESTIMATOR = "cutoff.HeadEnsemble"
COMBINE = ("mean", "logistic")


class ProbeInputError(InternalsError, ValueError):
    """Data a probe cannot fit or read (one class, a wrong shape): an InternalsError, which the CLI
    prints on one line, and the ValueError that sklearn's tools and `check_estimator` expect."""


@register_estimator
class IQRClip(TransformerMixin, BaseEstimator):
    """Clip each feature to [Q1 - w * IQR, Q3 + w * IQR] of the rows it was fitted on (w = 1.5:
    the paper code's `preprocess_features`).

    X: [samples, features]. Fitted: ``low_``, ``high_`` [features] the fences; ``n_features_in_``.
    """

    def __init__(self, whisker: float = 1.5):
        self.whisker = whisker

    def fit(self, X, y=None) -> IQRClip:
        X = validate_data(self, X, dtype=np.float64)
        q1, q3 = np.percentile(X, [25, 75], axis=0)
        self.low_, self.high_ = q1 - self.whisker * (q3 - q1), q3 + self.whisker * (q3 - q1)
        return self

    def transform(self, X) -> np.ndarray:
        """[samples, features] float64, each feature clipped to its fences."""
        check_is_fitted(self)
        return np.clip(validate_data(self, X, dtype=np.float64, reset=False), self.low_, self.high_)


def probe_name(kind: str, combine: str = "mean") -> str:
    """A trained probe's name: the feature kind, with ``+<combine>`` unless the head probabilities are averaged."""
    return kind if combine == "mean" else f"{kind}+{combine}"


def feature_kind(name: str) -> str:
    """The feature kind a probe named by `probe_name` reads ("attn_z+logistic" -> "attn_z")."""
    return name.split("+", 1)[0]


def final_classifier(C: float = 1.0, max_iter: int = 2000) -> Pipeline:
    """The second stage of ``combine="logistic"``: IQR clip, StandardScaler, balanced logistic regression."""
    return Pipeline(
        [
            ("clip", IQRClip()),
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(C=C, class_weight="balanced", max_iter=max_iter)),
        ]
    )


def _ndim(X) -> int:
    """X's number of dimensions, without converting a DataFrame (validate_data keeps its column names)."""
    ndim = getattr(X, "ndim", None)
    return int(ndim) if ndim is not None else np.asarray(X).ndim


def _n_iter(probe) -> int:
    """The solver iterations of a head's regression (alone or the last step of a Pipeline)."""
    final = probe.steps[-1][1] if isinstance(probe, Pipeline) else probe
    return int(np.max(final.n_iter_))


def split_groups(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation rows: whole groups (one example's prefixes) go one way."""
    units = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(fraction * len(units))))
    if len(units) < 2:
        raise ProbeInputError("need at least 2 examples to hold some out for head selection")
    val = set(rng.permutation(units)[: min(n_val, len(units) - 1)].tolist())
    return np.asarray([g in val for g in groups])


class HeadEnsemble(ClassifierMixin, BaseEstimator):
    """Per-head logistic probes; predicts with the mean probability of the top-k heads.

    X: [samples, layers, heads, width] (prefix means from `features.stream`), or [samples, features]
    read as one layer and one head of width `features` (the shape sklearn's generic tools pass:
    `check_estimator`, a `Pipeline` after a 2-D transformer). y: [samples], two classes; the
    cutoff pipeline's are 0/1, 1 meaning "the prefix suffices" (`classes_[1]`).

    With one head there is nothing to rank: it is the ensemble whatever k, and its validation rows
    need not hold both classes. With several, k must not exceed their number.

    Fitted attributes: ``head_f1_`` [layers, heads] validation F1 of every head's probe;
    ``heads_`` [k, 2] (layer, head) of the chosen heads, best first; ``estimators_`` their probes;
    ``n_iter_`` [k] their solver iterations; ``classes_`` [2]; ``n_features_shape_`` (layers,
    heads, width); ``n_features_in_`` (2-D X only: its features); with ``combine="logistic"``,
    ``final_``: the classifier on their concatenated vectors.
    """

    def __init__(
        self,
        k: int = 5,
        C: float = 1.0,
        max_iter: int = 2000,
        standardize: bool = False,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        combine: str = "mean",
    ):
        self.k = k
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.combine = combine

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _probe(self):
        if self.standardize:  # the project's logistic head: StandardScaler, then the same regression
            return logistic_probe(C=self.C, max_iter=self.max_iter, random_state=None)
        return LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")

    def _validate(self, X, y="no_validation", reset: bool = False):
        """X as float32 [samples, layers, heads, width] (2-D X as [samples, 1, 1, features]),
        checked by sklearn's helpers (finite, dense, not empty); with y, (X, y) of as many rows."""
        ndim, fit = _ndim(X), not (isinstance(y, str) and y == "no_validation")
        if ndim == 4:
            if reset:  # n_features_in_ describes a 2-D X only
                for attr in ("n_features_in_", "feature_names_in_"):
                    self.__dict__.pop(attr, None)
            if fit:
                return check_X_y(X, y, allow_nd=True, dtype=np.float32, estimator=self)
            return check_array(X, allow_nd=True, dtype=np.float32, estimator=self)
        if ndim > 2:
            raise ProbeInputError(
                f"X must be [samples, layers, heads, width] or [samples, features] (one head), got shape {np.shape(X)}"
            )
        out = validate_data(self, X, y, reset=reset, dtype=np.float32)  # 1-D X: sklearn's "Expected 2D array"
        return (out[0][:, None, None, :], out[1]) if fit else out[:, None, None, :]

    def _labels(self, y) -> tuple[np.ndarray, np.ndarray]:
        """(classes, y as 0/1 for classes[1]); refuses continuous, one-class and multiclass targets."""
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:  # "one class": the wording check_estimator looks for
            raise ProbeInputError("the training prefixes are all one class: use more examples (spread evidence depths)")
        if len(classes) > 2:
            raise ProbeInputError(f"Only binary classification is supported: y has {len(classes)} classes")
        return classes, (y == classes[1]).astype(int)

    def fit(self, X, y, groups=None, X_val=None, y_val=None, progress: bool = False) -> HeadEnsemble:
        """Fit every head's probe on (X, y), rank by F1 on (X_val, y_val), keep the top k.

        Without X_val, a `validation_fraction` of `groups` (default: each row its own group) is
        held out. Labels must hold both classes in the training rows, and in the validation rows
        unless there is one head. Input errors raise `ProbeInputError` or sklearn's ValueError.
        """
        from tqdm.auto import tqdm

        self._check_combine()  # before the head probes, not after them
        X, y = self._validate(X, y, reset=True)
        classes, y = self._labels(y)
        if X_val is None:
            groups = np.arange(len(y)) if groups is None else column_or_1d(groups)
            check_consistent_length(y, groups)
            val = split_groups(groups, self.validation_fraction, self.random_state)
            X, X_val, y, y_val = X[~val], X[val], y[~val], y[val]
        else:
            X_val, y_val = self._validate(X_val, y_val)
            if X_val.shape[1:] != X.shape[1:]:
                raise ProbeInputError(f"X_val of shape {X_val.shape[1:]} does not fit X of shape {X.shape[1:]}")
            if not np.isin(y_val, classes).all():
                raise ProbeInputError(f"y_val holds labels that y does not ({classes.tolist()})")
            y_val = (y_val == classes[1]).astype(int)
        n_layers, n_heads = X.shape[1:3]
        parts = (("training", y), ("validation", y_val)) if n_layers * n_heads > 1 else (("training", y),)
        for part, labels in parts:
            if len(np.unique(labels)) < 2:
                raise ProbeInputError(
                    f"the {part} prefixes are all one class: use more examples (spread evidence depths)"
                )
        if self.k < 1 or (self.k > n_layers * n_heads > 1):
            raise InternalsError(f"k={self.k} must be between 1 and the {n_layers * n_heads} heads")
        f1 = np.zeros((n_layers, n_heads))
        probes = {}
        for layer, head in tqdm(
            [(a, b) for a in range(n_layers) for b in range(n_heads)],
            desc="head probes",
            disable=not progress,
            unit="head",
        ):
            probe = self._probe().fit(X[:, layer, head], y)
            probes[layer, head] = probe
            f1[layer, head] = f1_score(y_val, probe.predict(X_val[:, layer, head]), zero_division=0)
        order = sorted(probes, key=lambda lh: -f1[lh])[: self.k]
        self.head_f1_ = f1
        self.heads_ = np.asarray(order, dtype=int)
        self.estimators_ = [probes[lh] for lh in order]
        self.n_iter_ = np.asarray([_n_iter(p) for p in self.estimators_])
        self.classes_ = classes
        self.n_features_shape_ = tuple(X.shape[1:])
        return self._fit_final(X, y)

    def fit_final(self, X, y) -> HeadEnsemble:
        """(Re)fit the second stage for ``combine`` on training rows, keeping the chosen heads: the
        same head probes serve every combine (pipeline.train_cutoff_probes fits them once)."""
        self._check_combine()
        check_is_fitted(self, "estimators_")
        X, y = self._validate(X, y)
        check_classification_targets(y)
        return self._fit_final(self._check_shape(X), (y == self.classes_[1]).astype(int))

    def _fit_final(self, X: np.ndarray, y: np.ndarray) -> HeadEnsemble:
        """The second stage on 4-D float32 X and 0/1 y (None for ``combine="mean"``)."""
        self._check_combine()
        self.final_ = (
            final_classifier(self.C, self.max_iter).fit(self._stack(X), y) if self.combine == "logistic" else None
        )
        return self

    def _check_combine(self) -> None:
        if self.combine not in COMBINE:
            raise InternalsError(f"unknown combine {self.combine!r}: use {' or '.join(COMBINE)}")

    def _stack(self, X) -> np.ndarray:
        """[samples, k * width]: the chosen heads' vectors side by side, best head first."""
        return np.concatenate([X[:, l, h] for l, h in self.heads_], 1)

    def _check_shape(self, X: np.ndarray) -> np.ndarray:
        if tuple(X.shape[1:]) != tuple(self.n_features_shape_):
            raise ProbeInputError(
                f"features of shape {X.shape[1:]} do not fit a probe trained on {self.n_features_shape_}"
            )
        return X

    def _check(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._check_shape(self._validate(X))

    def head_proba(self, X) -> np.ndarray:
        """[samples, k] P(classes_[1]) of each chosen head's probe."""
        X = self._check(X)
        return np.stack([est.predict_proba(X[:, l, h])[:, 1] for est, (l, h) in zip(self.estimators_, self.heads_)], 1)

    def predict_proba(self, X) -> np.ndarray:
        """[samples, 2]: column 1 is P(sufficient): the mean over the top-k heads' probes, or with
        ``combine="logistic"`` the final classifier's on their concatenated vectors."""
        if self.combine == "logistic":
            stacked = self._stack(self._check(X))  # first: it raises NotFittedError before final_ is read
            assert self.final_ is not None  # fit_final sets it when combine is "logistic"
            return self.final_.predict_proba(stacked)
        p = self.head_proba(X).mean(1)
        return np.stack([1 - p, p], 1)

    def predict(self, X) -> np.ndarray:
        """[samples] classes_[1] where P(classes_[1]) >= 0.5, else classes_[0]."""
        positive = self.predict_proba(X)[:, 1] >= 0.5  # first: it raises NotFittedError before classes_ is read
        return self.classes_[positive.astype(int)]


def save_cutoff_probe(probe: HeadEnsemble, path: str | Path, lm, card: dict | None = None) -> Path:
    """Save the chosen heads' probes with `internals.heads.save_probe` (weights.safetensors + card.json).

    The estimators are stored as "L<layer>.H<head>", best first; the card holds the model's
    describe() (with its fingerprint), the ensemble's params, its heads, the [layers, heads]
    validation F1 matrix, and `card`.
    """
    from ...heads import save_probe as save_dir

    if not hasattr(probe, "estimators_"):
        raise InternalsError("the probe is not fitted: call fit() before saving it")
    named = {f"L{l}.H{h}": est for est, (l, h) in zip(probe.estimators_, probe.heads_)}
    if getattr(probe, "final_", None) is not None:
        named["final"] = probe.final_
    info = {
        "estimator": ESTIMATOR,
        "params": probe.get_params(),
        "feature_shape": list(probe.n_features_shape_),
        "heads": [
            {"layer": int(l), "head": int(h), "validation_f1": round(float(probe.head_f1_[l, h]), 4)}
            for l, h in probe.heads_
        ],
        "head_f1": np.asarray(probe.head_f1_).round(6).tolist(),
        "model": lm.describe(),
        **(card or {}),
    }
    return save_dir(named, path, info)


def load_cutoff_probe(path: str | Path, lm=None) -> tuple[HeadEnsemble, dict]:
    """Read a probe saved by `save_cutoff_probe`; with `lm`, refuse it unless the model fingerprints match."""
    from ...heads import load_probe as load_dir

    path = Path(path)
    if not (path / "card.json").exists():
        raise InternalsError(
            f"{path} is not a saved cutoff probe (no card.json): train one with `internals cutoff train CONFIG`"
        )
    loaded = load_dir(path, model=lm)
    card = loaded.card
    if card.get("estimator") != ESTIMATOR:
        raise InternalsError(f"{path} holds a {card.get('estimator', 'different')} probe, not a cutoff {ESTIMATOR}")
    probe = HeadEnsemble(**card["params"])
    probe.heads_ = np.asarray([[h["layer"], h["head"]] for h in card["heads"]], dtype=int)
    probe.estimators_ = [loaded.estimators[f"L{l}.H{h}"] for l, h in probe.heads_]
    probe.head_f1_ = np.asarray(card["head_f1"])
    if all(hasattr(est.steps[-1][1] if isinstance(est, Pipeline) else est, "n_iter_") for est in probe.estimators_):
        probe.n_iter_ = np.asarray(
            [_n_iter(est) for est in probe.estimators_]
        )  # not in the card: the regressions hold it
    probe.kind_ = card.get("kind")  # the feature kind it reads (infer.cutoff checks it)
    if probe.combine == "logistic":
        probe.final_ = loaded.estimators["final"]
    probe.classes_, probe.n_features_shape_ = np.array([0, 1]), tuple(card["feature_shape"])
    return probe, card
