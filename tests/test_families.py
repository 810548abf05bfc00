"""Every decoder family the grammar claims: load-time validation passes and the three backends
agree on every site and under edits (<= 1e-5, fp32, eager attention); a family whose sites do not
compose is refused in one line. The family table in docs/models.md (and the list in README.md) is
this test's own list, rendered by benchmarks/make_tables.py (tests/test_results_tables.py checks it)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from families import FAMILIES, config
from internals import InternalsError, capture, edits, load_model, wrap
from internals.capture.arch import architecture
from internals.capture.validate import validate

SITES = [
    "embed",
    "resid_pre.*",
    "attn_in.*",
    "attn_z.*",
    "attn_out.*",
    "mlp_in.*",
    "mlp_out.*",
    "resid_post.*",
    "final_norm",
    "logits",
]
PROMPTS = ["The capital of France is", "Hi there, my good friend", "A longer prompt with a few more tokens in it."]


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def _model(family: str, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config(family))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return load_model(tmp_path, device="cpu", attn_implementation="eager")  # validates on load


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_validates_and_backends_agree(family, tokenizer, tmp_path):
    torch.set_num_threads(1)
    lm = _model(family, tokenizer, tmp_path)
    worst = validate(lm)
    assert set(worst) >= {"resid_post", "attn_in", "mlp_in", "final_norm"} and max(worst.values()) < 1e-4
    steer = edits.add("resid_post.1", torch.linspace(-1, 1, 64), scale=3.0) | edits.zero("attn_z.0", heads=[1])
    for edit in (None, steer):
        ref = capture(lm, PROMPTS, SITES, reduce="none", edits=edit)
        for backend in ("transformer_lens", "nnsight"):
            other = capture(lm, PROMPTS, SITES, reduce="none", edits=edit, backend=backend)
            for name in ref:
                assert other[name].shape == ref[name].shape, (backend, name)
                assert (other[name] - ref[name]).abs().max() <= 1e-5, (family, backend, name, edit is not None)


def test_a_family_whose_sites_do_not_compose_is_refused(tokenizer):
    """Bloom as the grammar read it before: attn_out / mlp_out from modules that add the residual
    inside, and embed before the embedding LayerNorm. Validation names the site and the size."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config("bloom"))
    arch = architecture(model)
    model.__dict__["_internals_arch"] = dataclasses.replace(
        arch, attn_out_name="self_attention", mlp_out_name="mlp", embed_path="transformer.word_embeddings"
    )
    with pytest.raises(
        InternalsError, match=r"BloomForCausalLM: (embed|resid_post\.0) differs from .* by [0-9.]+"
    ) as info:
        validate(wrap(model, tokenizer))
    assert "\n" not in str(info.value) and "validate=False" in str(info.value)
