"""LayerNorm Scaling (LNS, "The Curse of Depth in Large Language Models"), applied reversibly.

As the authors' `peft_pretraining/modeling_llama.py` (NORM_TYPE=LNS) computes it: in the decoder
block with 0-based index i, the outputs of the norm before attention and of the norm before the
MLP are multiplied by 1/sqrt(i+1). The final norm is untouched. No parameter changes: the scale
is a forward hook on each of the two norms, so removing the hooks restores the model exactly.

Which norms are "pre-block" per family:

| family                   | before attention  | before the MLP              |
|--------------------------|-------------------|-----------------------------|
| Llama, Qwen2/3, Mistral  | input_layernorm   | post_attention_layernorm    |
| Gemma 2 / Gemma 3        | input_layernorm   | pre_feedforward_layernorm (their post_attention_layernorm is a post-norm, left alone) |
| GPT-2                    | ln_1              | ln_2                        |

`apply_layernorm_scaling(model)` also sets `model.config.layernorm_scaling = True`, so a
checkpoint saved afterwards says it was trained with LNS; `restore_layernorm_scaling(model)`
re-applies the hooks to a model loaded from such a checkpoint (hooks are not saved with weights).

The authors warn that LNS loses its effect with depth-scaled initialisation (OLMo-style): build
models with plain normal init (std = initializer_range, HF's default), as `build_model` does.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from ...errors import InternalsError

PRE_ATTN = ("input_layernorm", "ln_1")
# Gemma's blocks also have a post_attention_layernorm, but it normalises the attention output;
# their pre-MLP norm is pre_feedforward_layernorm, so that name is tried first.
PRE_MLP = ("pre_feedforward_layernorm", "post_attention_layernorm", "ln_2")
CONFIG_FLAG = "layernorm_scaling"
_STATE = "_internals_lns"


@dataclass(frozen=True)
class ScaledNorm:
    """One norm LNS scales: block index (0-based), dotted module name, factor 1/sqrt(block+1)."""

    block: int
    name: str
    factor: float


@dataclass
class LayerNormScaling:
    """Handle of applied LNS hooks; `remove()` (or leaving the `with` block) undoes them."""

    model: torch.nn.Module
    norms: list[ScaledNorm]
    _handles: list = field(default_factory=list, repr=False)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self.model.__dict__.get(_STATE) is self:
            del self.model.__dict__[_STATE]
            setattr(self.model.config, CONFIG_FLAG, False)

    def __enter__(self) -> "LayerNormScaling":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _first(block: torch.nn.Module, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if isinstance(getattr(block, n, None), torch.nn.Module)), None)


def scaling_plan(model: torch.nn.Module) -> list[ScaledNorm]:
    """The norms LNS scales in `model` and their factors, block by block (two per block)."""
    from ...capture.arch import architecture

    arch = architecture(model)
    plan = []
    for i, block in enumerate(arch.layers(model)):
        attn_norm, mlp_norm = _first(block, PRE_ATTN), _first(block, PRE_MLP)
        if attn_norm is None or mlp_norm is None:
            raise InternalsError(f"block {i} of {type(model).__name__} has no pre-attention and pre-MLP norm "
                                 f"(looked for {'/'.join(PRE_ATTN)} and {'/'.join(PRE_MLP)}): LNS needs a Pre-LN block")
        factor = 1.0 / math.sqrt(i + 1)
        for norm in (attn_norm, mlp_norm):
            plan.append(ScaledNorm(i, f"{arch.layers_path}.{i}.{norm}", factor))
    return plan


def has_layernorm_scaling(model: torch.nn.Module) -> bool:
    """Whether LNS hooks are on `model` now."""
    return model.__dict__.get(_STATE) is not None


def apply_layernorm_scaling(model: torch.nn.Module) -> LayerNormScaling:
    """Scale the two pre-block norms of every block by 1/sqrt(l), l = block index + 1.

    Returns a handle; `handle.remove()` / `remove_layernorm_scaling(model)` undo it exactly.
    Raises InternalsError if LNS is already applied or the blocks are not Pre-LN.
    """
    if has_layernorm_scaling(model):
        raise InternalsError("LayerNorm Scaling is already applied to this model: remove it first or keep the one you have")
    plan = scaling_plan(model)
    modules = dict(model.named_modules())
    handle = LayerNormScaling(model, plan)
    for norm in plan:
        handle._handles.append(modules[norm.name].register_forward_hook(_scale_hook(norm.factor)))
    model.__dict__[_STATE] = handle
    setattr(model.config, CONFIG_FLAG, True)
    return handle


def _scale_hook(factor: float):
    def hook(module, args, output):
        return output * factor

    return hook


def remove_layernorm_scaling(model: torch.nn.Module) -> None:
    """Remove LNS hooks from `model` (a no-op when there are none)."""
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


def build_model(config, layernorm_scaling: bool = False, seed: int | None = 0) -> torch.nn.Module:
    """A randomly initialised causal LM from an HF config (HF's plain normal init, std
    `initializer_range`), with LNS applied when `layernorm_scaling` is true. `seed` fixes the
    init, so a Pre-LN and an LNS model built with the same seed start from the same weights."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(config)
    setattr(config, CONFIG_FLAG, False)
    if seed is not None:
        torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    if layernorm_scaling:
        apply_layernorm_scaling(model)
    return model
