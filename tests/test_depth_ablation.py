"""Layer skipping (`edits.skip`) and the depth layer ablation."""

from __future__ import annotations

import copy

import pytest
import torch

from internals import load_model
from internals.analyses.depth.trace import ablate
from internals.capture import attach, capture, edits
from internals.capture.arch import architecture
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

TEXTS = [
    "The University of Chicago Library system encompasses six libraries.",
    "Walt Disney created Mickey Mouse in 1928, together with Ub Iwerks.",
]


def _ids(lm):
    enc = lm.tokenizer(TEXTS, return_tensors="pt", padding=True)
    return enc["input_ids"], enc["attention_mask"]


def _logits(lm, ids, mask):
    with torch.no_grad():
        return lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits


@pytest.fixture()
def identity_block_llama(tiny_dirs):
    """A tiny Llama whose block 1 writes nothing into the residual stream (o_proj and down_proj zero)."""
    lm = load_model(tiny_dirs["llama"], device="cpu")
    block = architecture(lm.model).layers(lm.model)[1]
    with torch.no_grad():
        block.self_attn.o_proj.weight.zero_()
        block.mlp.down_proj.weight.zero_()
    return lm


def test_skipping_a_block_that_is_an_identity_changes_nothing(identity_block_llama):
    lm = identity_block_llama
    ids, mask = _ids(lm)
    intact = _logits(lm, ids, mask)
    with attach(lm.model, edits.skip([1])):
        skipped = _logits(lm, ids, mask)
    assert torch.equal(intact, skipped)
    result = ablate(lm, TEXTS, max_tokens=16, batch_size=2)
    assert result.delta[1] == 0.0
    assert result.delta[0] != 0.0 and result.delta[2] != 0.0  # real blocks do change the loss
    assert result.blocks == [0, 1, 2] and result.n_tokens > 0


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral", "gemma2", "gemma3", "gpt2"])
def test_skip_equals_deleting_the_block(tiny_dirs, family):
    lm = load_model(tiny_dirs[family], device="cpu")
    ids, mask = _ids(lm)
    with attach(lm.model, edits.skip([1])):
        skipped = _logits(lm, ids, mask)
    short = copy.deepcopy(lm.model)
    layers = architecture(short).layers(short)
    del layers[1]
    cfg = getattr(short.config, "text_config", None) or short.config
    if hasattr(cfg, "num_hidden_layers"):
        cfg.num_hidden_layers -= 1
    with torch.no_grad():
        deleted = short(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert torch.allclose(skipped, deleted, atol=1e-5)
    assert not torch.allclose(skipped, _logits(lm, ids, mask), atol=1e-4)


def test_skip_is_removed_on_exit_even_on_error(tiny_llama):
    ids, mask = _ids(tiny_llama)
    before = _logits(tiny_llama, ids, mask)
    block = architecture(tiny_llama.model).layers(tiny_llama.model)[0]
    # another library (nnsight wraps forwards) may already own an instance-level forward: it must come back
    own_forward = block.__dict__.get("forward")
    with pytest.raises(RuntimeError, match="boom"):
        with attach(tiny_llama.model, edits.skip([0, 2])):
            raise RuntimeError("boom")
    assert block.__dict__.get("forward") is own_forward
    assert torch.equal(before, _logits(tiny_llama, ids, mask))


def test_hooks_on_a_skipped_block_see_its_input(tiny_llama):
    with attach(tiny_llama.model, edits.skip([1])):
        acts = capture(tiny_llama, TEXTS, ["resid_pre.1", "resid_post.1"], reduce="none")
    assert torch.equal(acts["resid_pre.1"], acts["resid_post.1"])


def test_bad_blocks_are_refused(tiny_llama):
    block = architecture(tiny_llama.model).layers(tiny_llama.model)[1]
    own_forward = block.__dict__.get("forward")
    with pytest.raises(InternalsError, match="out of range"):
        with attach(tiny_llama.model, edits.skip([3])):
            pass
    with pytest.raises(InternalsError, match="not a layer number"):
        with attach(tiny_llama.model, edits.skip(["1"])):
            pass
    with attach(tiny_llama.model, edits.skip([1])):
        with pytest.raises(InternalsError, match="already skipped"):
            with attach(tiny_llama.model, edits.skip([1])):
                pass
    assert block.__dict__.get("forward") is own_forward
