"""The three backends give the same arrays, and resid_post agrees with HF output_hidden_states."""

from __future__ import annotations

import pytest
import torch

from conftest import FAMILIES
from internals import capture, load_model

PROMPTS = ["The capital of France is", "Hello", "A longer prompt with a few more tokens in it, to pad the others."]
SITES = ["resid_post.*", "attn_z.*", "mlp_out.*", "attn_out.*", "resid_pre.*", "embed", "final_norm"]
TOL = 1e-5


def _max_diff(a, b) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("family", FAMILIES)
def test_backends_agree_on_tiny_models(tiny_dirs, family):
    lm = load_model(tiny_dirs[family], device="cpu", attn_implementation="eager")
    ref = capture(lm, PROMPTS, SITES, reduce="none", backend="hooks")
    for backend in ("transformer_lens", "nnsight"):
        other = capture(lm, PROMPTS, SITES, reduce="none", backend=backend)
        assert list(other) == list(ref)
        for name in ref:
            assert other[name].shape == ref[name].shape, (backend, name)
        assert _max_diff(ref, other) <= TOL, backend


@pytest.mark.parametrize("family", FAMILIES)
def test_resid_post_matches_output_hidden_states(tiny_dirs, family):
    lm = load_model(tiny_dirs[family], device="cpu")
    acts = capture(lm, PROMPTS, ["resid_post.*", "final_norm"], reduce="none")
    enc = lm.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        hs = lm.model(**enc, output_hidden_states=True).hidden_states
    mask = enc.attention_mask.bool()
    n = lm.n_layers
    for layer in range(n - 1):  # HF's last entry is after the final norm
        assert (acts[f"resid_post.{layer}"][mask] - hs[layer + 1][mask]).abs().max() <= TOL
    assert (acts["final_norm"][mask] - hs[n][mask]).abs().max() <= TOL


@pytest.mark.real_model
def test_backends_agree_on_smollm2():
    lm = load_model(device="cpu", attn_implementation="eager")
    sites = ["resid_post.*", "attn_z.*", "mlp_out.*"]
    ref = capture(lm, PROMPTS[:2], sites, reduce="none")
    assert ref["resid_post.12"].shape[-1] == 576 and ref["attn_z.0"].shape[-2:] == (9, 64)
    for backend in ("transformer_lens", "nnsight"):
        assert _max_diff(ref, capture(lm, PROMPTS[:2], sites, reduce="none", backend=backend)) <= TOL


@pytest.mark.real_model
def test_smollm2_resid_post_matches_hidden_states():
    lm = load_model(device="cpu")
    acts = capture(lm, ["The capital of France is"], "resid_post.*", reduce="mean")
    assert acts["resid_post.12"].shape == (1, 576)
    enc = lm.tokenizer(["The capital of France is"], return_tensors="pt")
    with torch.no_grad():
        hs = lm.model(**enc, output_hidden_states=True).hidden_states
    for layer in range(29):
        assert (acts[f"resid_post.{layer}"][0] - hs[layer + 1][0].mean(0)).abs().max() <= 1e-3 * hs[
            layer + 1
        ].abs().max()
