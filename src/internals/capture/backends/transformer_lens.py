"""TransformerLens 4.x backend: a `TransformerBridge` around its own copy of the HF model.

The bridge switches attention to eager and modifies the model it is given, so it gets a deep
copy (built once per loaded model and kept on it). Early stop uses TL's `stop_at_layer`.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable

import torch

from ...errors import InternalsError
from ..apply import Forward, Plan
from ..sites import Site


def _skip_hooks(plan: Plan, forward: Forward) -> list:
    """TL has no way to not run a block: a skipped block's output is replaced by its input (same
    logits; the block's compute is not saved on this backend)."""
    hooks = []
    for layer, bounds in plan.skipped.items():
        kept: dict = {}

        def keep(tensor, hook, kept=kept):
            kept["x"] = tensor

        def swap(tensor, hook, kept=kept, bounds=bounds):
            for b in bounds:
                m = forward.mask(b.edit.positions, tensor)
                tensor = kept["x"] if m is None else torch.where(m.unsqueeze(-1), kept["x"], tensor)
            return tensor

        hooks += [(f"blocks.{layer}.hook_in", keep), (f"blocks.{layer}.hook_out", swap)]
    return hooks


HOOK_NAMES = {
    "embed": "embed.hook_out",
    "resid_pre": "blocks.{l}.hook_in",
    "resid_post": "blocks.{l}.hook_out",
    "attn_in": "blocks.{l}.ln1.hook_out",
    "attn_out": "blocks.{l}.attn.hook_out",
    "mlp_in": "blocks.{l}.ln2.hook_out",
    "attn_z": "blocks.{l}.attn.hook_z",
    "mlp_out": "blocks.{l}.mlp.hook_out",
    "final_norm": "ln_final.hook_out",
    "logits": "unembed.hook_out",
}


def hook_name(site: Site, arch=None) -> str:
    """The TransformerLens bridge hook name of a site, e.g. resid_post.3 -> blocks.3.hook_out.
    `arch` adapts it to the family: a missing pre-norm (the module's input instead), Bloom's
    embedding LayerNorm and its residual-adding modules (their output projections instead)."""
    if arch is not None:
        kind = site.kind
        if kind == "attn_in" and arch.attn_norm_name is None:
            return f"blocks.{site.layer}.attn.hook_in"
        if kind == "mlp_in" and arch.mlp_norm_name is None:
            return f"blocks.{site.layer}.mlp.hook_in"
        if kind == "embed" and arch.embed_path.endswith("layernorm"):
            return "embed_ln.hook_out"
        if kind == "attn_out" and arch.attn_out_name not in ("", arch.attn_name):
            return f"blocks.{site.layer}.attn.o.hook_out"
        if kind == "mlp_out" and arch.mlp_out_name not in ("", arch.mlp_name) and not arch.flat_mlp:
            return f"blocks.{site.layer}.mlp.out.hook_out"
    return HOOK_NAMES[site.kind].format(l=site.layer)


def bridge(lm):
    """The TransformerBridge of `lm`, built on first use."""
    if "transformer_lens" not in lm._backends:
        from transformer_lens.model_bridge import TransformerBridge

        path = lm.path
        if path is None or not (str(path).startswith("/") or str(path).startswith(".")):
            path = tempfile.mkdtemp(prefix="internals-tl-")
            lm.model.config.save_pretrained(path)
        hf_copy = _without_edits(copy.deepcopy(lm.model))
        try:
            lm._backends["transformer_lens"] = TransformerBridge.boot_transformers(
                str(path),
                hf_model=hf_copy,
                tokenizer=lm.tokenizer,
                device=str(lm.device),
                dtype=next(lm.model.parameters()).dtype,
            )
        except Exception as err:  # noqa: BLE001 - TransformerLens raises many kinds for an unsupported model
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise InternalsError(
                f"the transformer_lens backend cannot run {type(lm.model).__name__}: {first} "
                "(use backend='hooks' or 'nnsight')"
            ) from None
    return lm._backends["transformer_lens"]


def _without_edits(model):
    """The copy without the hooks and skipped forwards of edits attached to the original (the
    backend applies those through TL hooks instead)."""
    from .hooks import _NO_INSTANCE_FORWARD, _SKIP_MARK, ATTACHED

    model.__dict__.pop(ATTACHED, None)
    for module in model.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        if _SKIP_MARK in module.__dict__:
            previous = module.__dict__.pop(_SKIP_MARK)
            if previous is _NO_INSTANCE_FORWARD:
                del module.forward
            else:
                module.forward = previous
    return model


def run(
    lm,
    batch,
    sites: list[Site],
    on_site: Callable,
    stop_block: int | None = None,
    edits: Plan | None = None,
    forward: Forward | None = None,
) -> None:
    """One forward through the bridge with a TL hook per site read or written."""
    b = bridge(lm)
    forward = forward or Forward()
    reads = set(sites)

    def hook_for(site: Site):
        apply = edits.apply if edits is not None and site in edits.by_site else None

        def fn(tensor, hook):
            if apply is not None:
                tensor = apply(site, tensor, forward)
            if site in reads:
                on_site(site, tensor)
            return tensor if apply is not None else None  # a TL hook that returns a value replaces the activation

        return fn

    written = set(edits.by_site) if edits is not None else set()
    from ..arch import architecture

    arch = architecture(lm.model)
    hooks = [(hook_name(s, arch), hook_for(s)) for s in sorted(reads | written)]
    if edits is not None:
        hooks = _skip_hooks(edits, forward) + hooks
    stop = None if stop_block is None else stop_block + 1
    with torch.no_grad():
        b.run_with_hooks(
            batch.input_ids,
            attention_mask=batch.attention_mask,
            fwd_hooks=hooks,
            stop_at_layer=stop,
            return_type=None if stop is not None else "logits",
        )
