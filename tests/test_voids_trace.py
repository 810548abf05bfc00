"""Norm traces: PP via capture, RG per decode step, consistent with one forward; save/load;
summaries and figures from saved traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals.analyses.voids.readout import States
from internals.analyses.voids.report import per_prompt_rates, trace_figures, trace_plots, trace_summary
from internals.analyses.voids.trace import NormTrace, pp_norms, rg_norms, trace
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py


@pytest.fixture(scope="module")
def prompts(tiny_llama):
    tok = tiny_llama.tokenizer
    return [tok("Is the sky blue on a clear day?")["input_ids"], tok("Name a fruit.")["input_ids"]]


@pytest.fixture(scope="module")
def traced(tiny_llama, prompts):
    return trace(tiny_llama, prompts, max_new_tokens=5, batch_size=2, manifest={"model": tiny_llama.describe()})


def test_shapes_and_masks(traced, prompts, tiny_llama):
    n_layers = tiny_llama.n_layers
    assert traced.pp.shape == (2, max(map(len, prompts)), n_layers + 1)
    assert traced.pp_mask.sum(1).tolist() == [len(p) for p in prompts]
    assert traced.rg.shape == (2, 4, n_layers + 1)  # 5 new tokens -> 4 fed back
    assert traced.rg_mask.all()
    assert [len(t) for t in traced.rg_tokens] == [4, 4]
    assert traced.lac(0.8, "rg").activated.shape == (2, 4, n_layers)
    assert (traced.pp[~traced.pp_mask] == 0).all()


def test_pp_norms_equal_a_plain_forward(tiny_llama, prompts, traced):
    for i, p in enumerate(prompts):
        with torch.no_grad(), States(tiny_llama) as rec:
            tiny_llama.model(input_ids=torch.tensor([p]))
        norms = torch.linalg.vector_norm(rec.rows[0].float(), dim=-1).numpy()
        np.testing.assert_allclose(traced.pp[i, : len(p)], norms, rtol=1e-5, atol=1e-5)


def test_rg_steps_equal_one_forward_over_the_whole_text(tiny_llama, prompts):
    norms, generated, fed = rg_norms(tiny_llama, prompts[0], 6)
    assert fed == generated[:-1]
    full, _ = pp_norms(tiny_llama, [prompts[0] + fed])
    np.testing.assert_allclose(norms, full[0, len(prompts[0]) :], rtol=1e-4, atol=1e-4)


def test_save_load_roundtrip(traced, tmp_path):
    loaded = NormTrace.load(traced.save(tmp_path / "t"))
    np.testing.assert_array_equal(loaded.pp, traced.pp)
    np.testing.assert_array_equal(loaded.rg_mask, traced.rg_mask)
    assert loaded.rg_tokens == traced.rg_tokens and loaded.texts == traced.texts
    assert loaded.manifest["model"]["fingerprint"] == traced.manifest["model"]["fingerprint"]
    assert torch.equal(loaded.lac(0.5, "pp").activated, traced.lac(0.5, "pp").activated)


def test_summary_and_figures(traced, tiny_llama, tmp_path):
    summary = trace_summary(traced, [0.1, 0.8])
    assert set(summary["alphas"]["0.8"]) == {"pp", "rg"}
    row = summary["alphas"]["0.8"]["pp"]
    assert row["void_share"] == pytest.approx(traced.lac(0.8, "pp").void_share())
    assert len(row["layer_rates"]) == tiny_llama.n_layers
    rates = per_prompt_rates(traced, 0.8, "pp")
    assert rates.shape == (tiny_llama.n_layers, 2) and np.all((rates >= 0) & (rates <= 1))
    paths = trace_figures(traced, 0.8, [0.1, 0.8], tmp_path, tokenizer=tiny_llama.tokenizer, formats=("html",))
    assert sorted(p.name for p in paths) == [
        "voids_alpha_share.html",
        "voids_layer_phase.html",
        "voids_layer_rates.html",
        "voids_token_map.html",
    ]
    figs = trace_plots(traced, 0.8, [0.1, 0.8], tokenizer=tiny_llama.tokenizer)  # the same figures, as objects
    assert sorted(figs) == sorted(p.stem for p in paths)
    assert figs["voids_layer_phase"].data[0].z.shape == (2, tiny_llama.n_layers)  # phases x blocks


def test_bad_input(tiny_llama, prompts, tmp_path):
    with pytest.raises(InternalsError, match="no prompts"):
        trace(tiny_llama, [], 3)
    with pytest.raises(InternalsError, match="max_new_tokens"):
        trace(tiny_llama, prompts, -1)
    pp_only = trace(tiny_llama, prompts[:1], 0)
    with pytest.raises(InternalsError, match="no generated tokens"):
        pp_only.lac(0.8, "rg")
    with pytest.raises(InternalsError, match="phase"):
        pp_only.lac(0.8, "decode")
    with pytest.raises(InternalsError, match="voids trace"):
        NormTrace.load(tmp_path)
