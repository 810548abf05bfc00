"""FactCheckmate on SmolLM2-135M-Instruct: detection per layer, transfer, mitigation, overhead.

    python benchmarks/factcheckmate.py                 # the committed run (probes/*.toml, cached labels/features)
    python benchmarks/factcheckmate.py --quick         # smoke run: small samples, 2 alphas
    python benchmarks/factcheckmate.py --model gemma3-270m --val-flagged 60
        # probes/gemma3-270m/*.toml -> results/factcheckmate.gemma3-270m.json, assets/gemma3-270m/

1. Trains (or reuses, when the probe dir holds the same config) the probes of
   probes/qa_wikidata.toml and probes/fanoutqa_sub.toml: per-layer sweep of each head the config
   lists (the first is saved: `mlp_scaled`, ours; the paper's `mlp` and logistic regression beside
   it), best layer chosen on validation, metrics on test. The summary reports the saved head.
2. Cross-dataset transfer: each dataset's heads, at their best layers, on the other dataset's
   questions (all of them: the probe never saw any).
3. Mitigation (our design, see internals.analyses.factcheckmate.steer) on qa_wikidata: steering
   vectors (class-mean differences, train split) at the probed layer and at STEER_LAYERS (ours:
   `steer_layer`); the (layer, alpha) pair chosen on validation questions the detector flags; on
   the test split, factual rates before/after on flagged questions (with the McNemar test, and
   the probed layer's own best alpha beside it) and on unflagged ones (left alone by design; a
   sample is run through the pipeline to check it).
4. Wall-clock per question (batch 1) of plain generation, fused detection, a separate detection
   pass and steered generation.

Prints the tables and, last, one JSON line; writes benchmarks/results/factcheckmate.json and the
sweep figures to assets/factcheckmate_sweep_<dataset>.{png,pdf} (another --model: its own probe
configs probes/<model>/<dataset>.toml, results/factcheckmate.<model>.json, assets/<model>/; the
steering layers at the same relative depths as SmolLM2's 4, 6, 8, 10 of 30).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bench_models import add_model_option, assets_dir, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("qa_wikidata", "fanoutqa_sub")
ALPHAS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
# steering at other blocks than the probed one (ours, `steer_layer`): swept with ALPHAS on validation;
# chosen for SmolLM2's 30 blocks, and at the same relative depths for a model with another depth
STEER_LAYERS = (4, 6, 8, 10)
STEER_LAYERS_OF = 30


def config_path(name: str, model: str | None) -> Path:
    """probes/<name>.toml for the default model, probes/<model>/<name>.toml for another."""
    key = model_key(model)
    return ROOT / "probes" / (f"{name}.toml" if key is None else f"{key}/{name}.toml")


def steer_layers(n_layers: int) -> tuple[int, ...]:
    return tuple(sorted({round(layer * n_layers / STEER_LAYERS_OF) for layer in STEER_LAYERS}))


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from internals.analyses.factcheckmate.pipeline import ProbeConfig, train_factcheckmate_probe
    from internals.models import load_model

    started, cpu0 = time.time(), time.process_time()
    lm = load_model(args.model, device="cpu")
    configs = {}
    for name in CONFIGS:
        config = ProbeConfig.from_toml(config_path(name, args.model))
        if args.quick:
            config.limit, config.name, config.out = min(config.limit or 400, 400), f"{name}_quick", str(args.tmp)
        train_factcheckmate_probe(config, progress=not args.quiet, lm=lm)
        configs[name] = config
    prepared = {name: _prepare(lm, c, args.quiet) for name, c in configs.items()}
    detection = {name: _detection(c) for name, c in configs.items()}
    transfer = _transfer(configs, prepared, detection)
    mitigation = _mitigation(lm, configs["qa_wikidata"], prepared["qa_wikidata"], detection["qa_wikidata"], args)
    figures = [] if args.quick else _figures(configs, args.model)
    saved = configs["qa_wikidata"].heads[0]  # the head the probe directory holds (and the detector uses)
    qa = detection["qa_wikidata"][saved]
    summary = {
        "head": saved,
        "balanced_accuracy": qa["test"]["balanced_accuracy"],
        "auroc": qa["test"]["auroc"],
        "best_layer": qa["layer"],
        "factual_rate_flagged_before": mitigation["test"]["flagged_before"],
        "factual_rate_flagged_after": mitigation["test"]["flagged_after"],
        "factual_rate_unflagged_before": mitigation["test"]["unflagged_before"],
        "factual_rate_unflagged_after": mitigation["test"]["unflagged_after"],
        "detection_overhead": mitigation["timings"]["detection_overhead"],
    }
    from internals.store import package_versions

    result = {
        "summary": summary,
        "detection": detection,
        "transfer": transfer,
        "mitigation": mitigation,
        "figures": figures,
        "manifest": {
            "model": lm.describe(),
            "device": "cpu",
            "threads": args.threads,
            "versions": package_versions(),
            "configs": {n: c.__dict__ for n, c in configs.items()},
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(time.time() - started, 1),
            "cpu_s": round(time.process_time() - cpu0, 1),
        },
    }
    _print_tables(detection, transfer, mitigation, configs)
    if not args.quick:
        results_path("factcheckmate", args.model).write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    print(json.dumps(summary, default=_json_default))
    return 0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_option(p)
    p.add_argument("--quick", action="store_true", help="small samples into a temp dir; writes no results")
    p.add_argument("--tmp", default="/tmp/factcheckmate_quick", help="probe dir parent for --quick")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--val-flagged", type=int, default=200, help="flagged validation questions per (layer, alpha)")
    p.add_argument("--unflagged-check", type=int, default=48, help="unflagged test questions run through the pipeline")
    p.add_argument("--timing-questions", type=int, default=16, help="test questions timed at batch 1")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.val_flagged, args.unflagged_check, args.timing_questions = 24, 8, 3
    return args


def _prepare(lm, config, quiet):
    from internals.analyses.factcheckmate.pipeline import prepare
    from internals.data import load_dataset

    data = load_dataset(config.dataset, limit=config.limit, seed=config.seed)
    return prepare(
        lm,
        data,
        config.template,
        config.setting,
        config.generation,
        "*",
        config.seed,
        config.capture_batch_size,
        progress=not quiet,
    )


def _detection(config) -> dict:
    card = json.loads((Path(config.out) / config.name / "card.json").read_text())["card"]
    return {head: m for head, m in card["metrics"].items()} | {"data": card["data"]}


def _transfer(configs, prepared, detection) -> dict:
    """Heads fitted on one dataset (its train split, its best layer) scored on all of the other's questions."""
    from internals.analyses.factcheckmate.sweep import fit_head, probe_metrics

    out = {}
    for src, dst in ((CONFIGS[0], CONFIGS[1]), (CONFIGS[1], CONFIGS[0])):
        s, d = prepared[src], prepared[dst]
        for head in configs[src].heads:
            layer = detection[src][head]["layer"]
            est = fit_head(head, s.features.layer(layer), s.labels.y, s.split, configs[src].seed)
            out[f"{src}->{dst}/{head}"] = probe_metrics(est, d.features.layer(layer), d.labels.y) | {"layer": layer}
    return out


