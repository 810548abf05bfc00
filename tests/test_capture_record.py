"""record(): per-forward-call capture during generation equals a full forward over the generated text."""

from __future__ import annotations

import pytest
import torch

from internals import capture
from internals.capture.record import record
from internals.errors import InternalsError

STEPS = 5


def _generate(lm, ids):
    return lm.model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=STEPS,
        min_new_tokens=STEPS,
        do_sample=False,
        pad_token_id=lm.tokenizer.pad_token_id,
    )


def _prompt(lm):
    return torch.tensor([lm.tokenizer("The capital of France is")["input_ids"]])


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_norm_per_step_equals_full_forward(tiny_llama):
    lm, ids = tiny_llama, _prompt(tiny_llama)
    with torch.no_grad():
        plain = _generate(lm, ids)
        with record(lm, "resid_post.*", reduce="norm") as rec:
            out = _generate(lm, ids)
        hidden = lm.model(plain[:, :-1], output_hidden_states=True).hidden_states
    assert torch.equal(out, plain)  # recording does not change the generation
    n = ids.shape[1]
    assert rec.tokens_per_call == [n] + [1] * (STEPS - 1)
    assert list(rec) == [f"resid_post.{i}" for i in range(lm.n_layers)]
    for layer in range(lm.n_layers - 1):  # HF's last hidden state is after the final norm
        want = hidden[layer + 1].norm(dim=-1)
        got = rec[f"resid_post.{layer}"]
        assert got.shape == (1, n + STEPS - 1) and got.device.type == "cpu"
        assert (got - want).abs().max() <= 1e-4
    calls = rec.calls("resid_post.0")
    assert [c.shape[1] for c in calls] == rec.tokens_per_call


def test_mean_per_call_and_stats(tiny_llama):
    lm, ids = tiny_llama, _prompt(tiny_llama)
    with torch.no_grad():
        with record(lm, ["resid_post.1", "attn_z.0"], reduce="mean") as rec:
            _generate(lm, ids)
        with record(lm, "resid_post.1", reduce="stats") as st:
            _generate(lm, ids)
    ref = capture(lm, [ids[0].tolist()], ["resid_post.1", "attn_z.0"], reduce="mean")
    assert rec["resid_post.1"].shape == (1, STEPS, lm.model.config.hidden_size)
    assert rec["attn_z.0"].shape[:2] == (1, STEPS) and rec["attn_z.0"].shape[2:] == ref["attn_z.0"].shape[1:]
    assert torch.allclose(rec.calls("resid_post.1")[0], ref["resid_post.1"], atol=1e-5)  # the prefill call
    assert torch.allclose(rec["attn_z.0"][:, 0], ref["attn_z.0"], atol=1e-5)
    assert st["resid_post.1"].count == ids.shape[1] + STEPS - 1
    with pytest.raises(InternalsError, match="merges all calls"):
        st.calls("resid_post.1")


def test_hooks_removed_even_when_the_block_raises(tiny_llama):
    before = _hook_count(tiny_llama.model)
    with pytest.raises(RuntimeError, match="boom"):
        with record(tiny_llama, "resid_post.*"):
            raise RuntimeError("boom")
    assert _hook_count(tiny_llama.model) == before
    with pytest.raises(InternalsError, match="unknown site"):
        with record(tiny_llama, "resid_middle.1"):
            pass
    assert _hook_count(tiny_llama.model) == before


def _per_site_reference(lm, ids, sites, reduce):
    """What record computed before it reduced once per call: each site reduced inside its own hook."""
    from internals.capture import Trace
    from internals.capture.capture import resolve_sites
    from internals.capture.reducers import reducer

    site_list, fn = resolve_sites(lm, sites), reducer(reduce)
    parts = {s.name: [] for s in site_list}
    with torch.no_grad(), Trace(lm.model, site_list, lambda site, x: parts[site.name].append(fn(x.detach(), None))):
        _generate(lm, ids)
    return {k: torch.cat(v, dim=1) for k, v in parts.items()}


@pytest.mark.parametrize("reduce", ["norm", "none"])
@pytest.mark.parametrize("defer", [True, False])
def test_once_per_call_equals_per_site_reduction(tiny_llama, monkeypatch, reduce, defer):
    import importlib

    record_module = importlib.import_module(
        "internals.capture.record"
    )  # the package exports the function under this name
    if not defer:  # every call large: reduced inside each hook
        monkeypatch.setattr(record_module, "DEFER_NUMEL", 0)
    lm, ids = tiny_llama, _prompt(tiny_llama)
    sites = ["resid_post.*", "attn_z.1", "mlp_out.0-1", "logits"]  # mixed shapes: per-site reduction at the end
    for spec in ("resid_post.*", sites):
        want = _per_site_reference(lm, ids, spec, reduce)
        with torch.no_grad(), record(lm, spec, reduce=reduce) as rec:
            _generate(lm, ids)
        assert list(rec) == list(want)
        for name, value in want.items():
            assert rec[name].shape == value.shape and rec[name].dtype == torch.float32
            assert (rec[name] - value).abs().max() <= 1e-6 * max(1.0, value.abs().max().item()), name
            assert (
                rec[name].untyped_storage().data_ptr() != rec[list(rec)[0]].untyped_storage().data_ptr()
                or name == list(rec)[0]
            )


def test_an_in_place_change_after_the_read_is_refused(tiny_llama):
    from internals import edits

    lm, ids = tiny_llama, _prompt(tiny_llama)
    before = _hook_count(lm.model)
    with torch.no_grad(), lm.edit(edits.replace("resid_pre.2", lambda x: x.mul_(2.0))):
        with pytest.raises(InternalsError, match="changed in place"):
            with record(lm, "resid_post.1", reduce="norm"):
                _generate(lm, ids)
    assert _hook_count(lm.model) == before
