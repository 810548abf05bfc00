"""Probe directories: safetensors + JSON, identical predictions after a round trip, no pickle, model check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from internals.errors import InternalsError
from internals.heads import MLPProbe, fit_scaled_mlp, load_probe, logistic_probe, save_probe, scaled_mlp_probe


def _data(n=300, d=10, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, d)) + y[:, None]
    return X.astype(np.float32), y


CARD = {"model": {"name": "m", "fingerprint": "0123456789abcdef"}, "site": "resid_post.3", "layer": 3}


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPProbe(max_epochs=3),
        logistic_probe,
        lambda: scaled_mlp_probe(max_epochs=3),
        lambda: LogisticRegression(class_weight={0: 1.0, 1: 2.5}),
    ],
)
def test_round_trip_identical_predictions(tmp_path, make):
    X, y = _data()
    est = make().fit(X, y)
    save_probe(est, tmp_path / "p", card=CARD)
    loaded = load_probe(tmp_path / "p", model="0123456789abcdef")
    back = loaded.estimator
    assert type(back) is type(est)
    assert np.array_equal(back.predict_proba(X), est.predict_proba(X))
    assert np.array_equal(back.predict(X), est.predict(X))
    assert back.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    assert loaded.card == CARD and loaded.versions["torch"]


def test_ensemble_of_named_estimators_and_string_classes(tmp_path):
    X, y = _data()
    labels = np.where(y == 1, "yes", "no")
    ensemble = {"L3.H5": logistic_probe().fit(X, labels), "L7.H1": MLPProbe(max_epochs=2).fit(X, labels)}
    save_probe(ensemble, tmp_path / "e", card=CARD)
    loaded = load_probe(tmp_path / "e").estimators
    assert list(loaded) == ["L3.H5", "L7.H1"]
    for name, est in ensemble.items():
        assert np.array_equal(loaded[name].predict(X), est.predict(X))
    with pytest.raises(InternalsError, match="holds 2 estimators"):
        _ = load_probe(tmp_path / "e").estimator


def test_files_are_safetensors_and_json_only(tmp_path):
    X, y = _data()
    save_probe(MLPProbe(max_epochs=2).fit(X, y), tmp_path / "p", card=CARD)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["card.json", "weights.safetensors"]
    from safetensors.numpy import load_file

    arrays = load_file(str(tmp_path / "p" / "weights.safetensors"))
    assert arrays["probe/module_/0.weight"].shape == (1024, 10)
    doc = json.loads((tmp_path / "p" / "card.json").read_text())
    assert doc["estimators"]["probe"]["type"] == "MLPProbe" and doc["format"] == "internals.probe/1"


def test_fingerprint_mismatch_refused(tmp_path):
    X, y = _data()
    save_probe(logistic_probe().fit(X, y), tmp_path / "p", card=CARD)

    class Other:
        name, fingerprint = "OtherModel", "ffffffffffffffff"

    with pytest.raises(InternalsError, match=r"trained on m \(fingerprint 0123456789abcdef\), not on OtherModel"):
        load_probe(tmp_path / "p", model=Other())


def test_unknown_type_and_tampering_refused(tmp_path):
    X, y = _data()
    save_probe(logistic_probe().fit(X, y), tmp_path / "p", card=CARD)
    card = tmp_path / "p" / "card.json"
    doc = json.loads(card.read_text())
    doc["estimators"]["probe"]["type"] = "os.system"
    card.write_text(json.dumps(doc))
    with pytest.raises(InternalsError, match="cannot load"):
        load_probe(tmp_path / "p")
    save_probe(logistic_probe().fit(X, y), tmp_path / "p", card=CARD)
    weights = tmp_path / "p" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(InternalsError, match="corrupt"):
        load_probe(tmp_path / "p")
    with pytest.raises(InternalsError, match="not a probe directory"):
        load_probe(tmp_path / "nothing")


def test_unsupported_estimator_refused(tmp_path):
    from sklearn.svm import SVC

    X, y = _data()
    with pytest.raises(InternalsError, match="cannot save a SVC"):
        save_probe(SVC().fit(X, y), tmp_path / "p")


def test_scaled_mlp_is_the_mlp_on_standardised_rows():
    """`mlp_scaled` (ours): the scaler fitted on the training rows, the paper's MLP on the scaled rows,
    early-stopping on scaled validation rows; the same as doing it by hand."""
    from sklearn.preprocessing import StandardScaler

    X, y = _data(d=6)
    X = X * np.array([1, 1, 1, 1, 1, 1000], dtype=np.float32)  # one outlier dimension, as in real residuals
    tr, va = slice(0, 240), slice(240, None)
    pipe = fit_scaled_mlp(scaled_mlp_probe(max_epochs=5), X[tr], y[tr], X[va], y[va])
    scaler = StandardScaler().fit(X[tr])
    mlp = MLPProbe(max_epochs=5).fit(scaler.transform(X[tr]), y[tr], X_val=scaler.transform(X[va]), y_val=y[va])
    assert np.allclose(pipe.predict_proba(X), mlp.predict_proba(scaler.transform(X)))
    assert pipe.named_steps["mlp"].best_epoch_ == mlp.best_epoch_
