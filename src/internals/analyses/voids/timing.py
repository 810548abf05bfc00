"""Wall time of single-sequence decoding: the full model, `skip` (blocks really not run) and
`drop` (every block runs, then a void's update is thrown away).

Each prompt decodes exactly `steps` tokens in every configuration (stop tokens ignored), so
the seconds per RG step compare like with like. Configurations alternate prompt by prompt, so
a slow spell of a shared machine hits all of them alike.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ...capture import attach, edits
from .decode import Prefill, decode, prefill
from .lac import lac
from .readout import States
from .skip import LACSkip, SkipConfig, prompt_skip_set


@dataclass
class Timing:
    """Seconds per RG step for one configuration, over prompts; blocks_skipped = share of
    (RG token, block) pairs whose compute was skipped (skip) or whose update was dropped (drop)."""

    label: str
    seconds_per_step: float
    steps: int
    blocks_skipped: float

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "seconds_per_step": self.seconds_per_step,
            "steps": self.steps,
            "blocks_skipped": self.blocks_skipped,
        }


@torch.no_grad()
def decode_timing(
    lm,
    prompts: list[list[int]],
    alphas: list[float],
    steps: int = 16,
    share: float = 0.5,
    drop: bool = True,
    progress: bool = False,
) -> list[Timing]:
    """Seconds per RG step of the full model, `skip` at each alpha and (if `drop`) `drop` in RG."""
    n_layers = lm.n_layers
    secs: dict[str, list[float]] = {"full": []}
    skipped: dict[str, list[float]] = {"full": []}
    for prompt in tqdm(prompts, desc="voids timing", unit="prompt", disable=not progress):
        with States(lm) as rec:  # the full prompt forward, keeping the states for LAC
            state = prefill(lm, prompt)
        norms = torch.linalg.vector_norm(rec.rows[0].float(), dim=-1)
        norms_cache = state.cache
        _, s = decode(lm, _fresh(state, norms_cache), steps, stops=set())
        secs["full"] += s
        skipped["full"].append(0.0)
        for alpha in alphas:
            blocks = prompt_skip_set(lac(norms, alpha).activated, share)
            label = SkipConfig("skip", alpha, phases="rg", prompt_share=share).label
            with attach(lm.model, edits.skip(blocks)):
                _, s = decode(lm, _fresh(state, norms_cache), steps, stops=set())
            secs.setdefault(label, []).extend(s)
            skipped.setdefault(label, []).append(len(blocks) / n_layers)
            if drop:
                cfg = SkipConfig("drop", alpha, phases="rg")
                with LACSkip(lm.model, cfg) as hooks:
                    hooks.set_phase("rg")
                    _, s = decode(lm, _fresh(state, norms_cache), steps, stops=set())
                secs.setdefault(cfg.label, []).extend(s)
                acts = torch.cat([a[0] for a, _ in hooks.calls])
                skipped.setdefault(cfg.label, []).append(float((~acts).float().mean()))
    return [Timing(k, float(np.mean(v)), len(v), float(np.mean(skipped[k]))) for k, v in secs.items()]


def _fresh(state: Prefill, cache) -> Prefill:
    return Prefill(copy.deepcopy(cache), state.position, state.next_token, state.logits, state.seconds)
