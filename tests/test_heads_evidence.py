"""Probe evidence: bootstrap intervals that cover the value, recall at low FPR, a shuffle control
that sits at chance for a leak-free pipeline, and the 'beats the control' verdict."""

from __future__ import annotations

import numpy as np

from internals.heads import logistic_probe
from internals.heads.evidence import beats, evidence, metric_intervals, recall_at_fpr


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, 8)) + 1.2 * y[:, None] * (np.arange(8) < 2)
    return X, y


def test_intervals_and_operating_points():
    X, y = _data()
    p = logistic_probe().fit(X[:400], y[:400]).predict_proba(X[400:])[:, 1]
    iv = metric_intervals(y[400:], p, seed=0)
    for m in ("balanced_accuracy", "auroc"):
        assert iv[m]["low"] < iv[m]["value"] < iv[m]["high"] and iv[m]["high"] - iv[m]["low"] < 0.3
    assert iv["auroc"]["value"] > 0.75 and iv["n"] == 200
    perfect = recall_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect == {"0.01": 1.0, "0.05": 1.0}
    r = recall_at_fpr(y[400:], p)
    assert 0 <= r["0.01"] <= r["0.05"] <= 1


def test_shuffle_control_sits_at_chance_and_signal_beats_noise():
    X, y = _data()
    tr, te = np.arange(400), np.arange(400, 600)
    probe = logistic_probe().fit(X[tr], y[tr])
    noise = np.random.default_rng(1).normal(size=X.shape)  # a control whose features carry nothing
    control = metric_intervals(y[te], logistic_probe().fit(noise[tr], y[tr]).predict_proba(noise[te])[:, 1])
    ev = evidence(
        probe,
        lambda labels: logistic_probe().fit(X[tr], labels),
        y[tr],
        X[te],
        y[te],
        controls={"random_model_control": control},
    )
    assert ev["label_shuffle_control"]["near_chance"]
    assert ev["random_model_control"]["probe_beats_it"] and beats(ev["test"], control)
    assert not beats(control, ev["test"])


class _Projected:
    """A fitted 1-D probe on X @ w (what the selecting head below keeps)."""

    def __init__(self, w, model):
        self.w, self.model, self.classes_ = w, model, model.classes_

    def predict_proba(self, X):
        return self.model.predict_proba((X @ self.w)[:, None])


def test_shuffle_control_permutes_the_validation_labels_a_head_selects_on():
    """A head that selects (or early-stops) on validation rows leaks their real labels into a control
    that permutes only the training labels: it scores above chance. Permuting every label the fit
    sees (what `probe_evidence` passes) puts the control back at chance."""
    from sklearn.metrics import balanced_accuracy_score

    from internals.heads.evidence import shuffle_control, shuffle_summary

    X, y = _data()
    tr, va, te = np.arange(300), np.arange(300, 400), np.arange(400, 600)
    directions = np.random.default_rng(3).normal(size=(15, X.shape[1]))

    def fit(labels):  # labels of the train rows, then of the validation rows
        y_tr, y_va = labels[: len(tr)], labels[len(tr) :]
        if len(np.unique(y_tr)) < 2:
            y_tr = y[tr]
        fits = [_Projected(w, logistic_probe().fit((X[tr] @ w)[:, None], y_tr)) for w in directions]
        return max(fits, key=lambda m: balanced_accuracy_score(y_va, (m.predict_proba(X[va])[:, 1] >= 0.5)))

    leaky = shuffle_control(lambda lab: fit(np.concatenate([lab, y[va]])), y[tr], X[te], y[te], seed=1)
    fixed = shuffle_control(fit, y[np.concatenate([tr, va])], X[te], y[te], seed=1)
    assert leaky["balanced_accuracy"]["value"] > 0.6  # real validation labels select a real direction
    assert abs(fixed["balanced_accuracy"]["value"] - 0.5) < 0.08
    assert fixed["n_permutations"] == 20 and len(fixed["balanced_accuracy"]["draws"]) == 20
    real = {"balanced_accuracy": {"value": 0.99}}
    summary = shuffle_summary(real, fixed)
    assert summary["near_chance"] and summary["probe_p_value"] == 1 / 21
