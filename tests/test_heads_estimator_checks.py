"""The cutoff heads are sklearn estimators (check_estimator), and the committed cutoff probes still
predict what they predicted when tests/data/cutoff_probe_predictions.json was written.

The fixture was written before HeadEnsemble learned 2-D X and sklearn's input checks; after a
deliberate retrain, `python tests/test_heads_estimator_checks.py` rewrites it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from internals.analyses.cutoff.baselines import PositionBaseline
from internals.analyses.cutoff.probes import HeadEnsemble, IQRClip, ProbeInputError, load_cutoff_probe
from internals.errors import InternalsError

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "cutoff_probe_predictions.json"
SEED, N_SAMPLES, SCALE = 0, 8, 0.05  # 0.05: near the scale of the prefix means, so few probabilities saturate

# Checks each estimator cannot pass, with the reason; every other check must pass. Skipped, not
# failed, for all three: check_array_api_input (needs SCIPY_ARRAY_API=1; they take numpy arrays).
WAIVED_IQR_CLIP: dict[str, str] = {}
WAIVED_HEAD_ENSEMBLE: dict[str, str] = {}
WAIVED_POSITION: dict[str, str] = {
    "check_fit1d": "X is a vector of chunk indices: fit(chunk_index, y) with a 1-D X is the documented call "
    "(pipeline.train passes the table's chunk column), read as one column; sklearn wants 1-D X refused",
}


def _check(estimator, waived: dict[str, str], at_least: int) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, expected_failed_checks=waived, on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed == set(waived)  # a waived check that passes again should leave the list
    assert sum(r["status"] == "passed" for r in results) >= at_least


def test_iqr_clip_check_estimator():
    _check(IQRClip(), WAIVED_IQR_CLIP, 45)


@pytest.mark.parametrize("params", [{}, {"combine": "logistic", "standardize": True}], ids=["mean", "logistic"])
def test_head_ensemble_check_estimator(params):
    _check(HeadEnsemble(**params), WAIVED_HEAD_ENSEMBLE, 50)


def test_position_baseline_check_estimator():
    _check(PositionBaseline(), WAIVED_POSITION, 50)


def _heads(n=200, layers=2, heads=3, width=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, layers, heads, width)).astype(np.float32)
    X[:, -1, -1, 0] += 2.5 * y  # the last head carries the label
    return X, y


def test_two_d_x_is_one_head():
    X, y = _heads(layers=1, heads=1)
    four = HeadEnsemble(k=1).fit(X, y)
    two = HeadEnsemble().fit(X[:, 0, 0], y)  # the default k=5: one head is the ensemble whatever k
    np.testing.assert_array_equal(two.predict_proba(X[:, 0, 0]), four.predict_proba(X))
    np.testing.assert_array_equal(two.predict_proba(X), four.predict_proba(X[:, 0, 0]))
    assert two.n_features_in_ == 5 and not hasattr(four, "n_features_in_")
    assert two.n_features_shape_ == four.n_features_shape_ == (1, 1, 5) and two.heads_.tolist() == [[0, 0]]
    four.fit(X[:, 0, 0], y).fit(X, y)  # a 4-D refit forgets the 2-D width
    assert not hasattr(four, "n_features_in_")
    pipe = Pipeline([("scale", StandardScaler()), ("heads", HeadEnsemble(combine="logistic"))])
    assert cross_val_score(pipe, X[:, 0, 0], y, cv=3).min() > 0.8


def test_four_d_input_is_checked_like_two_d():
    X, y = _heads()
    probe = HeadEnsemble(k=2).fit(X, np.where(y == 1, "enough", "more"))
    assert list(probe.classes_) == ["enough", "more"] and set(probe.predict(X)) <= {"enough", "more"}
    assert tuple(probe.heads_[0]) == (1, 2) and probe.n_iter_.shape == (2,) and probe.n_iter_.min() >= 1
    bad = X.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HeadEnsemble(k=2).fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        probe.predict_proba(bad)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        HeadEnsemble(k=2).fit(X, y[:-1])
    with pytest.raises(ValueError, match="continuous"):
        HeadEnsemble(k=2).fit(X, y + 0.5)
    with pytest.raises(ValueError, match="requires y"):
        HeadEnsemble(k=2).fit(X, None)
    with pytest.raises(ProbeInputError, match="Only binary"):
        HeadEnsemble(k=2).fit(X, np.arange(len(y)) % 3)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        HeadEnsemble().fit(sparse.csr_matrix(X[:, 0, 0]), y)
    with pytest.raises(ProbeInputError, match="X_val of shape"):
        HeadEnsemble(k=2).fit(X, y, X_val=X[:, :1], y_val=y)
    # one project error, also the ValueError sklearn's tools expect
    with pytest.raises(InternalsError, match="all one class") as err:
        HeadEnsemble(k=2).fit(X, np.zeros(len(y), dtype=int))
    assert isinstance(err.value, ValueError)


def test_position_baseline_is_an_estimator_on_chunk_indices():
    chunk = np.tile(np.arange(10), 30)
    y = (chunk >= 6).astype(int)
    base = PositionBaseline(10).fit(chunk, y)
    np.testing.assert_array_equal(base.predict_proba(chunk[:, None]), base.predict_proba(chunk))
    assert base.n_features_in_ == 1 and "model" not in base.get_params()
    assert clone(base).get_params() == {"n_chunks": 10} and not hasattr(clone(base), "model_")
    with pytest.raises(InternalsError, match="one class") as err:
        PositionBaseline().fit(chunk, np.ones_like(y))
    assert isinstance(err.value, ValueError)
    wide = PositionBaseline().fit(np.stack([chunk, chunk], 1), y)
    with pytest.raises(InternalsError, match="one column"):
        wide.to_dict()


def _committed_probe_dirs() -> list[Path]:
    return sorted(
        d
        for parent in ("cutoff", "cutoff_query")
        for d in (ROOT / "probes" / parent).iterdir()
        if (d / "card.json").is_file()
    )


def _features(shape) -> np.ndarray:
    return (SCALE * np.random.default_rng(SEED).normal(size=shape)).astype(np.float32)


def predictions() -> dict:
    """What the fixture holds: each committed probe's predictions on seeded features of its shape,
    and the committed position baseline's at every chunk index."""
    out = {
        "seed": SEED,
        "n_samples": N_SAMPLES,
        "scale": SCALE,
        "recipe": "X = (scale * np.random.default_rng(seed).normal(size=(n_samples, *feature_shape))).astype(np.float32)",
        "probes": {},
    }
    for d in _committed_probe_dirs():
        probe, card = load_cutoff_probe(d)
        shape = [N_SAMPLES, *card["feature_shape"]]
        X = _features(shape)
        p = probe.predict_proba(X)
        sha = json.loads((d / "card.json").read_text())["weights_sha256"]
        out["probes"][str(d.relative_to(ROOT))] = {
            "weights_sha256": sha,
            "shape": shape,
            "dtype": str(p.dtype),
            "proba": p[:, 1].astype(float).tolist(),
            "predict": probe.predict(X).tolist(),
        }
    params = json.loads((ROOT / "probes/cutoff/train.json").read_text())["position"]
    base, chunks = PositionBaseline.from_dict(params), np.arange(params["n_chunks"])
    out["position"] = {
        "card": "probes/cutoff/train.json",
        "params": params,
        "chunk_index": chunks.tolist(),
        "proba": base.proba(chunks).astype(float).tolist(),
        "predict": base.predict(chunks).tolist(),
    }
    return out


