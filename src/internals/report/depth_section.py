"""The depth section (Curse of Depth): variance per layer, last-token angular distance, block
influence and a layer ablation, with `internals.analyses.depth` on a few dozen passages.

The Pre-LN vs LNS pre-training comparison trains two models from scratch and is left to
`internals depth pretrain` / benchmarks/depth.py.
"""

from __future__ import annotations

import numpy as np

from .section import ReportSettings, Section, Table, plain

TITLE = "Depth: variance growth, angular distance, layer ablation"


def section(lm, settings: ReportSettings) -> Section:
    from ..analyses.depth import ablate, trace_depth
    from ..analyses.depth.corpus import texts_for
    from ..analyses.depth.figures import trace_figures

    n, n_heldout = settings.n(32, 256), settings.n(4, 32)
    max_tokens, ablation_tokens = settings.tokens(64, 64), settings.tokens(48, 128)
    prompts, heldout, data = texts_for("corpus", n, n_heldout, settings.seed)
    trace = trace_depth(lm, prompts, max_tokens=max_tokens, batch_size=settings.batch_size, progress=settings.progress)
    ablation = ablate(
        lm, heldout, max_tokens=ablation_tokens, batch_size=settings.batch_size, progress=settings.progress
    )
    doc = {"results": {"traces": {lm.name: trace.to_dict()}, "ablation": ablation.to_dict()}}
    figs = trace_figures(doc)
    captions = {
        "depth_variance": "Residual variance per layer (log scale): median over prompts of the within-prompt "
        "variance with its 25-75th percentile band; dashed: over all tokens together",
        "depth_ablation": f"Change in next-token loss when one block is skipped ({ablation.n_texts} held-out "
        f"passages, baseline {ablation.baseline:.3f} nats)",
    }
    figures = {}
    for stem, fig in figs.items():
        if stem.startswith("depth_angular"):
            caption = "Last-token angular distance between layer l and l+n (mean over prompts)"
        elif stem.startswith("depth_influence"):
            caption = "Block influence: 1 − cos(block input, block output), mean over tokens"
        else:
            caption = captions.get(stem, stem)
        figures[caption] = fig
    top = np.argsort(-ablation.delta)[:5]
    angular = trace.angular_by_gap()[:, 0]
    summary = Table(
        "Summary",
        ["measure", "value"],
        [
            ["variance after last block / after first block", float(trace.growth())],
            ["same, without each prompt's first token", float(trace.variance_rest[-1] / trace.variance_rest[1])],
            ["mean block influence (1 − cos)", float(trace.influence.mean())],
            ["mean angular distance d(l, l+1)", float(np.nanmean(angular))],
            ["baseline next-token loss (nats)", float(ablation.baseline)],
            [
                "blocks whose removal hurts most (Δ loss)",
                ", ".join(f"{ablation.blocks[i]}: {ablation.delta[i]:+.3f}" for i in top),
            ],
            ["blocks whose removal changes loss < 0.01 nats", int(np.sum(np.abs(ablation.delta) < 0.01))],
        ],
    )
    text = (
        f"{trace.n_prompts} BIG-bench passages ({trace.n_tokens} tokens, first {max_tokens} of each) traced "
        f"through all {lm.n_layers} blocks with `trace_depth`; the ablation skips each block in turn on "
        f"{ablation.n_texts} held-out passages ({ablation.n_tokens} tokens). The Curse of Depth predicts variance "
        "growing with depth in Pre-LN models and deep blocks that change little (small influence, small Δ loss)."
    )
    data = {  # residual index i: after i blocks (0 = embedding); block lists: one value per block
        "n_layers": lm.n_layers,
        "variance": plain(trace.variance),
        "variance_rest": plain(trace.variance_rest),
        "prompt_variance": plain(trace.prompt_variance.T),  # [L+1, prompts]
        "influence": plain(trace.influence),
        "ablation_blocks": plain(ablation.blocks),
        "ablation_delta": plain(ablation.delta),
    }
    return Section(
        TITLE,
        figures,
        [summary],
        text=text,
        data=data,
        manifest={
            "data": {**data, "n_prompts": len(prompts), "n_heldout": len(heldout)},
            "max_tokens": max_tokens,
            "ablation_tokens": ablation_tokens,
            "functions": ["internals.analyses.depth.trace_depth", "internals.analyses.depth.ablate"],
        },
    )
