"""The Curse of Depth: variance tracing, layer influence and ablation, LayerNorm Scaling, and a
Pre-LN vs LNS pre-training comparison.

    >>> from internals.analyses.depth import trace_depth, ablate, apply_layernorm_scaling
    >>> t = trace_depth(lm, texts, max_tokens=64)          # t.variance [L+1], t.angular_by_gap() [L, L]
    >>> with apply_layernorm_scaling(model): ...           # 1/sqrt(l) on the two pre-block norms
"""

from .corpus import Corpus, load_corpus, texts_for
from .lns import (
    apply_layernorm_scaling,
    build_model,
    has_layernorm_scaling,
    remove_layernorm_scaling,
    restore_layernorm_scaling,
    scaling_plan,
)
from .pretrain import PRESETS, PretrainConfig, PretrainResult, compare, pretrain, token_data
from .trace import Ablation, DepthTrace, ablate, angular_distance, cosine, trace_depth

__all__ = [
    "texts_for",
    "Ablation",
    "Corpus",
    "DepthTrace",
    "PRESETS",
    "PretrainConfig",
    "PretrainResult",
    "ablate",
    "angular_distance",
    "apply_layernorm_scaling",
    "build_model",
    "compare",
    "cosine",
    "has_layernorm_scaling",
    "load_corpus",
    "pretrain",
    "remove_layernorm_scaling",
    "restore_layernorm_scaling",
    "scaling_plan",
    "token_data",
    "trace_depth",
]