def test_committed_cutoff_probes_predict_as_recorded():
    want = json.loads(FIXTURE.read_text())
    assert sorted(want["probes"]) == [str(d.relative_to(ROOT)) for d in _committed_probe_dirs()]
    for name, rec in want["probes"].items():
        sha = json.loads((ROOT / name / "card.json").read_text())["weights_sha256"]
        assert sha == rec["weights_sha256"], f"{name} was retrained: rewrite the fixture (python {__file__})"
        probe, _ = load_cutoff_probe(ROOT / name)
        X = _features(rec["shape"])
        p = probe.predict_proba(X)
        assert str(p.dtype) == rec["dtype"] and p.shape == (N_SAMPLES, 2), name
        np.testing.assert_allclose(p[:, 1], rec["proba"], rtol=0, atol=1e-7, err_msg=name)
        assert probe.predict(X).tolist() == rec["predict"], name
    params = json.loads((ROOT / want["position"]["card"]).read_text())["position"]
    assert params == want["position"]["params"], "the position baseline was retrained: rewrite the fixture"
    base = PositionBaseline.from_dict(params)
    chunks = np.asarray(want["position"]["chunk_index"])
    np.testing.assert_allclose(base.proba(chunks), want["position"]["proba"], rtol=0, atol=1e-12)
    assert base.predict(chunks).tolist() == want["position"]["predict"]


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(predictions(), indent=1) + "\n")
    print(f"wrote {FIXTURE}")
