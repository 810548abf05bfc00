"""LayerNorm Scaling (LNS, "The Curse of Depth in Large Language Models"), applied reversibly.

As the authors' `peft_pretraining/modeling_llama.py` (NORM_TYPE=LNS) computes it: in the decoder
block with 0-based index i, the outputs of the norm before attention and of the norm before the
MLP are multiplied by 1/sqrt(i+1). The final norm is untouched. No parameter changes: the scale
is the capture layer's edit `edits.layernorm_scaling(n_layers)` (a `scale` at the sites
`attn_in.*` and `mlp_in.*`), attached to the model, so removing it restores the model exactly.

Which norms are "pre-block" per family (the sites `attn_in.L` / `mlp_in.L`):

| family                   | before attention  | before the MLP              |
|--------------------------|-------------------|-----------------------------|
| Llama, Qwen2/3, Mistral  | input_layernorm   | post_attention_layernorm    |
| Gemma 2 / Gemma 3        | input_layernorm   | pre_feedforward_layernorm (their post_attention_layernorm is a post-norm, left alone) |
| GPT-2                    | ln_1              | ln_2                        |

`apply_layernorm_scaling(model)` also sets `model.config.layernorm_scaling = True`, so a
checkpoint saved afterwards says it was trained with LNS; `load_model` re-applies it to a model
loaded from such a checkpoint (and says so), as does `restore_layernorm_scaling(model)` for a model
built some other way (edits are not saved with weights).

The authors warn that LNS loses its effect with depth-scaled initialisation (OLMo-style): build
models with plain normal init (std = initializer_range, HF's default), as `build_model` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InternalsError
from . import edits
from .arch import architecture
from .backends.hooks import Attached, attach

CONFIG_FLAG = "layernorm_scaling"
"""The model config attribute set to True while LayerNorm Scaling is applied."""
_STATE = "_internals_lns"


@dataclass(frozen=True)
class ScaledNorm:
    """One norm LNS scales: block index (0-based), dotted module name, factor 1/sqrt(block+1)."""

    block: int
    name: str
    factor: float


class LayerNormScaling:
    """Handle of applied LNS; `remove()` (or leaving the `with` block) undoes it."""

    def __init__(self, model: torch.nn.Module, norms: list[ScaledNorm], attached: Attached):
        self.model, self.norms, self._attached = model, norms, attached

    def remove(self) -> None:
        self._attached.remove()
        if self.model.__dict__.get(_STATE) is self:
            del self.model.__dict__[_STATE]
            setattr(self.model.config, CONFIG_FLAG, False)

    def __enter__(self) -> LayerNormScaling:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def scaling_plan(model: torch.nn.Module) -> list[ScaledNorm]:
    """The norms LNS scales in `model` and their factors, block by block (two per block)."""
    arch = architecture(model)
    if arch.attn_norm_name is None or arch.mlp_norm_name is None:
        raise InternalsError(
            f"{type(model).__name__} has no pre-attention and pre-MLP norm (sites attn_in / mlp_in): "
            "LNS needs a Pre-LN block"
        )
    plan = []
    for i in range(arch.n_layers):
        factor = 1.0 / math.sqrt(i + 1)
        for norm in (arch.attn_norm_name, arch.mlp_norm_name):
            plan.append(ScaledNorm(i, f"{arch.layers_path}.{i}.{norm}", factor))
    return plan


def has_layernorm_scaling(model: torch.nn.Module) -> bool:
    """Whether LNS is applied to `model` now."""
    return model.__dict__.get(_STATE) is not None


def apply_layernorm_scaling(model: torch.nn.Module) -> LayerNormScaling:
    """Scale the two pre-block norms of every block by 1/sqrt(l), l = block index + 1.

    Returns a handle; `handle.remove()` / `remove_layernorm_scaling(model)` undo it exactly.
    Raises InternalsError if LNS is already applied or the blocks are not Pre-LN.
    """
    if has_layernorm_scaling(model):
        raise InternalsError(
            "LayerNorm Scaling is already applied to this model: remove it first or keep the one you have"
        )
    plan = scaling_plan(model)
    handle = LayerNormScaling(model, plan, attach(model, edits.layernorm_scaling(architecture(model).n_layers)))
    model.__dict__[_STATE] = handle
    setattr(model.config, CONFIG_FLAG, True)
    return handle


def remove_layernorm_scaling(model: torch.nn.Module) -> None:
    """Remove LNS from `model` (a no-op when it has none)."""
    handle = model.__dict__.get(_STATE)
    if handle is not None:
        handle.remove()


def restore_layernorm_scaling(model: torch.nn.Module) -> bool:
    """Apply LNS to a model whose config says it was trained with it; returns whether it did."""
    if getattr(model.config, CONFIG_FLAG, False) and not has_layernorm_scaling(model):
        setattr(model.config, CONFIG_FLAG, False)
        apply_layernorm_scaling(model)
        return True
    return False
