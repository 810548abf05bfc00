"""A capture leaves the user's model and tokenizer as it found them, on every backend: padding and
truncation side, attention implementation, training mode, torch hooks, grad mode."""

from __future__ import annotations

import pytest
import torch

from internals import capture, edits, load_model


def _state(lm) -> dict:
    m, t = lm.model, lm.tokenizer
    return {
        "padding_side": t.padding_side,
        "truncation_side": t.truncation_side,
        "pad_token": t.pad_token,
        "attn": m.config._attn_implementation,
        "training": m.training,
        "grad": torch.is_grad_enabled(),
        "hooks": [(len(x._forward_hooks), len(x._forward_pre_hooks)) for x in m.modules()],
        "requires_grad": [p.requires_grad for p in m.parameters()],
    }


@pytest.mark.parametrize("backend", ["hooks", "transformer_lens", "nnsight"])
@pytest.mark.parametrize("training", [False, True])
def test_capture_has_no_side_effects(tiny_dirs, backend, training):
    lm = load_model(tiny_dirs["llama"], device="cpu")
    lm.model.train(training)
    before = _state(lm)
    capture(lm, ["a b c", "d"], ["resid_post.1", "attn_z.0"], backend=backend)
    capture(lm, ["a b c", "d"], "logits", reduce="last", backend=backend, edits=edits.skip("block.1"))
    assert _state(lm) == before
