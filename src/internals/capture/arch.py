"""Where the residual stream, attention and MLP live in an HF causal LM, for every family we know.

One lookup serves Llama, Qwen2, Mistral, Gemma 2/3, GPT-2 and most decoder-only models whose
blocks sit in a ModuleList: the attribute names below are tried in order.
"""

from __future__ import annotations

from dataclasses import dataclass
import torch

from ..errors import InternalsError

LAYER_PATHS = ("model.layers", "transformer.h", "model.language_model.layers", "language_model.model.layers",
               "gpt_neox.layers", "model.decoder.layers", "transformer.layers")
NORM_PATHS = ("model.norm", "transformer.ln_f", "model.language_model.norm", "language_model.model.norm",
              "gpt_neox.final_layer_norm", "model.decoder.final_layer_norm", "transformer.norm")
ATTN_NAMES = ("self_attn", "attn", "attention", "self_attention")
OUT_PROJ_NAMES = ("o_proj", "c_proj", "out_proj", "dense")
MLP_NAMES = ("mlp", "feed_forward", "ffn")
ATTN_NORM_NAMES = ("input_layernorm", "ln_1")
# Gemma 2/3's post_attention_layernorm normalises the attention output (a post-norm); their
# pre-MLP norm is pre_feedforward_layernorm, so that name is tried first.
MLP_NORM_NAMES = ("pre_feedforward_layernorm", "post_attention_layernorm", "ln_2")


def _get(root: torch.nn.Module, path: str):
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _child(module: torch.nn.Module, names: tuple[str, ...], what: str, where: str) -> tuple[str, torch.nn.Module]:
    for name in names:
        child = getattr(module, name, None)
        if isinstance(child, torch.nn.Module):
            return name, child
    raise InternalsError(f"no {what} module found in {where} (looked for {', '.join(names)}): this architecture is not supported yet")


@dataclass(frozen=True)
class Architecture:
    """Module paths of one model; `layers_path` etc. are dotted names, also used by the nnsight backend."""

    layers_path: str
    embed_path: str
    norm_path: str
    attn_name: str
    out_proj_name: str
    mlp_name: str
    n_layers: int
    n_heads: int
    d_head: int
    d_model: int
    attn_norm_name: str | None = None
    mlp_norm_name: str | None = None

    def layers(self, model) -> torch.nn.ModuleList:
        return _get(model, self.layers_path)

    def module(self, model, kind: str, layer: int | None) -> torch.nn.Module:
        """The module a site hooks: kind in embed, block, attn, out_proj, mlp, attn_norm, mlp_norm,
        final_norm, lm_head."""
        if kind == "embed":
            return model.get_input_embeddings()
        if kind == "final_norm":
            return _get(model, self.norm_path)
        if kind == "lm_head":
            return model.get_output_embeddings()
        block = self.layers(model)[layer]
        if kind == "block":
            return block
        attn = getattr(block, self.attn_name)
        if kind == "attn":
            return attn
        if kind == "out_proj":
            return getattr(attn, self.out_proj_name)
        if kind == "mlp":
            return getattr(block, self.mlp_name)
        if kind in ("attn_norm", "mlp_norm"):
            name = self.attn_norm_name if kind == "attn_norm" else self.mlp_norm_name
            if name is None:
                raise InternalsError(f"{kind.replace('_norm', '')}_in.{layer}: this model's blocks have no pre-{kind[:-5]} norm "
                                     f"(looked for {', '.join(ATTN_NORM_NAMES if kind == 'attn_norm' else MLP_NORM_NAMES)})")
            return getattr(block, name)
        raise ValueError(kind)


def architecture(model: torch.nn.Module) -> Architecture:
    """Find the decoder blocks, final norm, attention, output projection and MLP of `model`."""
    arch = model.__dict__.get("_internals_arch")
    if arch is None:
        arch = model.__dict__["_internals_arch"] = _find(model)
    return arch


def _find(model: torch.nn.Module) -> Architecture:
    layers_path = next((p for p in LAYER_PATHS if isinstance(_get(model, p), torch.nn.ModuleList)), None)
    name = type(model).__name__
    if layers_path is None:
        raise InternalsError(f"{name} has no residual stream the site grammar knows (no decoder block list at {', '.join(LAYER_PATHS)})")
    norm_path = next((p for p in NORM_PATHS if isinstance(_get(model, p), torch.nn.Module)), None)
    if norm_path is None:
        raise InternalsError(f"{name}: no final norm found (looked for {', '.join(NORM_PATHS)})")
    block = _get(model, layers_path)[0]
    attn_name, attn = _child(block, ATTN_NAMES, "attention", f"{name} block 0")
    out_name, out_proj = _child(attn, OUT_PROJ_NAMES, "attention output projection", f"{name} block 0 attention")
    mlp_name, _ = _child(block, MLP_NAMES, "MLP", f"{name} block 0")
    attn_norm = next((n for n in ATTN_NORM_NAMES if isinstance(getattr(block, n, None), torch.nn.Module)), None)
    mlp_norm = next((n for n in MLP_NORM_NAMES if isinstance(getattr(block, n, None), torch.nn.Module)), None)
    cfg = model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    n_heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head")
    d_model = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")
    z_width = out_proj.weight.shape[0] if type(out_proj).__name__ == "Conv1D" else out_proj.in_features
    embed = model.get_input_embeddings()
    embed_path = next(n for n, m in model.named_modules() if m is embed)
    return Architecture(layers_path, embed_path, norm_path, attn_name, out_name, mlp_name, len(_get(model, layers_path)),
                        n_heads, z_width // n_heads, d_model, attn_norm, mlp_norm)
