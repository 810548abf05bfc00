"""`internals probe`: train, evaluate and apply FactCheckmate hallucination probes.

internals probe train probes/qa_wikidata.toml          # -> probes/qa_wikidata/{weights.safetensors,card.json,sweep.json}
internals probe eval probes/qa_wikidata --data fanoutqa_sub --split all
internals probe predict probes/qa_wikidata "The capital of Kenya is"
internals probe report probes/qa_wikidata --out assets   # the card's evidence as a figure
"""

from __future__ import annotations

import json

from .options import add_threads, apply_threads


def register(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="train / evaluate / apply preemptive hallucination probes (FactCheckmate)",
        description=__doc__.split("\n\n")[0],
    )
    actions = p.add_subparsers(dest="action", required=True)

    t = actions.add_parser("train", help="train a probe from a TOML config (see probes/*.toml)")
    t.add_argument("config", help="a TOML file, e.g. probes/qa_wikidata.toml")
    t.add_argument("--out", default=None, help="parent dir of the probe dir (default: the config's `out`)")
    t.add_argument("--force", action="store_true", help="retrain even when the probe dir holds this config already")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--model", default=None, help="override the config's model (a local checkpoint dir)")
    t.add_argument("--data", default=None, help="override the config's dataset (a name, or your file)")
    t.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your data file to ours, e.g. --field question=input (repeatable; adds to the config's)",
    )
    t.add_argument("--limit", type=int, default=None, help="override the config's limit (questions, a seeded sample)")
    t.add_argument("--seed", type=int, default=None, help="override the config's seed")
    t.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's)")
    add_threads(t)
    t.set_defaults(func=run_train)

    e = actions.add_parser("eval", help="metrics of a trained probe on a dataset split")
    e.add_argument("probe", help="a probe dir written by `internals probe train`")
    e.add_argument(
        "--data",
        required=True,
        help="a dataset name (see `internals data list`) or your .jsonl/.json/.csv/.parquet file or saved HF dataset dir",
    )
    e.add_argument("--split", default="test", help="all | train | validation | test (default: test)")
    e.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your data file to ours, e.g. --field question=input (repeatable)",
    )
    e.add_argument("--limit", type=int, default=None, help="at most this many questions (a seeded sample)")
    e.add_argument("--seed", type=int, default=0, help="seed of the split and sample (default: 0)")
    e.add_argument("--model", default=None, help="a model path (default: the one the probe was trained on)")
    e.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
    add_threads(e)
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=run_eval)

    q = actions.add_parser("predict", help="probability that the model will hallucinate on a question")
    q.add_argument("probe", help="a probe dir written by `internals probe train`")
    q.add_argument("questions", nargs="+", help="one or more questions (quoted)")
    q.add_argument("--model", default=None, help="a model path (default: the one the probe was trained on)")
    q.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
    add_threads(q)
    q.set_defaults(func=run_predict)

    r = actions.add_parser(
        "report", help="draw a probe card's evidence: intervals, label-shuffle and random-model controls"
    )
    r.add_argument("probe", help="a probe dir written by `internals probe train`")
    r.add_argument("--out", default=".", help="figure directory (default: .)")
    r.add_argument("--formats", nargs="+", default=["png", "pdf"], help="figure formats (default png pdf)")
    r.set_defaults(func=run_report)


def run_train(args) -> int:
    from ..analyses.factcheckmate.pipeline import ProbeConfig, train_factcheckmate_probe
    from ..data.files import parse_field_options

    apply_threads(args)
    config = ProbeConfig.from_toml(args.config)
    overrides = {"out": args.out, "model": args.model, "dataset": args.data, "limit": args.limit, "seed": args.seed}
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    if args.device:
        config.device = args.device
    if args.field:
        config.fields = {**config.fields, **parse_field_options(args.field)}
    config.check()
    path = train_factcheckmate_probe(config, force=args.force, progress=not args.quiet)
    card = json.loads((path / "card.json").read_text())["card"]
    print(path)
    for head, m in card["metrics"].items():
        test = m["test"]
        print(
            f"{head}: layer {m['layer']} (chosen on validation) test balanced accuracy "
            f"{_fmt(test['balanced_accuracy'])}, AUROC {_fmt(test['auroc'])}, F1 {_fmt(test['f1'])} "
            f"(n={test['n']}, {test['n_hallucinated']} hallucinated)"
        )
    _print_evidence(card.get("evidence"))
    return 0


