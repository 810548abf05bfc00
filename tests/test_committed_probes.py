"""Every committed FactCheckmate probe loads, is bound to the embedded model's fingerprint, and
predicts what it predicted when tests/data/probe_predictions.json was written
(tests/data/make_probe_predictions.py) on a committed slice of qa_wikidata."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent
WANT = json.loads((HERE / "data" / "probe_predictions.json").read_text())
spec = importlib.util.spec_from_file_location("make_probe_predictions", HERE / "data" / "make_probe_predictions.py")
make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make)


def test_every_committed_probe_is_in_the_fixture():
    assert sorted(p.name for p in make.probes()) == sorted(WANT)


@pytest.mark.real_model
def test_committed_probes_predict_as_recorded(monkeypatch):
    import torch

    from internals import load_model
    from internals.heads import load_probe

    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(HERE / "data" / "bigbench"))
    torch.set_num_threads(1)
    lm = load_model(device="cpu")
    for probe in make.probes():
        card = load_probe(probe, model=lm).card  # refuses another model's fingerprint
        assert card["model"]["fingerprint"] == lm.fingerprint
    got = make.predictions(lm)
    for name, want in WANT.items():
        assert got[name]["questions"] == want["questions"]
        assert got[name]["p_hallucination"] == pytest.approx(want["p_hallucination"], abs=1e-4), name
