"""`internals cutoff`: train attention-head sufficiency probes, evaluate early stopping, draw its figures.

internals cutoff train CONFIG.toml [--out DIR]
internals cutoff eval PROBE_DIR --data disfl_qa,coqa [--n 40] [--threshold 0.95] [--out results.json]
internals cutoff figures RESULTS.json [--train PROBE_DIR/train.json] [--out assets/]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("cutoff", help="dynamic context cutoff: head probes that stop reading once the context suffices")
    cmds = p.add_subparsers(dest="cutoff_command", required=True)

    t = cmds.add_parser("train", help="build long contexts, read them, fit per-head probes, save the top-k ensemble")
    t.add_argument("config", help="a TOML file (see internals.analyses.cutoff.config)")
    t.add_argument("--out", default=None, help="where to save the probes (default: the config's `out`)")
    t.add_argument("--model", default=None, help="override the config's model")
    t.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most LIMIT examples per dataset and split (caps the config's n_train and n_val)",
    )
    _run_options(t)
    _data_options(t)
    t.set_defaults(func=run_train)

    e = cmds.add_parser("eval", help="score cutoff, full context and the baselines on test examples")
    e.add_argument("probe", help="a folder written by `internals cutoff train`")
    e.add_argument(
        "--data",
        required=True,
        help="comma-separated dataset names, or your .jsonl/.json/.csv/.parquet file or saved HF dataset dirs",
    )
    e.add_argument("--split", default="test", help="which split to read (default test)")
    e.add_argument(
        "--limit", "--n", dest="n", type=int, default=None, help="examples per dataset (default: the config's n_test)"
    )
    e.add_argument(
        "--offset",
        type=int,
        default=None,
        help="skip the seeded test sample's first OFFSET examples: a fresh "
        "test slice, disjoint from what --n OFFSET gives (default: the config's test_offset)",
    )
    e.add_argument("--threshold", type=float, default=None, help="stop at P(sufficient) >= this (default: the probe's)")
    e.add_argument(
        "--kind",
        default=None,
        help="the probe that decides: a kind or kind+combine, e.g. attn_z+logistic (default: the config's main)",
    )
    e.add_argument("--no-self-assess", action="store_true", help="skip the self-assessment baseline (faster)")
    e.add_argument("--model", default=None, help="a model path (default: the one the probe was trained on)")
    e.add_argument("--out", default=None, help="write the results JSON here (default PROBE/eval.json)")
    e.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="answer length in tokens (default: the probe config's; unset there: the longest gold answer + 4, "
        "at most 64)",
    )
    _run_options(e)
    _data_options(e)
    e.set_defaults(func=run_eval)

    f = cmds.add_parser("figures", help="layer x head F1 heatmaps and accuracy vs token reduction, PNG and PDF")
    f.add_argument("results", help="a results JSON from `internals cutoff eval` or the benchmark")
    f.add_argument("--train", default=None, help="train.json with the head F1 matrices (default: beside the probe)")
    f.add_argument("--out", default="assets", help="folder for the figures (default assets/)")
    f.set_defaults(func=run_figures)


def _run_options(q) -> None:
    """The options every command that runs a model has."""
    q.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's)")
    q.add_argument(
        "--seed", type=int, default=None, help="seed of the data sampling and probes (default: the config's)"
    )
    q.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's; 1 is often several times faster on a busy 2-core machine)",
    )


def _data_options(q) -> None:
    """Your own files: field mapping and the distractor padding switch."""
    q.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="read your file's field YOURS as our OURS, e.g. --field question=input (repeatable; "
        "`internals data schema` lists ours)",
    )
    q.add_argument(
        "--pad-distractors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pad each context with other records' passages up to target_tokens, as the paper does (default: "
        "on for the built-in datasets, off for your files)",
    )


def _data_overrides(args) -> dict:
    """Config values the data options set (only those given)."""
    from ..data.files import parse_field_options

    out = {}
    if args.field:
        out["fields"] = parse_field_options(args.field)
    if args.pad_distractors is not None:
        out["pad_distractors"] = args.pad_distractors
    return out


def _threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def run_train(args) -> int:
    from ..analyses.cutoff.config import CutoffConfig
    from ..analyses.cutoff.pipeline import train_cutoff_probes
    from ..models import load_model

    _threads(args)
    cfg = CutoffConfig.from_toml(
        args.config, out=args.out, model=args.model, device=args.device, seed=args.seed, **_data_overrides(args)
    )
    if args.limit:
        cfg.n_train, cfg.n_val = min(cfg.n_train, args.limit), min(cfg.n_val, args.limit)
    lm = load_model(cfg.model, device=cfg.device)
    report = train_cutoff_probes(lm, cfg)
    summary = {
        kind: {"heads": r["heads"], "f1_val_ensemble": round(r["f1_val_ensemble"], 4)}
        for kind, r in report["kinds"].items()
    }
    print(json.dumps({"out": cfg.out, "f1_val_position": round(report["f1_val_position"], 4), **summary}))
    return 0


def run_eval(args) -> int:
    from ..analyses.cutoff.baselines import PositionBaseline
    from ..analyses.cutoff.config import CutoffConfig
    from ..analyses.cutoff.evaluation import evaluate_cutoff
    from ..analyses.cutoff.pipeline import load_cutoff_probes, load_examples, results_summary
    from ..errors import InternalsError
    from ..models import load_model, model_reference

    if args.offset and args.split != "test":
        raise InternalsError(
            f"--offset picks fresh examples of the test split, not of {args.split}: drop it or use --split test"
        )
    _, card = load_cutoff_probes(args.probe)
    _threads(args)
    cfg = CutoffConfig(
        **{
            **card["config"],
            "self_assess": not args.no_self_assess,
            **({"device": args.device} if args.device else {}),
            **({"seed": args.seed} if args.seed is not None else {}),
            **({"threshold": args.threshold} if args.threshold is not None else {}),
            **({"test_offset": args.offset} if args.offset is not None else {}),
            **({"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}),
            **_data_overrides(args),
        }
    )
    lm = load_model(args.model or model_reference(card["model"]), device=cfg.device)
    probes, card = load_cutoff_probes(args.probe, lm)
    main = card["config"].get("main") or "attn_z"
    kind = args.kind or (main if main in probes else next(iter(probes)))
    if kind not in probes:
        raise InternalsError(f"no {kind} probe in {args.probe}: it has {', '.join(probes)}")
    position = PositionBaseline.from_dict(card["position"])
    budget, calibrated = _from_training(Path(args.probe), kind)
    per = {}
    for name in [d for d in args.data.split(",") if d]:
        info: dict = {}
        examples = load_examples(lm, name, args.split, args.n or cfg.n_test, cfg, info)
        per[name] = evaluate_cutoff(lm, probes, position, examples, cfg, kind, budget)
        per[name]["data"] = info | {"split": args.split, "asked": args.n or cfg.n_test}
    result = results_summary(per, cfg, lm, args.probe, calibrated=calibrated, main_kind=kind)
    out = Path(args.out or Path(args.probe) / "eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        json.dumps(
            {k: result[k] for k in ("token_reduction", "accuracy_cutoff", "accuracy_full", "f1_probe", "f1_position")}
            | {"results": str(out)}
        )
    )
    return 0


def _from_training(probe_dir: Path, kind: str) -> tuple[float | None, float | None]:
    """The probe's share of context read on validation and its validation-calibrated threshold."""
    path = probe_dir / "train.json"
    if not path.exists():
        return None, None
    info = json.loads(path.read_text())["kinds"].get(kind, {})
    return info.get("val_budget"), info.get("calibrated_threshold")


def run_figures(args) -> int:
    from ..analyses.cutoff.figures import write_figures

    for path in write_figures(args.results, args.train, args.out):
        print(path)
    return 0