def run_report(args) -> int:
    from pathlib import Path

    from ..analyses.factcheckmate.figures import evidence_figure
    from ..plots import export_named

    stem = f"probe_evidence_{Path(args.probe).resolve().name}"
    for path in export_named({stem: evidence_figure(args.probe)}, args.out, args.formats):
        print(path)
    return 0


def _print_evidence(ev: dict | None) -> None:
    if not ev:
        return
    if "skipped" in ev:
        print(f"evidence: {ev['skipped']}")
        return
    t = ev["test"]
    ba, au = t["balanced_accuracy"], t["auroc"]
    print(
        f"evidence (test n={t['n']}): balanced accuracy {ba['value']:.3f} [{ba['low']:.3f}, {ba['high']:.3f}], "
        f"AUROC {au['value']:.3f} [{au['low']:.3f}, {au['high']:.3f}]; recall at 1%/5% FPR "
        f"{ev['recall_at_fpr']['0.01']:.3f}/{ev['recall_at_fpr']['0.05']:.3f}"
    )
    for key, label in (
        ("label_shuffle_control", "label-shuffle control"),
        ("random_model_control", "random-model control"),
    ):
        if key in ev:
            c = ev[key]["balanced_accuracy"]
            verdict = (
                _shuffle_verdict(ev[key])
                if key == "label_shuffle_control"
                else (
                    "the probe beats it beyond the intervals"
                    if ev[key]["probe_beats_it"]
                    else "the probe does NOT beat it beyond the intervals"
                )
            )
            print(f"  {label}: balanced accuracy {c['value']:.3f} [{c['low']:.3f}, {c['high']:.3f}] ({verdict})")


def _shuffle_verdict(control: dict) -> str:
    """The shuffle control's verdict; a card made before the fix (one permutation of the training
    labels only) says so."""
    chance = "near chance" if control.get("near_chance") else "NOT near chance: the pipeline may leak"
    if "n_permutations" not in control:
        return f"{chance}; one permutation of the training labels only: refresh with scripts/card_evidence.py --only shuffle"
    return (
        f"mean and 2.5-97.5 percentiles of {control['n_permutations']} permutations, {chance}; the probe's "
        f"permutation p = {control['probe_p_value']:.3f}"
    )


def run_eval(args) -> int:
    from ..analyses.factcheckmate.pipeline import _card, evaluate_probe, model_of
    from ..data.files import parse_field_options
    from ..models import load_model

    apply_threads(args)
    lm = None
    if args.model or args.device:
        lm = load_model(args.model or model_of(_card(args.probe)), device=args.device or "auto")

    print(
        json.dumps(
            evaluate_probe(
                args.probe,
                args.data,
                args.split,
                args.limit,
                args.seed,
                progress=not args.quiet,
                fields=parse_field_options(args.field),
                lm=lm,
            ),
            indent=2,
        )
    )
    return 0


def run_predict(args) -> int:
    from ..analyses.factcheckmate.pipeline import _card, model_of, predict
    from ..models import load_model

    apply_threads(args)
    lm = None
    if args.model or args.device:
        lm = load_model(args.model or model_of(_card(args.probe)), device=args.device or "auto")
    for question, p in zip(args.questions, predict(args.probe, args.questions, lm=lm)):
        print(json.dumps({"question": question, "p_hallucination": round(p, 4), "flagged": p >= 0.5}))
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"
