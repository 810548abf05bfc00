"""The FactCheckmate section: probes on the model's hidden states that flag a question it will answer
wrongly, before it answers, with `internals.analyses.factcheckmate` (labels, features, layer sweep)."""

from __future__ import annotations

import numpy as np

from .section import ReportSettings, Section, Table, plain

TITLE = "FactCheckmate: predicting hallucinations before the answer"
DATASET = "qa_wikidata"
MIN_QUESTIONS = 40  # below this the 80/10/10 split leaves a handful of validation/test rows: never fewer
NAMES = {"mlp": "MLP probe", "mlp_scaled": "MLP probe, standardised (ours)", "logistic": "logistic probe"}


def section(lm, settings: ReportSettings) -> Section:
    from ..analyses.factcheckmate import GenerationSettings, sweep
    from ..analyses.factcheckmate.figures import sweep_figure
    from ..analyses.factcheckmate.pipeline import prepare
    from ..analyses.factcheckmate.sweep import HEADS
    from ..data import load_dataset
    from ..plots import calibration, roc_pr

    data = load_dataset(DATASET, limit=max(settings.n(400, 2000), MIN_QUESTIONS), seed=settings.seed)
    gen = GenerationSettings(max_new_tokens=min(settings.tokens(12, 16), 16), batch_size=max(settings.batch_size, 16))
    prep = prepare(lm, data, "auto", "I", gen, "*", settings.seed, settings.batch_size, settings.progress)
    y = prep.labels.y
    if len(np.unique(y[prep.split.train])) < 2:
        from ..errors import InternalsError

        raise InternalsError(f"all {len(y)} answers got the same label: the probes need both classes; use more prompts")
    result = sweep(prep.features, y, prep.split, HEADS, settings.seed, settings.progress)
    test = prep.split.test
    figures = {
        "Balanced accuracy and AUROC on the test split, probe trained at each layer (input setting I: "
        "the question's tokens, mean-pooled resid_post)": sweep_figure(result.results, "test")
    }
    scores = {}
    for head in HEADS:
        est, layer = result.estimators[head], result.results[head]["best_layer"]
        p = est.predict_proba(prep.features.layer(layer)[test])[:, list(est.classes_).index(1)]
        scores[f"{NAMES[head]}, layer {layer}"] = p
    if len(np.unique(y[test])) == 2:
        figures[
            "ROC and precision-recall of the probes at the layer chosen on validation (test split; "
            "positive class: hallucination)"
        ] = roc_pr(y[test], scores)
        figures[
            "Calibration of the probes on the test split: observed hallucination rate against the predicted "
            "probability (the heads train on class-balanced data, so their probabilities assume even odds, not the "
            "real hallucination rate)"
        ] = calibration(y[test], scores, n_bins=5)
    rows = []
    for head in HEADS:
        r = result.results[head]
        t, v = r["best"]["test"], r["best"]["validation"]
        rows.append(
            [
                NAMES[head],
                r["best_layer"],
                v["balanced_accuracy"],
                t["balanced_accuracy"],
                t["auroc"],
                t["f1_hallucination"],
                t["n"],
            ]
        )
    splits = ", ".join(f"{k} {v}" for k, v in prep.split.sizes().items())
    table = Table(
        "Probes at the layer with the best validation balanced accuracy",
        ["probe", "layer", "val bal. acc.", "test bal. acc.", "test AUROC", "test F1 (halluc.)", "test n"],
        rows,
        note=f"splits: {splits}; hallucination rate {prep.labels.hallucination_rate:.3f} "
        f"({int(y.sum())} of {len(y)} greedy answers match no gold alias)",
    )
    examples = Table(
        "Some answers and their labels",
        ["question", "model's answer", "gold", "label"],
        [
            [r.question, a, " | ".join(r.answers[:3]), "hallucination" if h else "factual"]
            for r, a, h in list(zip(data, prep.labels.answers, y))[:8]
        ],
    )
    text = (
        f"{len(data)} {DATASET} questions answered greedily with the {prep.template} template (up to "
        f"{gen.max_new_tokens} tokens); an answer that matches no gold alias (lenient exact match) is a "
        "hallucination. Probes read the mean-pooled residual stream of the question alone, so they predict "
        "before the model answers. The MLP is FactCheckmate's head; ours: the same MLP on standardised features, "
        "and a logistic baseline."
    )
    return Section(
        TITLE,
        figures,
        [table, examples],
        text=text,
        data={  # layer l: resid_post.l, the output of block l
            "n_layers": lm.n_layers,
            "sweep": {
                head: plain({k: r[k] for k in ("layers", "validation", "test", "best_layer")})
                for head, r in result.results.items()
            },
        },
        manifest={
            "dataset": {"name": data.name, "split": data.split, "fingerprint": data.fingerprint, "n": len(data)},
            "template": prep.template,
            "setting": "I",
            "generation": gen.to_dict(),
            "heads": list(HEADS),
            "labels_cache": prep.labels.manifest.get("cache"),
            "features_store": prep.features.store_path,
            "functions": [
                "internals.analyses.factcheckmate.pipeline.prepare",
                "internals.analyses.factcheckmate.sweep",
                "internals.analyses.factcheckmate.figures.sweep_figure",
            ],
        },
    )
