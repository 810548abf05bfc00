"""Per-head probes: ranking, ensemble, safetensors/JSON round trip, refusal of another model; metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from internals.analyses.cutoff.baselines import PositionBaseline, fixed_chunk
from internals.analyses.cutoff.metrics import first_at_least, token_reduction
from internals.analyses.cutoff.probes import (
    HeadEnsemble,
    IQRClip,
    feature_kind,
    load_cutoff_probe,
    probe_name,
    save_cutoff_probe,
)
from internals.answers import match, normalize
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
    save_cutoff_probe(probe, tmp_path / "p", _FakeLM(), {"kind": "attn_z"})
    card = json.loads((tmp_path / "p" / "card.json").read_text())["card"]
    assert card["model"]["fingerprint"] == "abc123" and card["heads"][0] == {
        "layer": 2,
        "head": 1,
        "validation_f1": round(float(probe.head_f1_[2, 1]), 4),
    }
    loaded, card2 = load_cutoff_probe(tmp_path / "p", _FakeLM())
    np.testing.assert_allclose(loaded.predict_proba(X), probe.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(loaded.heads_, probe.heads_)
    assert card2["kind"] == "attn_z" and card2["head_f1"] == probe.head_f1_.round(6).tolist()
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["card.json", "weights.safetensors"]


def test_logistic_combine_stacks_the_chosen_heads_and_round_trips(tmp_path):
    X, y = _data(n=400)
    mean = HeadEnsemble(k=2).fit(X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    final = HeadEnsemble(k=2, combine="logistic").fit(X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    np.testing.assert_array_equal(final.heads_, mean.heads_)  # the same heads, another second stage
    stacked = np.concatenate([X[:300, 2, 1], X[:300, 0, 3]], 1)
    assert final.final_.named_steps["logreg"].coef_.shape == (1, stacked.shape[1])
    np.testing.assert_allclose(final.predict_proba(X[:300]), final.final_.predict_proba(stacked))
    assert not np.allclose(final.predict_proba(X)[:, 1], mean.predict_proba(X)[:, 1])
    assert final.score(X[300:], y[300:]) > 0.8
    # the mean ensemble's heads, refitted for another combine without refitting the head probes
    again = mean.set_params(combine="logistic").fit_final(X[:300], y[:300])
    np.testing.assert_allclose(again.predict_proba(X), final.predict_proba(X))
    save_cutoff_probe(final, tmp_path / "p", _FakeLM(), {"kind": "attn_z", "name": probe_name("attn_z", "logistic")})
    loaded, card = load_cutoff_probe(tmp_path / "p", _FakeLM())
    assert card["params"]["combine"] == "logistic" and card["name"] == "attn_z+logistic"
    np.testing.assert_allclose(loaded.predict_proba(X), final.predict_proba(X), atol=1e-12)
    assert feature_kind(card["name"]) == "attn_z" and probe_name("attn_z") == "attn_z"
    with pytest.raises(InternalsError, match="unknown combine 'vote'"):
        HeadEnsemble(combine="vote").fit(X, y)


def test_iqr_clip_uses_the_fences_of_the_rows_it_was_fitted_on():
    rows = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [100.0, 10.0]])
    clip = IQRClip().fit(rows)  # column 0: Q1 1, Q3 3, fences -2 and 6; column 1: no spread
    np.testing.assert_allclose(clip.low_, [-2.0, 10.0])  # (these two were joined by `and`: the second never ran)
    np.testing.assert_allclose(clip.high_, [6.0, 10.0])
    np.testing.assert_allclose(clip.transform([[50.0, 11.0], [-9.0, 9.0], [2.5, 10.0]]), [[6, 10], [-2, 10], [2.5, 10]])


def test_probe_of_another_model_is_refused(tmp_path):
    X, y = _data(n=120)
    save_cutoff_probe(HeadEnsemble(k=2).fit(X, y), tmp_path / "p", _FakeLM("aaaa"))
    with pytest.raises(
        InternalsError, match=r"trained on tiny \(fingerprint aaaa\), not on other \(fingerprint bbbb\)"
    ):
        load_cutoff_probe(tmp_path / "p", _FakeLM("bbbb", "other"))
    with pytest.raises(InternalsError, match="not a saved cutoff probe"):
        load_cutoff_probe(tmp_path / "nothing")


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
        save_cutoff_probe(HeadEnsemble(), "unused", _FakeLM())


def test_position_baseline_learns_a_fixed_stop_and_round_trips():
    chunk = np.tile(np.arange(10), 30)
    y = (chunk >= 6).astype(int)
    base = PositionBaseline(10).fit(chunk, y)
    assert base.predict(np.arange(10)).tolist() == [0] * 6 + [1] * 4
    again = PositionBaseline.from_dict(json.loads(json.dumps(base.to_dict())))
    np.testing.assert_allclose(again.proba(np.arange(10)), base.proba(np.arange(10)))
    assert fixed_chunk(0.55, 10) in (4, 5) and fixed_chunk(1.0, 10) == 9 and fixed_chunk(0.0, 10) == 0


def test_lenient_match_and_stopping_metrics():
    assert normalize("The  Eiffel-Tower!", "space") == "eiffel tower"
    assert match("It was built by Gustave Eiffel in 1889.", ["Gustave Eiffel"], "whole_word")
    assert match("Eiffel", ["Gustave Eiffel"], "whole_word")  # contained either way
    assert not match("Eiffelton", ["Eiffel"], "whole_word")  # whole words only
    assert match("Eiffelton", ["Eiffel"], "substring")  # FactCheckmate's rule: substrings
    assert not match("", ["x"], "whole_word") and not match("the", ["the answer"], "whole_word")
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


def test_threshold_picked_on_validation_answers():
    from internals.analyses.cutoff.pipeline import accuracy_threshold, results_summary

    def table(full, rows):
        methods = {"full": {"token_reduction": 1.0, "accuracy": full, "mean_chunks": 10.0}}
        methods |= {
            f"probe:attn_z+logistic@{t:g}": {"token_reduction": r, "accuracy": a, "mean_chunks": 5.0}
            for t, (r, a) in rows.items()
        }
        return {"methods": methods}

    val = {
        "a": table(0.10, {0.5: (2.0, 0.02), 0.8: (1.5, 0.12), 0.95: (1.1, 0.10)}),
        "b": table(0.20, {0.5: (2.2, 0.30), 0.8: (1.7, 0.20), 0.95: (1.2, 0.20)}),
    }
    picked = accuracy_threshold(val, "attn_z+logistic", (0.5, 0.8, 0.95))
    # 0.5 reduces most, and its mean accuracy 0.16 is at least the full context's 0.15
    assert picked["accuracy_full"] == 0.15 and picked["sweep"]["0.5"] == {"token_reduction": 2.1, "accuracy": 0.16}
    assert picked["threshold"] == 0.5
    val["b"]["methods"]["probe:attn_z+logistic@0.5"]["accuracy"] = 0.25  # now 0.135 < 0.15: 0.8 (1.6x, 0.16)
    assert accuracy_threshold(val, "attn_z+logistic", (0.5, 0.8, 0.95))["threshold"] == 0.8
    for r in val.values():
        r["methods"]["full"]["accuracy"] = 0.9  # nothing keeps the accuracy: the most careful threshold
    assert accuracy_threshold(val, "attn_z+logistic", (0.5, 0.8, 0.95))["threshold"] == 0.95

    class LM:
        def describe(self):
            return {"name": "tiny", "fingerprint": "f"}

    from internals.analyses.cutoff.config import CutoffConfig

    stops = {m: 9 for m in val["a"]["methods"]} | {"probe:attn_z+logistic@0.8": 4}
    examples = [
        {"n_tokens": 100, "stops": stops, "answers": {"4": "Paris", "9": "London"}, "gold": ["paris"]},  # right at 4
        {
            "n_tokens": 100,
            "stops": stops | {"probe:attn_z+logistic@0.8": 9},
            "answers": {"9": "Rome"},
            "gold": ["rome"],
        },
    ]
    test = {
        d: dict(
            r,
            **{k: 0.0 for k in ("token_reduction", "accuracy_cutoff", "accuracy_full", "f1_probe", "f1_position")},
            main="probe:attn_z+logistic@0.95",
            examples=examples,
        )
        for d, r in val.items()
    }
    cfg = CutoffConfig(kinds=("attn_z",), combine=("mean", "logistic"), main="attn_z+logistic")
    out = results_summary(test, cfg, LM(), picked={"threshold": 0.8}, main_kind="attn_z+logistic")
    assert out["validation_picked"]["method"] == "probe:attn_z+logistic@0.8"
    assert out["validation_picked"]["token_reduction"] == 1.6 and out["validation_picked"]["validation"] == {
        "threshold": 0.8
    }
    assert out["validation_picked"]["vs_full"] == {"wins": 2, "losses": 0, "p_value": 0.5, "n": 4}  # paired, pooled
    assert out["vs_full"] == {"wins": 0, "losses": 0, "p_value": 1.0, "n": 4}  # the main rule stops where full does
    # reads 50 + 100 of 200 tokens per dataset (reduction 4/3 on every draw with both, 1 or 2 on the others)
    ci = out["validation_picked"]["token_reduction_ci"]
    assert ci["n"] == 4 and 1.0 <= ci["lo"] < 4 / 3 < ci["hi"] <= 2.0
    assert out["token_reduction_ci"]["lo"] == out["token_reduction_ci"]["hi"] == 1.0  # stops where full does
    with pytest.raises(InternalsError, match="main probe 'attn_z\\+logistic' is not trained"):
        CutoffConfig(kinds=("attn_z",), main="attn_z+logistic")
    with pytest.raises(InternalsError, match="unknown combine vote"):
        CutoffConfig(combine=("vote",))
