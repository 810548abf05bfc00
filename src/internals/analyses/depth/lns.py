"""Pre-LN vs LNS models built from scratch for the depth analysis. LayerNorm Scaling itself is the
capture layer's edit (`internals.capture.lns`), re-exported here."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch

from ...capture.lns import (
    CONFIG_FLAG,
    LayerNormScaling,
    ScaledNorm,
    apply_layernorm_scaling,
    has_layernorm_scaling,
    remove_layernorm_scaling,
    restore_layernorm_scaling,
    scaling_plan,
)

__all__ = [
    "CONFIG_FLAG",
    "LayerNormScaling",
    "ScaledNorm",
    "apply_layernorm_scaling",
    "build_model",
    "has_layernorm_scaling",
    "remove_layernorm_scaling",
    "restore_layernorm_scaling",
    "scaling_plan",
]

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def build_model(config, layernorm_scaling: bool = False, seed: int | None = 0) -> PreTrainedModel:
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
