"""Numbers and figures from saved voids results (a `NormTrace` directory, an eval summary).

Numbers first (`trace_summary`), figures from them, so figures can be redrawn without rerunning a
model: `trace_plots` / `eval_plots` return {stem: plotly Figure} (for notebooks and the report),
`trace_figures` / `eval_figures` export the same figures to files (PNG and PDF by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...stats import ratio_interval
from .trace import NormTrace


def per_prompt_rates(trace: NormTrace, alpha: float, phase: str) -> np.ndarray:
    """[layers, prompts]: share of each prompt's tokens for which each block is activated (NaN
    for a prompt without tokens in the phase)."""
    d = trace.lac(alpha, phase)
    m = d.mask.unsqueeze(-1).float()
    used = (d.activated.float() * m).sum(1)
    count = m.sum(1)
    rates = (used / count.clamp(min=1)).numpy()
    rates[(count == 0).squeeze(-1).numpy()] = np.nan
    return rates.T


def void_share_interval(
    trace: NormTrace, alpha: float, phase: str = "pp", n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> list[float]:
    """95% percentile-bootstrap interval of `LAC.void_share` over prompts: the prompts resampled with
    replacement (n_boot seeded draws) and the share recomputed as voids over (token, block) pairs."""
    d = trace.lac(alpha, phase)
    voids = (d.voids & d.mask.unsqueeze(-1)).sum((-1, -2)).double().numpy()  # per prompt
    pairs = d.mask.sum(-1).double().numpy() * d.n_layers
    return ratio_interval(voids, pairs, n_boot, level, seed)


def trace_summary(trace: NormTrace, alphas) -> dict:
    """Per alpha and phase: void share of (token, block) pairs with its bootstrap interval over
    prompts, mean share of blocks used per token, and the activation rate of every block."""
    phases = ["pp"] + (["rg"] if trace.rg.shape[1] else [])
    out: dict[str, Any] = {
        "n_prompts": len(trace.pp_tokens),
        "n_layers": trace.n_layers,
        "tokens": {p: int((trace.pp_mask if p == "pp" else trace.rg_mask).sum()) for p in phases},
        "alphas": {},
    }
    for alpha in alphas:
        row = {}
        for phase in phases:
            d = trace.lac(alpha, phase)
            row[phase] = {
                "void_share": d.void_share(),
                "void_share_ci": void_share_interval(trace, alpha, phase),
                "layers_used": float(np.nanmean(d.usage())),
                "layer_rates": [round(float(v), 4) for v in d.layer_rates()],
            }
        out["alphas"][str(alpha)] = row
    return out


def trace_plots(trace: NormTrace, alpha: float, alphas, prompt: int = 0, tokenizer=None) -> dict:
    """{stem: Figure}: layer x phase heatmap, per-layer rates with a band over prompts, the layer x
    position map of one prompt (PP then RG tokens) and the void share against alpha."""
    from ...plots import curves, heatmap, layer_lines

    phases = ["pp"] + (["rg"] if trace.rg.shape[1] else [])
    names = {"pp": "prompt (PP)", "rg": "generation (RG)"}
    rates = {p: per_prompt_rates(trace, alpha, p) for p in phases}
    figs = {}
    matrix = np.stack([trace.lac(alpha, p).layer_rates() for p in phases])
    figs["voids_layer_phase"] = heatmap(
        matrix,
        x_label="block",
        y_label="phase",
        y_ticks=[names[p] for p in phases],
        colorbar_title="activated",
        zmin=0,
        zmax=1,
        width="double",
        height=1.8,
        title=f"LAC activation rate per block (alpha {alpha:g})",
    )
    figs["voids_layer_rates"] = layer_lines(
        {names[p]: rates[p] for p in phases},
        band="std",
        xlabel="block",
        ylabel="share of tokens activated",
        title=f"alpha {alpha:g}, band: std over prompts",
    )
    figs["voids_token_map"] = _token_map(trace, alpha, prompt, tokenizer)
    alphas = sorted(alphas)
    share = {names[p]: (alphas, [trace.lac(a, p).void_share() for a in alphas]) for p in phases}
    figs["voids_alpha_share"] = curves(share, band=None, xlabel="alpha", ylabel="void share of (token, block) pairs")
    return figs


def trace_figures(
    trace: NormTrace, alpha: float, alphas, out_dir: str | Path, prompt: int = 0, tokenizer=None, formats=("png", "pdf")
) -> list[Path]:
    """`trace_plots` exported to out_dir/<stem>.<format>; returns the written paths."""
    return _export(trace_plots(trace, alpha, alphas, prompt, tokenizer), out_dir, formats)


def _export(figs: dict, out_dir, formats) -> list[Path]:
    from ...plots import export_named

    return export_named(figs, out_dir, formats) if figs else []


def _token_map(trace: NormTrace, alpha: float, prompt: int, tokenizer):
    from ...plots import heatmap

    pp = trace.lac(alpha, "pp")
    n_pp = int(trace.pp_mask[prompt].sum())
    cols = [pp.activated[prompt, :n_pp]]
    ids = list(trace.pp_tokens[prompt][:n_pp])
    if trace.rg.shape[1]:
        n_rg = int(trace.rg_mask[prompt].sum())
        cols.append(trace.lac(alpha, "rg").activated[prompt, :n_rg])
        ids += list(trace.rg_tokens[prompt][:n_rg])
    import torch

    matrix = torch.cat(cols).float().T.numpy()  # [layers, positions]
    ticks = [tokenizer.decode([t]).strip() or repr(tokenizer.decode([t])) for t in ids] if tokenizer else None
    return heatmap(
        matrix,
        x_label=f"position (PP {n_pp} tokens, then RG)",
        y_label="block",
        x_ticks=ticks,
        colorbar_title="activated",
        zmin=0,
        zmax=1,
        width="double",
        height=2.8,
        title=f"LAC decisions of prompt {prompt} (alpha {alpha:g})",
    )


def eval_plots(rows: list[dict]) -> dict:
    """{stem: Figure}: one trade-off figure per (dataset, protocol): accuracy against the share of
    (token, block) pairs used, one line per (kind, phases) over alphas, the full model dashed."""
    from ...plots import tradeoff

    figs = {}
    keys = sorted({(r["dataset"], r["protocol"]) for r in rows})
    for dataset, protocol in keys:
        sel = [r for r in rows if r["dataset"] == dataset and r["protocol"] == protocol]
        full = next((r for r in sel if r["kind"] == "none"), None)
        fig = None
        series = sorted(
            {(r["kind"], r["phases"]) for r in sel if r["kind"] != "none"},
            key=lambda kp: (("paper", "drop", "skip").index(kp[0]), kp[1]),
        )
        for kind, phases in series:
            pts = sorted([r for r in sel if r["kind"] == kind and r["phases"] == phases], key=lambda r: r["alpha"])
            fig = tradeoff(
                [r["used"] for r in pts],
                [r["accuracy"] for r in pts],
                [f"{r['alpha']:g}" for r in pts],
                name=f"{kind} ({phases})",
                fig=fig,
                xlabel="share of (token, block) pairs used",
                ylabel="accuracy",
                baseline=None if full is None or fig is not None else full["accuracy"],
                baseline_label="full model",
                title=f"{dataset}, {protocol}",
                width="double",
            )
        if fig is not None:
            figs[f"voids_tradeoff_{dataset}_{protocol}"] = fig
    return figs


def eval_figures(rows: list[dict], out_dir: str | Path, formats=("png", "pdf")) -> list[Path]:
    """`eval_plots` exported to out_dir/<stem>.<format>; returns the written paths."""
    return _export(eval_plots(rows), out_dir, formats)
