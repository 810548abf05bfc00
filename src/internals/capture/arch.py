"""Where the residual stream, attention and MLP live in an HF causal LM, for every family we know.

One lookup serves Llama, Qwen2/3, Mistral, Mixtral, Gemma 2/3, OLMo 1/2, GPT-2, GPT-J, GPT-NeoX,
Falcon, Phi, Bloom, OPT and most decoder-only models whose blocks sit in a ModuleList: the
attribute names below are tried in order. What a site is in each family (which module's output,
or input) is decided here once; `internals.capture.validate` checks it on a real forward.

Family quirks handled here:
- Bloom's attention and MLP modules add the residual inside: `attn_out` / `mlp_out` are read
  from their output projections (`dense`, `dense_4h_to_h`); `embed` is read after Bloom's
  embedding LayerNorm (what the first block receives).
- OPT has no MLP module: `mlp_out` is `fc2`'s output, `mlp_in` its `final_layer_norm`'s.
- Gemma 2/3 and OLMo 2 normalise the attention and MLP outputs (post-norms): their
  `post_attention_layernorm` is a post-norm, not the pre-MLP norm.
- Parallel blocks (GPT-J, Falcon, Phi, Cohere, GPT-NeoX with use_parallel_residual): attention
  and MLP read the same stream; without a pre-MLP norm of its own, `mlp_in` is the MLP's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InternalsError

LAYER_PATHS = (
    "model.layers",
    "transformer.h",
    "model.language_model.layers",
    "language_model.model.layers",
    "gpt_neox.layers",
    "model.decoder.layers",
    "transformer.layers",
)
NORM_PATHS = (
    "model.norm",
    "transformer.ln_f",
    "model.language_model.norm",
    "language_model.model.norm",
    "gpt_neox.final_layer_norm",
    "model.decoder.final_layer_norm",
    "transformer.norm",
    "model.final_layernorm",
)
ATTN_NAMES = ("self_attn", "attn", "attention", "self_attention")
OUT_PROJ_NAMES = ("o_proj", "c_proj", "out_proj", "dense")
MLP_NAMES = ("mlp", "feed_forward", "ffn", "block_sparse_moe")
MLP_OUT_NAMES = ("fc2",)  # blocks without an MLP module (OPT): the MLP's last projection
ATTN_NORM_NAMES = ("input_layernorm", "ln_1", "self_attn_layer_norm")
MLP_NORM_NAMES = ("pre_feedforward_layernorm", "post_attention_layernorm", "ln_2", "final_layer_norm")
POST_MLP_NORM = "post_feedforward_layernorm"
# Bloom-style modules that add the residual inside: read their projection instead
RESIDUAL_INSIDE = {"BloomForCausalLM": ("dense", "dense_4h_to_h")}
EMBED_NORMS = ("word_embeddings_layernorm",)
PARALLEL_TYPES = ("gptj", "phi", "cohere", "codegen")


def _get(root: torch.nn.Module, path: str) -> Any:
    """The submodule (or attribute) at dotted `path`, None when a part is missing."""
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _has(module: torch.nn.Module, name: str) -> bool:
    return isinstance(getattr(module, name, None), torch.nn.Module)


def _child(module: torch.nn.Module, names: tuple[str, ...], what: str, where: str) -> tuple[str, torch.nn.Module]:
    for name in names:
        child = getattr(module, name, None)
        if isinstance(child, torch.nn.Module):
            return name, child
    raise InternalsError(
        f"no {what} module found in {where} (looked for {', '.join(names)}): this architecture is not supported yet"
    )


@dataclass(frozen=True)
class Architecture:
    """Module paths of one model; `layers_path` etc. are dotted names, also used by the nnsight backend.

    Block-relative names: `attn_name` (the attention module), `out_proj_name` (inside it),
    `attn_out_name` (whose output is `attn_out`), `mlp_name` (the MLP module, or the module the
    MLP's input enters), `mlp_out_name` (whose output is `mlp_out`), `attn_norm_name` /
    `mlp_norm_name` (pre-norms; None: the site is the module's input), `post_attn_norm_name` /
    `post_mlp_norm_name` (post-norms, None when the family has none). `parallel`: attention and MLP
    read the same stream. `absolute_positions`: learned position embeddings are added after `embed`.
    """

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
    attn_out_name: str = ""
    mlp_out_name: str = ""
    post_attn_norm_name: str | None = None
    post_mlp_norm_name: str | None = None
    parallel: bool = False
    absolute_positions: bool = False
    flat_mlp: bool = False  # OPT: the MLP runs on [batch * tokens, d]; mlp_in / mlp_out are reshaped back

    def layers(self, model) -> torch.nn.ModuleList:
        return _get(model, self.layers_path)

    def module(self, model, kind: str, layer: int | None) -> torch.nn.Module:
        """The module a site hooks: kind in embed, block, attn, attn_out, out_proj, mlp, mlp_out,
        attn_norm, mlp_norm, post_attn_norm, post_mlp_norm, final_norm, lm_head."""
        if kind == "embed":
            return _get(model, self.embed_path)
        if kind == "final_norm":
            return _get(model, self.norm_path)
        if kind == "lm_head":
            return model.get_output_embeddings()
        if layer is None:
            raise InternalsError(f"the {kind} site needs a layer: write {kind}.<layer>")
        block = self.layers(model)[layer]
        names = {
            "block": "",
            "attn": self.attn_name,
            "attn_out": self.attn_out_name or self.attn_name,
            "out_proj": f"{self.attn_name}.{self.out_proj_name}",
            "mlp": self.mlp_name,
            "mlp_out": self.mlp_out_name or self.mlp_name,
            "attn_norm": self.attn_norm_name,
            "mlp_norm": self.mlp_norm_name,
            "post_attn_norm": self.post_attn_norm_name,
            "post_mlp_norm": self.post_mlp_norm_name,
        }
        if kind not in names:
            raise ValueError(kind)
        name = names[kind]
        if name is None:
            raise InternalsError(f"{type(model).__name__} blocks have no {kind.replace('_', ' ')}")
        return block if name == "" else _get(block, name)


def architecture(model: torch.nn.Module) -> Architecture:
    """Find the decoder blocks, final norm, attention, output projection and MLP of `model`."""
    arch = model.__dict__.get("_internals_arch")
    if arch is None:
        arch = model.__dict__["_internals_arch"] = _find(model)
    return arch


def _norms(block: torch.nn.Module) -> tuple[str | None, str | None, str | None, str | None]:
    """(pre-attention, pre-MLP, post-attention, post-MLP) norm names of a block."""
    attn_norm = next((n for n in ATTN_NORM_NAMES if _has(block, n)), None)
    if _has(block, POST_MLP_NORM):  # Gemma 2/3, OLMo 2: post_attention_layernorm is a post-norm
        mlp_norm = "pre_feedforward_layernorm" if _has(block, "pre_feedforward_layernorm") else None
        return (
            attn_norm,
            mlp_norm,
            "post_attention_layernorm" if _has(block, "post_attention_layernorm") else None,
            POST_MLP_NORM,
        )
    mlp_norm = next((n for n in MLP_NORM_NAMES if _has(block, n)), None)
    return attn_norm, mlp_norm, None, None


def _find(model: torch.nn.Module) -> Architecture:
    layers_path = next((p for p in LAYER_PATHS if isinstance(_get(model, p), torch.nn.ModuleList)), None)
    name = type(model).__name__
    if layers_path is None:
        raise InternalsError(
            f"{name} has no residual stream the site grammar knows (no decoder block list at {', '.join(LAYER_PATHS)})"
        )
    norm_path = next((p for p in NORM_PATHS if isinstance(_get(model, p), torch.nn.Module)), None)
    if norm_path is None:
        raise InternalsError(f"{name}: no final norm found (looked for {', '.join(NORM_PATHS)})")
    block = _get(model, layers_path)[0]
    attn_name, attn = _child(block, ATTN_NAMES, "attention", f"{name} block 0")
    out_name, out_proj = _child(attn, OUT_PROJ_NAMES, "attention output projection", f"{name} block 0 attention")
    flat = False
    try:
        mlp_name, _ = _child(block, MLP_NAMES, "MLP", f"{name} block 0")
        mlp_out = mlp_name
    except InternalsError:
        mlp_out, _ = _child(block, MLP_OUT_NAMES + MLP_NAMES, "MLP", f"{name} block 0")
        mlp_name, flat = "fc1", True
    attn_out = attn_name
    if name in RESIDUAL_INSIDE:
        attn_proj, mlp_proj = RESIDUAL_INSIDE[name]
        attn_out, mlp_out = f"{attn_name}.{attn_proj}", f"{mlp_name}.{mlp_proj}"
    attn_norm, mlp_norm, post_attn, post_mlp = _norms(block)
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped)
    cfg = getattr(cfg, "text_config", None) or cfg
    n_heads = getattr(cfg, "num_attention_heads", None) or cfg.n_head
    d_model = getattr(cfg, "hidden_size", None) or cfg.n_embd
    proj: Any = out_proj  # a Linear, or GPT-2's Conv1D (weight transposed)
    z_width = proj.weight.shape[0] if type(proj).__name__ == "Conv1D" else proj.in_features
    embed = model.get_input_embeddings()  # type: ignore[operator]  # every HF PreTrainedModel has it; nn.Module's type does not
    embed_path = next(n for n, m in model.named_modules() if m is embed)
    parent = embed_path.rpartition(".")[0]
    for norm in EMBED_NORMS:  # Bloom: the stream starts after the embedding LayerNorm
        if isinstance(_get(model, f"{parent}.{norm}" if parent else norm), torch.nn.Module):
            embed_path = f"{parent}.{norm}" if parent else norm
    parallel = bool(
        getattr(cfg, "use_parallel_residual", False)
        or getattr(cfg, "parallel_attn", False)
        or getattr(cfg, "model_type", "") in PARALLEL_TYPES
    )
    if getattr(cfg, "model_type", "") == "falcon" and getattr(cfg, "new_decoder_architecture", False):
        parallel = True
    absolute = any(
        _has(_get(model, parent) if parent else model, n) for n in ("wpe", "embed_positions", "position_embeddings")
    )
    return Architecture(
        layers_path,
        embed_path,
        norm_path,
        attn_name,
        out_name,
        mlp_name,
        len(_get(model, layers_path)),
        n_heads,
        z_width // n_heads,
        d_model,
        attn_norm,
        mlp_norm,
        attn_out,
        mlp_out,
        post_attn,
        post_mlp,
        parallel,
        absolute,
        flat,
    )
