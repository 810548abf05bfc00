"""LayerNorm Scaling: the right norms, the right factors, removed exactly, kept through save/load."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_config
from internals import load_model
from internals.analyses.depth.lns import (
    CONFIG_FLAG,
    apply_layernorm_scaling,
    build_model,
    has_layernorm_scaling,
    remove_layernorm_scaling,
    restore_layernorm_scaling,
    scaling_plan,
)
from internals.capture.arch import architecture
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

EXPECTED_NORMS = {
    "llama": ("input_layernorm", "post_attention_layernorm"),
    "qwen2": ("input_layernorm", "post_attention_layernorm"),
    "mistral": ("input_layernorm", "post_attention_layernorm"),
    "gemma2": ("input_layernorm", "pre_feedforward_layernorm"),
    "gemma3": ("input_layernorm", "pre_feedforward_layernorm"),
    "gpt2": ("ln_1", "ln_2"),
}


def _ids(lm):
    enc = lm.tokenizer(
        ["Walt Disney created Mickey Mouse in 1928.", "Once upon a time"], return_tensors="pt", padding=True
    )
    return enc["input_ids"], enc["attention_mask"]


def _forward_recording(model, ids, mask, names):
    """Logits and the output of each named module (recorded after every other hook ran)."""
    modules = dict(model.named_modules())
    seen, handles = {}, []
    for name in names:
        handles.append(
            modules[name].register_forward_hook(lambda m, a, out, name=name: seen.__setitem__(name, out.detach()))
        )
    try:
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    return logits, seen


@pytest.mark.parametrize("family", list(EXPECTED_NORMS))
def test_scaling_factors_per_module_and_exact_removal(tiny_dirs, family):
    lm = load_model(tiny_dirs[family], device="cpu")
    model = lm.model
    arch = architecture(model)
    plan = scaling_plan(model)
    assert len(plan) == 2 * arch.n_layers
    for i in range(arch.n_layers):
        pair = [p for p in plan if p.block == i]
        assert [p.name.rsplit(".", 1)[1] for p in pair] == list(EXPECTED_NORMS[family])
        assert all(p.factor == 1 / math.sqrt(i + 1) for p in pair)
    final_norm = dict(model.named_modules())[arch.norm_path]
    assert all(p.name != arch.norm_path for p in plan)

    ids, mask = _ids(lm)
    before, _ = _forward_recording(model, ids, mask, [])
    handle = apply_layernorm_scaling(model)
    assert has_layernorm_scaling(model) and getattr(model.config, CONFIG_FLAG) is True
    assert len(final_norm._forward_hooks) == 0  # the final norm is untouched
    # Per module: the scaled output is the norm's own output times 1/sqrt(l). Recording hooks run
    # after the LNS hook, so each sees the scaled value; the unscaled one comes from calling the norm.
    modules = dict(model.named_modules())
    inputs = {}
    pre = [
        modules[p.name].register_forward_pre_hook(lambda m, a, name=p.name: inputs.__setitem__(name, a[0].detach()))
        for p in plan
    ]
    scaled_logits, seen = _forward_recording(model, ids, mask, [p.name for p in plan])
    for h in pre:
        h.remove()
    for p in plan:
        with torch.no_grad():
            raw = modules[p.name].forward(inputs[p.name])  # .forward skips hooks
        assert torch.allclose(seen[p.name], raw * p.factor, rtol=1e-6, atol=1e-7), p.name
    assert not torch.allclose(scaled_logits, before)

    handle.remove()
    assert not has_layernorm_scaling(model) and getattr(model.config, CONFIG_FLAG) is False
    after, _ = _forward_recording(model, ids, mask, [])
    assert torch.equal(before, after)
    assert all(len(modules[p.name]._forward_hooks) == 0 for p in plan)


def test_apply_twice_is_refused_and_context_manager_removes(tiny_llama):
    with apply_layernorm_scaling(tiny_llama.model):
        with pytest.raises(InternalsError, match="already applied"):
            apply_layernorm_scaling(tiny_llama.model)
    assert not has_layernorm_scaling(tiny_llama.model)
    remove_layernorm_scaling(tiny_llama.model)  # a no-op now


def test_post_norm_blocks_are_refused():
    from transformers import Olmo2Config

    cfg = Olmo2Config(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=256,
    )
    model = build_model(cfg)
    with pytest.raises(InternalsError, match="Pre-LN"):
        apply_layernorm_scaling(model)


def test_build_flag_same_init_and_save_load(tmp_path, tokenizer_dir):
    from transformers import AutoModelForCausalLM

    cfg = tiny_config("llama")
    pre = build_model(cfg, layernorm_scaling=False, seed=3)
    lns = build_model(cfg, layernorm_scaling=True, seed=3)
    assert not has_layernorm_scaling(pre) and has_layernorm_scaling(lns)
    assert not getattr(cfg, CONFIG_FLAG, False)  # the caller's config is not modified
    for (k, a), (_, b) in zip(pre.state_dict().items(), lns.state_dict().items()):
        assert torch.equal(a, b), k
    ids = torch.tensor([[1, 5, 9, 200, 3000]])
    with torch.no_grad():
        want = lns(input_ids=ids).logits
        assert not torch.allclose(want, pre(input_ids=ids).logits)
    lns.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert getattr(loaded.config, CONFIG_FLAG) is True and not has_layernorm_scaling(loaded)
    assert restore_layernorm_scaling(loaded) and not restore_layernorm_scaling(loaded)
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, want, atol=1e-6)


def test_lns_checkpoint_survives_save_and_load_model(tmp_path, tokenizer_dir, capsys):
    """Train a tiny LNS model a few steps, save it as `internals depth pretrain` does, reload it with
    load_model: LNS is applied again (and said), so the logits are exactly the trained model's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from internals import load_model

    model = build_model(tiny_config("llama"), layernorm_scaling=True, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        ids = torch.randint(0, 49152, (2, 16), generator=g)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    ids = torch.tensor([[1, 5, 9, 200, 3000, 17]])
    with torch.no_grad():
        want = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(tmp_path)
    lm = load_model(tmp_path, device="cpu")
    assert "LayerNorm Scaling" in capsys.readouterr().err
    assert has_layernorm_scaling(lm.model)
    with torch.no_grad():
        assert torch.equal(lm.model(input_ids=ids).logits, want)
        plain = AutoModelForCausalLM.from_pretrained(tmp_path)(input_ids=ids).logits  # weights alone: another model
    assert (plain - want).abs().max() > 1e-3
