"""The cutoff section (dynamic context cutoff): per-head probes that say when a prefix of a long
context already answers the question, trained and evaluated with `internals.analyses.cutoff`."""

from __future__ import annotations

import tempfile

from .section import ReportSettings, Section, Table, plain

TITLE = "Cutoff: when has the model read enough context?"
DATASET = "disfl_qa"
MAIN_KIND = "attn_z"


def config(settings: ReportSettings, out: str):
    from ..analyses.cutoff import CutoffConfig

    n = settings.n(10, 60)
    return CutoffConfig(
        datasets=(DATASET,),
        n_train=n,
        n_val=max(2, n // 3),
        n_test=max(2, n // 2),
        target_tokens=settings.tokens(256, 900),
        kinds=(MAIN_KIND,),
        k=3,
        standardize=True,
        thresholds=(0.5, 0.7, 0.9, 0.95),
        self_assess=not settings.quick,
        max_new_tokens=8,
        seed=settings.seed,
        out=out,
    )


def section(lm, settings: ReportSettings) -> Section:
    from ..analyses.cutoff import evaluate_cutoff, load_cutoff_probes, load_examples, train_cutoff_probes
    from ..analyses.cutoff.baselines import PositionBaseline
    from ..analyses.cutoff.figures import head_f1_figures, tradeoff_figure
    from ..analyses.cutoff.pipeline import results_summary
    from ..analyses.cutoff.probes import feature_kind

    with tempfile.TemporaryDirectory(prefix="internals-cutoff-") as out:
        cfg = config(settings, out)
        report = train_cutoff_probes(lm, cfg, progress=settings.progress)
        probes, card = load_cutoff_probes(out, lm)
    position = PositionBaseline.from_dict(card["position"])
    examples = load_examples(lm, DATASET, "test", cfg.n_test, cfg)
    table = evaluate_cutoff(
        lm,
        probes,
        position,
        examples,
        cfg,
        MAIN_KIND,
        report["kinds"][MAIN_KIND]["val_budget"],
        progress=settings.progress,
    )
    results = results_summary({DATASET: table}, cfg, lm)
    figures = {
        "Answer accuracy against token reduction as the stopping threshold moves (labels: thresholds); "
        "baselines as points, full context dashed": tradeoff_figure(results)
    }
    for kind, fig in head_f1_figures(report).items():
        figures[f"Validation F1 of each head's probe ({kind}) minus the position-only baseline's"] = fig
    methods = Table(
        f"Stopping rules on {table['n_examples']} {DATASET} test contexts",
        ["method", "token reduction (×)", "accuracy", "chunks read (of 10)"],
        [[m, r["token_reduction"], r["accuracy"], r["mean_chunks"]] for m, r in table["methods"].items()],
        note=f"main rule {table['main']}; F1 on all {table['n_prefixes']} test prefixes: "
        + ", ".join(f"{k} {v:.3f}" for k, v in table["f1"].items()),
    )
    text = (
        f"Long contexts of about {cfg.target_tokens} tokens (the gold passage among real distractors) are read "
        f"in {cfg.n_chunks} chunks; after each, per-head probes on attention outputs say whether the prefix "
        f"already holds the answer. Trained on {cfg.n_train} contexts (heads ranked on {cfg.n_val}), the top "
        f"{cfg.k} heads vote; reading stops at the first chunk with P(sufficient) ≥ {cfg.threshold}."
        + ("" if cfg.self_assess else " (The self-assessment baseline runs with --full.)")
    )
    return Section(
        TITLE,
        figures,
        [methods],
        text=text,
        data={  # validation F1 of each head's probe, [layers, heads] per feature kind
            "n_layers": lm.n_layers,
            "f1_val_position": plain(report["f1_val_position"]),
            "head_f1": {k: plain(r["head_f1"]) for k, r in report["kinds"].items() if k == feature_kind(k)},
        },
        manifest={
            "config": {k: v for k, v in cfg.to_dict().items() if k != "out"},
            "data": report["data"],
            "heads": {k: r["heads"] for k, r in report["kinds"].items()},
            "functions": [
                "internals.analyses.cutoff.train_cutoff_probes",
                "internals.analyses.cutoff.evaluate_cutoff",
                "internals.analyses.cutoff.figures.tradeoff_figure",
                "internals.analyses.cutoff.figures.head_f1_figures",
            ],
        },
    )
