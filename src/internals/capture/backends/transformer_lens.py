"""TransformerLens 4.x backend: a `TransformerBridge` around its own copy of the HF model.

The bridge switches attention to eager and modifies the model it is given, so it gets a deep
copy (built once per loaded model and kept on it). Early stop uses TL's `stop_at_layer`.
"""

from __future__ import annotations

import copy
import tempfile
from typing import Callable

import torch

from ..sites import Site

HOOK_NAMES = {
    "embed": "embed.hook_out",
    "resid_pre": "blocks.{l}.hook_in",
    "resid_post": "blocks.{l}.hook_out",
    "attn_out": "blocks.{l}.attn.hook_out",
    "attn_z": "blocks.{l}.attn.hook_z",
    "mlp_out": "blocks.{l}.mlp.hook_out",
    "final_norm": "ln_final.hook_out",
}


def hook_name(site: Site) -> str:
    """The TransformerLens bridge hook name of a site, e.g. resid_post.3 -> blocks.3.hook_out."""
    return HOOK_NAMES[site.kind].format(l=site.layer)


def bridge(lm):
    """The TransformerBridge of `lm`, built on first use."""
    if "transformer_lens" not in lm._backends:
        from transformer_lens.model_bridge import TransformerBridge

        path = lm.path
        if path is None or not (str(path).startswith("/") or str(path).startswith(".")):
            path = tempfile.mkdtemp(prefix="internals-tl-")
            lm.model.config.save_pretrained(path)
        hf_copy = copy.deepcopy(lm.model)
        lm._backends["transformer_lens"] = TransformerBridge.boot_transformers(
            str(path), hf_model=hf_copy, tokenizer=lm.tokenizer, device=str(lm.device),
            dtype=next(lm.model.parameters()).dtype)
    return lm._backends["transformer_lens"]


def run(lm, batch, sites: list[Site], on_site: Callable, stop_block: int | None = None) -> None:
    """One forward through the bridge with a TL hook per site."""
    b = bridge(lm)
    def hook_for(site: Site):
        def fn(tensor, hook):
            on_site(site, tensor)  # returns None: a TL hook that returns a value replaces the activation

        return fn

    hooks = [(hook_name(s), hook_for(s)) for s in sites]
    stop = None if stop_block is None else stop_block + 1
    with torch.no_grad():
        b.run_with_hooks(batch.input_ids, attention_mask=batch.attention_mask, fwd_hooks=hooks,
                         stop_at_layer=stop, return_type=None if stop is not None else "logits")