def _rate(correct) -> float | None:
    return float(np.mean(correct)) if len(correct) else None


def _mitigation(lm, config, prep, detection, args) -> dict:
    from internals.analyses.factcheckmate.generate import greedy_answers
    from internals.analyses.factcheckmate.labels import MATCHING
    from internals.analyses.factcheckmate.steer import (
        Detector,
        factcheckmate_answers,
        steering,
        steering_edit,
        steering_vector,
        timings,
    )
    from internals.answers import match
    from internals.heads import load_probe
    from internals.stats import mcnemar

    layer = detection[config.heads[0]]["layer"]
    probe = load_probe(Path(config.out) / config.name, model=lm).estimator
    detector = Detector(probe, layer)
    y, split, data = prep.labels.y, prep.split, prep.dataset
    flagged = detector.scores(prep.features.layer(layer)) >= detector.threshold
    correct = prep.labels.correct
    gen = config.generation
    steer_layers_ = (layer, *(l for l in steer_layers(lm.n_layers) if l != layer))
    vectors = {l: steering_vector(prep.features.layer(l)[split.train], y[split.train]) for l in steer_layers_}

    def steered_correct(rows, at, alpha):
        if not len(rows):
            return np.zeros(0, bool)
        with steering(lm.model, at, vectors[at], alpha):
            answers = greedy_answers(
                lm,
                [prep.prompts[i] for i in rows],
                gen,
                progress=not args.quiet,
                desc=f"steer layer {at} alpha={alpha}",
            ).text
        return np.array([match(a, data[i].answers, MATCHING) for a, i in zip(answers, rows)], dtype=bool)

    rng = np.random.default_rng(config.seed)
    val_flagged = split.validation[flagged[split.validation]]
    val_rows = np.sort(rng.permutation(val_flagged)[: args.val_flagged])
    grid = {at: {alpha: _rate(steered_correct(val_rows, at, alpha)) for alpha in ALPHAS} for at in steer_layers_}

    def pick(layers):  # best validation rate; ties: the probed layer, then the smaller alpha
        return max(((at, a) for at in layers for a in ALPHAS), key=lambda p: (grid[p[0]][p[1]], p[0] == layer, -p[1]))

    probed_pick, (steer_at, best_alpha) = pick([layer]), pick(steer_layers_)
    test_flagged = split.test[flagged[split.test]]
    test_unflagged = split.test[~flagged[split.test]]
    after_probed = steered_correct(test_flagged, *probed_pick)
    same_pick = (steer_at, best_alpha) == probed_pick
    after_flagged = after_probed if same_pick else steered_correct(test_flagged, steer_at, best_alpha)
    # unflagged questions are left alone by design: check it by running the whole pipeline on a sample
    check_rows = np.sort(rng.permutation(test_unflagged)[: args.unflagged_check])
    piped = factcheckmate_answers(
        lm, [prep.prompts[i] for i in check_rows], detector, vectors[steer_at], best_alpha, gen, steer_layer=steer_at
    )
    same = [a == prep.labels.answers[i] for a, i in zip(piped.answers, check_rows)]
    if_steered = steered_correct(check_rows, steer_at, best_alpha)
    timing_rows = rng.permutation(split.test)[: args.timing_questions]
    times = timings(
        lm, [prep.prompts[i] for i in timing_rows], detector, vectors[steer_at], best_alpha, gen, steer_layer=steer_at
    )
    return {
        "layer": layer,
        "steer_layer": steer_at,
        "best_alpha": best_alpha,
        "edit": steering_edit(steer_at, vectors[steer_at], best_alpha).describe(),  # the chosen edit, as data
        "vector_norm": {str(at): float(np.linalg.norm(v)) for at, v in vectors.items()},
        "alphas": list(ALPHAS),
        "validation": {
            "n_flagged": int(len(val_flagged)),
            "n_used": int(len(val_rows)),
            "factual_rate_before": _rate(correct[val_rows]),
            "factual_rate_after": {str(at): {str(a): r for a, r in row.items()} for at, row in grid.items()},
            "best": {"layer": steer_at, "alpha": best_alpha},
            "best_at_probed_layer": {"layer": probed_pick[0], "alpha": probed_pick[1]},
        },
        "test": {
            "n": int(len(split.test)),
            "n_flagged": int(len(test_flagged)),
            "n_unflagged": int(len(test_unflagged)),
            "flagged_before": _rate(correct[test_flagged]),
            "flagged_after": _rate(after_flagged),
            "flagged_after_at_probed_layer": _rate(after_probed),
            "flagged_counts": {
                "before": int(correct[test_flagged].sum()),
                "after": int(after_flagged.sum()),
                **mcnemar(after_flagged, correct[test_flagged]),
            },
            "unflagged_before": _rate(correct[test_unflagged]),
            "unflagged_after": _rate(correct[test_unflagged]),
            "unflagged_pipeline_check": {
                "n": int(len(check_rows)),
                "identical_answers": int(sum(same)),
                "detector_fired": int(piped.flagged.sum()),
            },
            "unflagged_sample_if_steered": {"before": _rate(correct[check_rows]), "after": _rate(if_steered)},
            "factual_rate_all_before": _rate(correct[split.test]),
            "factual_rate_all_after": _rate(np.concatenate([after_flagged, correct[test_unflagged]])),
        },
        "timings": times,
    }


