"""Capture semantics: padding, reducers, spans, early stop, hook hygiene, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals import InternalsError, capture
from internals.capture.arch import architecture
from internals.capture.backends import hooks as hooks_backend
from internals.capture.sites import parse_sites

MIXED = [
    "Hi",
    "The capital of France is",
    "One two three four five six seven eight nine ten eleven",
    "A",
    "Water boils at",
    "Who wrote Hamlet? It was",
    "x y",
    "The quick brown fox jumps over the lazy dog again",
]
SITES = ["resid_post.*", "attn_z.1", "mlp_out.2", "embed"]


@pytest.mark.parametrize("reduce", ["mean", "last", "none", "norm"])
def test_padded_batch_equals_single_calls(tiny_llama, reduce):
    batched = capture(tiny_llama, MIXED, SITES, reduce=reduce, batch_size=8)
    for i, prompt in enumerate(MIXED):
        single = capture(tiny_llama, [prompt], SITES, reduce=reduce)
        for name, value in single.items():
            got = batched[name][i]
            if reduce in ("none", "norm"):
                n = int(single.mask[0].sum())
                got, value = got[:n], value[0][:n]
                assert batched.mask[i, n:].sum() == 0
            else:
                value = value[0]
            assert (got - value).abs().max() <= 1e-5, (name, i)


def test_mean_equals_manual_mean_and_spans(tiny_llama):
    full = capture(tiny_llama, MIXED[:3], "resid_post.1", reduce="none")
    mean = capture(tiny_llama, MIXED[:3], "resid_post.1", reduce="mean")
    drop2 = capture(tiny_llama, MIXED[:3], "resid_post.1", reduce="mean", span="drop_last:2")
    drop0 = capture(tiny_llama, MIXED[:3], "resid_post.1", reduce="mean", span="drop_last:0")
    for i in range(3):
        n = int(full.mask[i].sum())
        x = full["resid_post.1"][i, :n]
        assert torch.allclose(mean["resid_post.1"][i], x.mean(0), atol=1e-5)
        assert torch.allclose(drop2["resid_post.1"][i], x[: max(n - 2, 1)].mean(0), atol=1e-5)
    assert torch.equal(drop0["resid_post.1"], mean["resid_post.1"])


def test_input_output_pairs_select_spans(tiny_llama):
    pair = [("The capital of France is", " Paris, of course")]
    whole = capture(tiny_llama, ["The capital of France is Paris, of course"], "resid_post.2", reduce="none")
    inp = capture(tiny_llama, pair, "resid_post.2", reduce="mean", span="input")
    both = capture(tiny_llama, pair, "resid_post.2", reduce="mean", span="all")
    n_in = len(tiny_llama.tokenizer("The capital of France is")["input_ids"])
    seq = capture(tiny_llama, pair, "resid_post.2", reduce="none")["resid_post.2"][0]
    assert torch.allclose(inp["resid_post.2"][0], seq[:n_in].mean(0), atol=1e-5)
    assert torch.allclose(both["resid_post.2"][0], seq.mean(0), atol=1e-5)
    assert whole["resid_post.2"].shape[-1] == seq.shape[-1]


def test_stats_equal_numpy(tiny_llama):
    stats = capture(tiny_llama, MIXED, "resid_post.*", reduce="stats", batch_size=3)
    full = capture(tiny_llama, MIXED, "resid_post.*", reduce="none")
    rows = full["resid_post.2"][full.mask].double().numpy()
    m = stats["resid_post.2"]
    assert m.count == rows.shape[0]
    np.testing.assert_allclose(m.mean.numpy(), rows.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m.var.numpy(), rows.var(0), rtol=1e-6, atol=1e-7)


def test_attn_z_is_o_proj_input_by_head(tiny_llama):
    arch = architecture(tiny_llama.model)
    acts = capture(tiny_llama, MIXED[:2], ["attn_z.0", "attn_out.0"], reduce="none")
    z = acts["attn_z.0"]
    assert z.shape[-2:] == (arch.n_heads, arch.d_head)
    o_proj = arch.module(tiny_llama.model, "out_proj", 0)
    with torch.no_grad():
        out = o_proj(z.flatten(-2))
    mask = acts.mask
    assert (out[mask] - acts["attn_out.0"][mask]).abs().max() <= 1e-5


def test_early_stop_skips_later_blocks(tiny_llama):
    arch = architecture(tiny_llama.model)
    ran = []
    handles = [
        arch.module(tiny_llama.model, "block", i).register_forward_hook(lambda m, a, o, i=i: ran.append(i))
        for i in range(arch.n_layers)
    ]
    head = tiny_llama.model.get_output_embeddings().register_forward_hook(lambda *a: ran.append("head"))
    try:
        early = capture(tiny_llama, MIXED[:2], "resid_post.1", reduce="mean")
        assert ran == [0, 1]
        ran.clear()
        late = capture(tiny_llama, MIXED[:2], "resid_post.1", reduce="mean", stop_early=False)
        assert ran == [0, 1, 2, "head"]
    finally:
        for h in handles + [head]:
            h.remove()
    assert torch.equal(early["resid_post.1"], late["resid_post.1"])


@pytest.mark.parametrize("backend", ["transformer_lens", "nnsight"])
def test_early_stop_other_backends_match(tiny_llama, backend):
    ref = capture(tiny_llama, MIXED[:3], ["embed", "resid_post.0-1"], reduce="mean", stop_early=False)
    got = capture(tiny_llama, MIXED[:3], ["embed", "resid_post.0-1"], reduce="mean", backend=backend)
    assert max((ref[k] - got[k]).abs().max().item() for k in ref) <= 1e-5


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_removed_after_exception_in_forward(tiny_llama):
    before = _hook_count(tiny_llama.model)
    mlp = architecture(tiny_llama.model).module(tiny_llama.model, "mlp", 1)
    boom = mlp.register_forward_hook(lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    try:
        with pytest.raises(RuntimeError, match="boom"):
            capture(tiny_llama, MIXED[:2], ["resid_post.*", "attn_z.*"], reduce="mean")
    finally:
        boom.remove()
    assert _hook_count(tiny_llama.model) == before


def test_trace_removes_hooks_after_stop_and_error(tiny_llama):
    sites = parse_sites("resid_post.0", 3)
    before = _hook_count(tiny_llama.model)
    with pytest.raises(ValueError):
        with hooks_backend.Trace(tiny_llama.model, sites, lambda s, x: None):
            raise ValueError("inside")
    assert _hook_count(tiny_llama.model) == before


@pytest.mark.parametrize(
    "sites, message",
    [
        ("resid_mid.1", "unknown site 'resid_mid.1'"),
        ("resid_post.3", "layer 3 out of range"),
        ("resid_post.x", "bad layer 'x'"),
        ("attn_z.2-1", "empty layer range"),
    ],
)
def test_bad_sites(tiny_llama, sites, message):
    with pytest.raises(InternalsError, match=message):
        capture(tiny_llama, ["hello"], sites)


def test_bad_reducer_span_backend(tiny_llama):
    with pytest.raises(InternalsError, match="unknown reducer"):
        capture(tiny_llama, ["hello"], "embed", reduce="max")
    with pytest.raises(InternalsError, match="unknown span"):
        capture(tiny_llama, ["hello"], "embed", span="middle")
    with pytest.raises(InternalsError, match="unknown backend"):
        capture(tiny_llama, ["hello"], "embed", backend="baukit")
    with pytest.raises(InternalsError, match="no prompts"):
        capture(tiny_llama, [], "embed")
