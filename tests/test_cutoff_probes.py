"""Per-head probes: ranking, ensemble, safetensors/JSON round trip, refusal of another model; metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from internals.analyses.cutoff.baselines import PositionBaseline, fixed_chunk
from internals.analyses.cutoff.metrics import first_at_least, lenient_match, normalize, token_reduction
from internals.analyses.cutoff.probes import HeadEnsemble, load_probe, save_probe
from internals.errors import InternalsError


def _data(n=300, layers=3, heads=4, width=8, seed=0):
    """Noise everywhere except heads (2, 1) and (0, 3), which carry the label (2, 1 more strongly)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, layers, heads, width)).astype(np.float32)
    X[:, 2, 1, 0] += 3.0 * y
    X[:, 0, 3, 1] += 1.2 * y
    return X, y


class _FakeLM:
    def __init__(self, fingerprint="abc123", name="tiny"):
        self.fingerprint, self.name = fingerprint, name

    def describe(self):
        return {"name": self.name, "path": None, "fingerprint": self.fingerprint}


@pytest.mark.parametrize("standardize", [False, True])
def test_informative_heads_rank_first_and_round_trip(tmp_path, standardize):
    X, y = _data()
    probe = HeadEnsemble(k=3, standardize=standardize).fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    assert probe.head_f1_.shape == (3, 4)
    assert tuple(probe.heads_[0]) == (2, 1) and tuple(probe.heads_[1]) == (0, 3)
    assert probe.score(X[200:], y[200:]) > 0.8
    save_probe(probe, tmp_path / "p", _FakeLM(), {"kind": "attn_z"})
    card = json.loads((tmp_path / "p" / "card.json").read_text())["card"]
    assert card["model"]["fingerprint"] == "abc123" and card["heads"][0] == {"layer": 2, "head": 1,
                                                                     "validation_f1": round(float(probe.head_f1_[2, 1]), 4)}
    loaded, card2 = load_probe(tmp_path / "p", _FakeLM())
    np.testing.assert_allclose(loaded.predict_proba(X), probe.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(loaded.heads_, probe.heads_)
    assert card2["kind"] == "attn_z" and card2["head_f1"] == probe.head_f1_.round(6).tolist()
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["card.json", "weights.safetensors"]


def test_probe_of_another_model_is_refused(tmp_path):
    X, y = _data(n=120)
    save_probe(HeadEnsemble(k=2).fit(X, y), tmp_path / "p", _FakeLM("aaaa"))
    with pytest.raises(InternalsError, match=r"trained on tiny \(fingerprint aaaa\), not on other \(fingerprint bbbb\)"):
        load_probe(tmp_path / "p", _FakeLM("bbbb", "other"))
    with pytest.raises(InternalsError, match="not a saved cutoff probe"):
        load_probe(tmp_path / "nothing")


def test_sklearn_contract_and_bad_inputs():
    X, y = _data(n=120)
    probe = HeadEnsemble(k=2, C=0.5)
    assert clone(probe).get_params()["C"] == 0.5
    groups = np.repeat(np.arange(12), 10)
    probe.fit(X, y, groups=groups)  # validation held out by whole groups
    assert probe.predict(X).shape == (120,) and probe.predict_proba(X).shape == (120, 2)
    with pytest.raises(InternalsError, match=r"\[samples, layers, heads, width\]"):
        probe.predict_proba(X[:, 0])
    with pytest.raises(InternalsError, match="do not fit"):
        probe.predict_proba(X[:, :2])
    with pytest.raises(InternalsError, match="all one class"):
        HeadEnsemble().fit(X, np.zeros(120))
    with pytest.raises(InternalsError, match="k=99"):
        HeadEnsemble(k=99).fit(X, y)
    with pytest.raises(InternalsError, match="not fitted"):
        save_probe(HeadEnsemble(), "unused", _FakeLM())


def test_position_baseline_learns_a_fixed_stop_and_round_trips():
    chunk = np.tile(np.arange(10), 30)
    y = (chunk >= 6).astype(int)
    base = PositionBaseline(10).fit(chunk, y)
    assert base.predict(np.arange(10)).tolist() == [0] * 6 + [1] * 4
    again = PositionBaseline.from_dict(json.loads(json.dumps(base.to_dict())))
    np.testing.assert_allclose(again.proba(np.arange(10)), base.proba(np.arange(10)))
    assert fixed_chunk(0.55, 10) in (4, 5) and fixed_chunk(1.0, 10) == 9 and fixed_chunk(0.0, 10) == 0


def test_lenient_match_and_stopping_metrics():
    assert normalize("The  Eiffel-Tower!") == "eiffel tower"
    assert lenient_match("It was built by Gustave Eiffel in 1889.", ["Gustave Eiffel"])
    assert lenient_match("Eiffel", ["Gustave Eiffel"])  # contained either way
    assert not lenient_match("Eiffelton", ["Eiffel"])  # whole words only
    assert not lenient_match("", ["x"]) and not lenient_match("the", ["the answer"])
    assert first_at_least([0.1, 0.96, 0.2], 0.95) == 1 and first_at_least([0.1, 0.2], 0.95) == 1
    assert token_reduction([100, 200], [50, 100]) == 2.0


def test_validation_sweep_and_calibrated_threshold():
    from internals.analyses.cutoff.pipeline import Table, calibrated_threshold, val_sweep

    # two examples of 4 chunks; evidence read at chunk 2 and chunk 1 (0-based)
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    p = np.array([0.2, 0.75, 0.9, 0.97, 0.1, 0.6, 0.96, 0.99])
    table = Table({}, y, np.repeat([0, 1], 4), np.tile(np.arange(4), 2))
    sweep = val_sweep(table, p, (0.5, 0.7, 0.95, 0.999), 4)
    assert sweep["0.5"] == {"share_read": 0.5, "stop_precision": 0.5}  # stops at chunks 1 (too early) and 1
    assert sweep["0.7"] == {"share_read": 0.625, "stop_precision": 0.5}  # chunk 1 (too early), chunk 2
    assert sweep["0.95"] == {"share_read": 0.875, "stop_precision": 1.0}
    assert sweep["0.999"] == {"share_read": 1.0, "stop_precision": 1.0}  # never confident: reads all
    assert calibrated_threshold(sweep, 0.9) == 0.95
    assert calibrated_threshold({"0.5": {"stop_precision": 0.2}, "0.8": {"stop_precision": 0.3}}, 0.9) == 0.8