def _figures(configs, model) -> list[str]:
    from internals.analyses.factcheckmate.figures import sweep_figure
    from internals.plots import export

    figs, stems = [], []
    for name, c in configs.items():
        path = Path(c.out) / c.name / "sweep.json"
        figs.append(sweep_figure(path))
        stems.append(assets_dir(model) / f"factcheckmate_sweep_{name}")
    return [str(p.relative_to(ROOT)) for p in export(figs, stems, formats=("png", "pdf"))]


def _fmt(x) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def _print_tables(detection, transfer, mitigation, configs) -> None:
    print("\nDetection (setting I, held-out test split; layer chosen on validation)")
    print("| dataset | head | layer | bal. acc. | AUROC | F1 (macro) | n test (hallucinated) |")
    print("|---|---|---|---|---|---|---|")
    for name in configs:
        for head in configs[name].heads:
            m = detection[name][head]
            t = m["test"]
            print(
                f"| {name} | {head} | {m['layer']} | {_fmt(t['balanced_accuracy'])} | {_fmt(t['auroc'])} | "
                f"{_fmt(t['f1'])} | {t['n']} ({t['n_hallucinated']}) |"
            )
    print("\nTransfer (train split of one, all questions of the other)")
    print("| train -> test | head | layer | bal. acc. | AUROC |")
    print("|---|---|---|---|---|")
    for key, m in transfer.items():
        pair, head = key.split("/")
        print(f"| {pair} | {head} | {m['layer']} | {_fmt(m['balanced_accuracy'])} | {_fmt(m['auroc'])} |")
    t, v = mitigation["test"], mitigation["validation"]
    print(
        f"\nMitigation on qa_wikidata test: detector at layer {mitigation['layer']}; steering at layer "
        f"{mitigation['steer_layer']}, alpha {mitigation['best_alpha']}, chosen on {v['n_used']} flagged validation "
        f"questions (factual before {_fmt(v['factual_rate_before'])}; after, by layer and alpha: "
        f"{v['factual_rate_after']})"
    )
    c = t["flagged_counts"]
    print(
        f"Flagged test questions: {c['before']} -> {c['after']} factual (won {c['wins']}, lost {c['losses']}, "
        f"McNemar p = {c['p_value']:.3g}); steering the probed layer instead "
        f"(alpha {v['best_at_probed_layer']['alpha']}): {_fmt(t['flagged_after_at_probed_layer'])}"
    )
    print("| questions | n | factual before | factual after |")
    print("|---|---|---|---|")
    print(f"| flagged | {t['n_flagged']} | {_fmt(t['flagged_before'])} | {_fmt(t['flagged_after'])} |")
    print(f"| unflagged | {t['n_unflagged']} | {_fmt(t['unflagged_before'])} | {_fmt(t['unflagged_after'])} |")
    print(f"| all | {t['n']} | {_fmt(t['factual_rate_all_before'])} | {_fmt(t['factual_rate_all_after'])} |")
    s = mitigation["timings"]["seconds_per_question"]
    print(
        f"\nSeconds per question (batch 1, CPU): plain {s['plain']:.3f}, with fused detection {s['fused']:.3f} "
        f"(overhead {mitigation['timings']['detection_overhead']:+.1%}), separate detection pass {s['separate']:.3f}, "
        f"steered generation {s['steered']:.3f}"
    )


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
