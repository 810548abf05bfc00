"""Void in Language Models: L2 Adaptive Computation (LAC) void detection and skipping.

    from internals.analyses.voids import lac, trace, LACSkip, SkipConfig
    tr = trace(lm, prompts, max_new_tokens=24)          # norms of PP and of greedy RG steps
    tr.lac(0.8, "pp").layer_rates()                     # [layers] activation rate per block
    with LACSkip(lm.model, SkipConfig("paper", 0.8)):   # the paper's skipping, faithfully
        logits = lm.model(input_ids).logits

Modules: `lac` (decisions from norm arrays), `trace` (norm traces), `skip` (paper / drop /
skip kinds), `decode` (single-sequence greedy with PP and RG apart), `readout` (the paper's
kind for many alphas from one run), `runs` + `evaluate` (`evaluate_voids`) + `protocol` (accuracy over an alpha
sweep), `timing` (decode wall time), `report` (summaries and figures). See docs/voids.md.
"""

from .evaluate import EvalConfig, evaluate_voids, skipped_interval, summarise_voids
from .lac import LAC, OnlineLAC, check_alpha, lac
from .skip import SKIP_KINDS, LACSkip, SkipConfig, prompt_skip_set
from .timing import decode_timing
from .trace import NormTrace, trace

__all__ = [
    "EvalConfig",
    "LAC",
    "LACSkip",
    "NormTrace",
    "OnlineLAC",
    "SKIP_KINDS",
    "SkipConfig",
    "check_alpha",
    "decode_timing",
    "evaluate_voids",
    "lac",
    "prompt_skip_set",
    "skipped_interval",
    "summarise_voids",
    "trace",
]
