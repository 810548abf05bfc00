"""MLPProbe: the paper's architecture, a real sklearn estimator (check_estimator), seeded, early stopping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from internals.heads import MLPProbe, logistic_probe

# check_estimator runs every check with the default parameters; none is waived. Skipped, not
# failed: check_array_api_input (needs SCIPY_ARRAY_API=1; the probe takes numpy, not array-API
# arrays). The list below stays empty unless a check is waived with its reason.
WAIVED: dict[str, str] = {}


def _blobs(n=400, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)  # imbalanced, like hallucination labels
    X = rng.normal(size=(n, d)) + 1.5 * y[:, None] * (np.arange(d) < 3)
    return X.astype(np.float32), y


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(MLPProbe(), expected_failed_checks=WAIVED, on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_architecture_is_the_papers():
    X, y = _blobs(d=7)
    probe = MLPProbe(max_epochs=2).fit(X, y)
    layers = list(probe.module_)
    assert [type(m) for m in layers] == [
        torch.nn.Linear,
        torch.nn.ReLU,
        torch.nn.Dropout,
        torch.nn.Linear,
        torch.nn.Sigmoid,
    ]
    assert (layers[0].in_features, layers[0].out_features, layers[3].out_features) == (7, 1024, 1)
    assert layers[2].p == 0.1
    p = MLPProbe().get_params()
    assert (p["lr"], p["batch_size"], p["max_epochs"], p["hidden_size"]) == (1e-4, 128, 50, 1024)


def test_seeded_and_leaves_global_rng_alone():
    X, y = _blobs()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = MLPProbe(max_epochs=5, random_state=3).fit(X, y)
    after = torch.rand(1)
    b = MLPProbe(max_epochs=5, random_state=3).fit(X, y)
    c = MLPProbe(max_epochs=5, random_state=4).fit(X, y)
    assert torch.equal(before, after)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_learns_and_early_stopping_keeps_best_epoch():
    X, y = _blobs()
    probe = MLPProbe(max_epochs=50, patience=3, lr=1e-2, random_state=0).fit(
        X[:300], y[:300], X_val=X[300:], y_val=y[300:]
    )
    assert probe.n_epochs_ <= 50 and probe.best_epoch_ == int(np.argmin(probe.validation_loss_))
    if probe.n_epochs_ < 50:  # stopped early: exactly `patience` epochs after the best one
        assert probe.n_epochs_ == probe.best_epoch_ + 1 + 3
    # balanced accuracy: always answering the majority class scores 0.5 (plain accuracy ~0.75 here)
    assert balanced_accuracy_score(y[300:], probe.predict(X[300:])) > 0.8
    assert len(probe.loss_curve_) == probe.n_epochs_


def test_is_a_usable_sklearn_estimator():
    X, y = _blobs()
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", MLPProbe(max_epochs=5))])
    scores = cross_val_score(pipe, X, y, cv=3, scoring="balanced_accuracy")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    cloned = clone(MLPProbe(hidden_size=8)).set_params(dropout=0.2)
    assert (cloned.hidden_size, cloned.dropout) == (8, 0.2) and not hasattr(cloned, "module_")
    labels = np.where(y == 1, "hallucinated", "factual")
    probe = MLPProbe(max_epochs=3).fit(X, labels)
    assert list(probe.classes_) == ["factual", "hallucinated"]
    assert set(probe.predict(X)) <= {"factual", "hallucinated"}
    proba = probe.predict_proba(X)
    assert np.allclose(proba.sum(1), 1) and np.array_equal(proba[:, 1] >= 0.5, probe.decision_function(X) >= 0)


def test_single_class_and_multiclass_refused():
    X, y = _blobs()
    with pytest.raises(ValueError, match="only one class"):
        MLPProbe().fit(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="Only binary"):
        MLPProbe().fit(X, np.arange(len(y)) % 3)


def test_logistic_baseline_is_balanced_pipeline():
    X, y = _blobs()
    lr = logistic_probe().fit(X, y)
    assert [name for name, _ in lr.steps] == ["scale", "logreg"]
    assert lr.named_steps["logreg"].class_weight == "balanced"
    assert balanced_accuracy_score(y, lr.predict(X)) > 0.8
