"""Every committed FactCheckmate probe loads, is bound to its model's fingerprint (the embedded
SmolLM2 for probes/*, Gemma 3 270M for probes/gemma3-270m/*), is refused in one line by the other
model, and predicts what it predicted when tests/data/probe_predictions.json was written
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
    committed = [make.key(p) for p in make.probes()] + [make.key(p) for m in make.MODELS for p in make.probes(m)]
    assert sorted(committed) == sorted(WANT)
    assert make.probes("gemma3-270m"), "Gemma 3 has committed probes"


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
    _same(got)


def _same(got: dict) -> None:
    assert got
    for name, have in got.items():
        assert have["questions"] == WANT[name]["questions"]
        assert have["p_hallucination"] == pytest.approx(WANT[name]["p_hallucination"], abs=1e-4), name


@pytest.mark.gemma
def test_gemma_probes_predict_as_recorded_and_refuse_the_other_model(monkeypatch, gemma):
    import torch

    from internals import load_model
    from internals.errors import InternalsError
    from internals.heads import load_probe

    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(HERE / "data" / "bigbench"))
    torch.set_num_threads(1)
    smollm2 = load_model(device="cpu")
    for probe in make.probes("gemma3-270m"):
        assert load_probe(probe, model=gemma).card["model"]["fingerprint"] == gemma.fingerprint
        with pytest.raises(InternalsError) as info:
            load_probe(probe, model=smollm2)
        assert "\n" not in str(info.value) and "fingerprint" in str(info.value)
    with pytest.raises(InternalsError) as info:
        load_probe(make.probes()[0], model=gemma)
    assert "\n" not in str(info.value)
    _same(make.predictions(gemma, "gemma3-270m"))
