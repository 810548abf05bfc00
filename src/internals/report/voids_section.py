"""The voids section (Void in Language Models): LAC void detection on prompt processing and
greedy generation, and accuracy with voids skipped, with `internals.analyses.voids`."""

from __future__ import annotations

import tempfile

from .section import ReportSettings, Section, Table, plain

TITLE = "Voids: LAC void detection and skipping"
TRACE_DATA, EVAL_DATA = "strategyqa", "general_knowledge"
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
FIGURE_ALPHA = 0.8
EVAL_ALPHAS = (0.1, 0.3, 0.8)

CAPTIONS = {
    "voids_layer_phase": f"Share of tokens for which LAC activates each block (alpha {FIGURE_ALPHA}), prompt vs generation",
    "voids_layer_rates": "Activation rate per block, mean and std over prompts",
    "voids_token_map": "LAC decisions of the first prompt, token by token (prompt, then generated tokens)",
    "voids_alpha_share": "Void share of (token, block) pairs against alpha",
}


def section(lm, settings: ReportSettings) -> Section:
    from ..analyses.voids import EvalConfig, evaluate_voids, trace
    from ..analyses.voids.protocol import turn_template
    from ..analyses.voids.report import eval_plots, trace_plots, trace_summary
    from ..data import load_dataset
    from ..prompts import render_ids, resolve_template

    trace_data = load_dataset(TRACE_DATA, limit=settings.n(12, 100), seed=settings.seed)
    new_tokens = min(settings.tokens(12, 24), 24)
    template = resolve_template("auto", lm.tokenizer)  # chat, or the base model's question template
    kind = "chat" if template == "chat" else "question/answer"
    prompts = render_ids(trace_data, template, lm.tokenizer)
    tr = trace(lm, prompts, new_tokens, settings.batch_size, progress=settings.progress)
    summary = trace_summary(tr, ALPHAS)
    eval_data = load_dataset(EVAL_DATA, limit=settings.n(12, 70), seed=settings.seed)
    cfg = EvalConfig(
        alphas=EVAL_ALPHAS, kinds=("paper", "skip"), max_new_tokens=min(settings.tokens(4, 8), 8), seed=settings.seed
    )
    with tempfile.TemporaryDirectory(prefix="internals-voids-") as out:
        rows = evaluate_voids(lm, [eval_data], cfg, out, progress=settings.progress)
    figs = {**trace_plots(tr, FIGURE_ALPHA, ALPHAS, tokenizer=lm.tokenizer), **eval_plots(rows)}
    figures = {CAPTIONS.get(stem, _eval_caption(stem)): fig for stem, fig in figs.items()}
    phases = list(summary["tokens"])
    share = Table(
        "Void share of (token, block) pairs",
        [
            "alpha",
            *[f"{p.upper()} void share" for p in phases],
            *[f"{p.upper()} blocks used per token" for p in phases],
        ],
        [
            [float(a), *[row[p]["void_share"] for p in phases], *[row[p]["layers_used"] for p in phases]]
            for a, row in summary["alphas"].items()
        ],
        note=f"{summary['n_prompts']} {TRACE_DATA} {kind} prompts; tokens: "
        + ", ".join(f"{p.upper()} {n}" for p, n in summary["tokens"].items()),
    )
    acc = Table(
        f"Accuracy on {EVAL_DATA} with voids skipped",
        ["configuration", "protocol", "accuracy", "answer parsed", "share of pairs used", "n"],
        [[r["label"], r["protocol"], r["accuracy"], r["parsed"], r["used"], r["n"]] for r in rows],
        note="generate: greedy reply parsed for an option; loglik: the option with the highest log-probability",
    )
    text = (
        f"LAC (L2 Adaptive Computation) marks a block as used for a token when the token's residual norm "
        f"changes enough there. Traced: {len(prompts)} {TRACE_DATA} questions as {kind} prompts plus up to "
        f"{new_tokens} greedy tokens each; evaluated: {len(eval_data)} {EVAL_DATA} questions with the full model "
        f"and with voids skipped (paper and skip kinds at alphas {', '.join(map(str, EVAL_ALPHAS))})."
    )
    return Section(
        TITLE,
        figures,
        [share, acc],
        text=text,
        data={  # per block, at the figures' alpha: share of the phase's tokens that use it
            "n_layers": lm.n_layers,
            "alpha": FIGURE_ALPHA,
            "layer_rates": {p: plain(r["layer_rates"]) for p, r in summary["alphas"][str(FIGURE_ALPHA)].items()},
            "void_share": {p: plain(r["void_share"]) for p, r in summary["alphas"][str(FIGURE_ALPHA)].items()},
        },
        manifest={
            "trace": {
                "dataset": _data(trace_data),
                "template": template,
                "max_new_tokens": new_tokens,
                "alphas": ALPHAS,
            },
            "eval": {
                "dataset": _data(eval_data),
                "config": cfg.to_dict(),
                "template": turn_template(cfg.template, lm.tokenizer),
            },
            "functions": [
                "internals.analyses.voids.trace",
                "internals.analyses.voids.evaluate_voids",
                "internals.analyses.voids.report.trace_plots",
                "internals.analyses.voids.report.eval_plots",
            ],
        },
    )


def _data(d) -> dict:
    return {"name": d.name, "split": d.split, "fingerprint": d.fingerprint, "n": len(d)}


def _eval_caption(stem: str) -> str:
    return f"Accuracy against the share of (token, block) pairs used ({stem.removeprefix('voids_tradeoff_')})"
