"""`internals voids trace | eval | time | figures`: LAC void detection and skipping (Void in LMs)."""

from __future__ import annotations

import json

DEFAULT_ALPHAS = "0.02,0.05,0.1,0.2,0.3,0.5,0.8"


def _floats(text: str) -> tuple[float, ...]:
    from ..errors import InternalsError

    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InternalsError(f"bad number list {text!r}: write e.g. 0.1,0.2,0.8") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _fields(args) -> dict:
    from ..data.files import parse_field_options

    return parse_field_options(getattr(args, "field", None))


def register(sub) -> None:
    p = sub.add_parser("voids", help="LAC void detection: which blocks each token uses; skipping the voids")
    vs = p.add_subparsers(dest="voids_command", required=True)

    def common(q, data_help: str, limit: int):
        q.add_argument(
            "--model",
            default=None,
            help="local HF checkpoint dir or hub name (default: embedded SmolLM2-135M-Instruct)",
        )
        q.add_argument("--data", required=True, help=data_help)
        q.add_argument("--split", default="all", help="all | train | validation | test")
        q.add_argument(
            "--field",
            action="append",
            default=None,
            metavar="OURS=YOURS",
            help="map a field of your data file to ours, e.g. --field question=input (repeatable)",
        )
        q.add_argument("--limit", type=int, default=limit, help=f"questions per dataset (default {limit})")
        q.add_argument(
            "--seed", type=int, default=0, help="seed of the question sample and choice shuffling (default 0)"
        )
        q.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N (default auto)")
        q.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")

    t = vs.add_parser("trace", help="norm traces of prompt processing and greedy generation, LAC decisions")
    common(t, "dataset name (internals data) or your .jsonl/.json/.csv/.parquet file or saved HF dataset dir", 100)
    t.add_argument(
        "--template",
        default="paper",
        help="paper (the evaluation prompt; for records without choices, auto) | auto (chat when the model "
        'has a chat template, else "Question: {question}\\nAnswer:") | chat | raw | a format string (default paper)',
    )
    t.add_argument("--max-new-tokens", type=int, default=24, help="greedy tokens per prompt (0: prompt only)")
    t.add_argument("--batch-size", type=int, default=8, help="prompts per forward in prompt processing (default 8)")
    t.add_argument("--alpha", type=float, default=0.8, help="alpha of the figures")
    t.add_argument("--alphas", default=DEFAULT_ALPHAS, help="alphas of the summary")
    t.add_argument("--out", default="runs/voids/trace", help="output directory of the trace (default runs/voids/trace)")
    t.add_argument("--figures", default=None, help="write the figures (PNG+PDF) into this folder")
    t.set_defaults(func=run_trace)

    e = vs.add_parser("eval", help="accuracy of the full model and of each skipping kind over an alpha sweep")
    common(
        e,
        "comma-separated multiple-choice / yes-no datasets, e.g. general_knowledge,sports_understanding,strategyqa",
        100,
    )
    e.add_argument(
        "--alphas",
        default=DEFAULT_ALPHAS,
        help=f"comma-separated LAC alphas, each in (0, 1] (default {DEFAULT_ALPHAS})",
    )
    e.add_argument("--kinds", default="paper,drop,skip", help="any of paper, drop, skip (the full model always runs)")
    e.add_argument("--drop-alphas", default=None, help="alphas for drop (default: --alphas)")
    e.add_argument("--skip-alphas", default=None, help="alphas for skip (default: --alphas)")
    e.add_argument("--drop-phases", default="both", help="where drop acts: any of pp, rg, both")
    e.add_argument(
        "--prompt-share",
        type=float,
        default=0.5,
        help="skip: blocks void for this share of prompt tokens are skipped in generation",
    )
    e.add_argument("--max-new-tokens", type=int, default=8, help="greedy reply length per question (default 8)")
    e.add_argument("--no-shuffle", action="store_true", help="keep the source's choice order")
    e.add_argument(
        "--template",
        default="auto",
        help="the user turn around the paper's message: auto (chat when the model has a chat template, else "
        '"{question}\\nAnswer:", the message for {question}) | chat | raw | a format string over {question} (default auto)',
    )
    e.add_argument(
        "--out", default="runs/voids/eval", help="output directory; a rerun resumes there (default runs/voids/eval)"
    )
    e.add_argument("--figures", default=None, help="write trade-off figures (PNG+PDF) into this folder")
    e.set_defaults(func=run_eval)

    m = vs.add_parser("time", help="seconds per decode step: full model vs skip (blocks not run) vs drop")
    common(m, "dataset whose prompts to decode from", 10)
    m.add_argument("--alphas", default="0.1,0.2,0.3", help="comma-separated LAC alphas to time (default 0.1,0.2,0.3)")
    m.add_argument("--steps", type=int, default=16, help="decode steps timed per prompt (default 16)")
    m.add_argument(
        "--prompt-share",
        type=float,
        default=0.5,
        help="skip: blocks void for this share of prompt tokens are not run (default 0.5)",
    )
    m.add_argument("--out", default=None, help="write the timings as JSON here")
    m.set_defaults(func=run_time)

    f = vs.add_parser("figures", help="redraw figures from a saved trace and/or eval directory")
    f.add_argument("--trace", default=None, help="a trace directory from `voids trace`")
    f.add_argument("--eval", default=None, help="an evaluation directory from `voids eval`")
    f.add_argument("--alpha", type=float, default=0.8, help="alpha of the per-alpha figures (default 0.8)")
    f.add_argument("--alphas", default=DEFAULT_ALPHAS, help=f"alphas of the sweep figures (default {DEFAULT_ALPHAS})")
    f.add_argument("--model", default=None, help="for token labels of the position map")
    f.add_argument("--out", default="assets/voids", help="figure directory (default assets/voids)")
    f.set_defaults(func=run_figures)


def _setup(args):
    import torch

    from ..models import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    return load_model(args.model, device=args.device)


def _prompts(lm, data, template: str) -> list:
    from ..analyses.voids.protocol import eval_prompt
    from ..prompts import render_ids

    if template == "paper":
        return [
            eval_prompt(lm.tokenizer, r.shuffled_choices()) if r.choices else render_ids([r], "auto", lm.tokenizer)[0]
            for r in data
        ]
    return render_ids(list(data), template, lm.tokenizer)


def _template_used(lm, template: str) -> dict:
    """What the manifest records: the template, resolved ("auto" -> "chat" or the base format), and
    for "paper" the user turn around the paper's message."""
    from ..analyses.voids.protocol import turn_template
    from ..prompts import resolve_template

    if template == "paper":
        return {"template": "paper", "turn_template": turn_template("auto", lm.tokenizer)}
    return {"template": resolve_template(template, lm.tokenizer)}


def _manifest(lm, extra: dict) -> dict:
    from ..store.config import package_versions

    return {"model": lm.describe(), **extra, "versions": package_versions()}


def run_trace(args) -> int:
    from ..analyses.voids.lac import check_alpha
    from ..analyses.voids.report import trace_figures, trace_summary
    from ..analyses.voids.trace import trace
    from ..data import load_dataset

    alphas = [check_alpha(a) for a in _floats(args.alphas)]
    check_alpha(args.alpha)
    lm = _setup(args)
    data = load_dataset(args.data, split=args.split, limit=args.limit, seed=args.seed, fields=_fields(args))
    prompts = _prompts(lm, data, args.template)
    meta = _manifest(
        lm,
        {
            "dataset": {
                "name": data.name,
                "split": data.split,
                "fingerprint": data.fingerprint,
                "n": len(data),
                "limit": args.limit,
                "seed": args.seed,
            },
            **_template_used(lm, args.template),
        },
    )
    result = trace(lm, prompts, args.max_new_tokens, args.batch_size, progress=True, manifest=meta)
    out = result.save(args.out)
    summary = trace_summary(result, alphas)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for alpha, row in summary["alphas"].items():
        print(
            json.dumps(
                {"alpha": float(alpha), **{f"{p}_void_share": round(v["void_share"], 4) for p, v in row.items()}}
            )
        )
    print(f"saved {out}")
    if args.figures:
        for path in trace_figures(result, args.alpha, alphas, args.figures, tokenizer=lm.tokenizer):
            print(f"wrote {path}")
    return 0


def run_eval(args) -> int:
    from ..analyses.voids.evaluate import EvalConfig, evaluate_voids
    from ..analyses.voids.report import eval_figures
    from ..data import load_dataset

    cfg = EvalConfig(
        alphas=_floats(args.alphas),
        kinds=_names(args.kinds),
        drop_phases=_names(args.drop_phases),
        drop_alphas=_floats(args.drop_alphas) if args.drop_alphas else None,
        skip_alphas=_floats(args.skip_alphas) if args.skip_alphas else None,
        prompt_share=args.prompt_share,
        max_new_tokens=args.max_new_tokens,
        shuffle=not args.no_shuffle,
        seed=args.seed,
        template=args.template,
    )
    datasets = [
        load_dataset(n, split=args.split, limit=args.limit, seed=args.seed, fields=_fields(args))
        for n in _names(args.data)
    ]
    lm = _setup(args)
    rows = evaluate_voids(lm, datasets, cfg, args.out, manifest=_manifest(lm, {}), progress=True)
    for r in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    print(f"saved {args.out}/summary.json")
    if args.figures:
        for path in eval_figures(rows, args.figures):
            print(f"wrote {path}")
    return 0


def run_time(args) -> int:
    from ..analyses.voids.lac import check_alpha
    from ..analyses.voids.timing import decode_timing
    from ..data import load_dataset

    alphas = [check_alpha(a) for a in _floats(args.alphas)]
    lm = _setup(args)
    data = load_dataset(args.data, split=args.split, limit=args.limit, seed=args.seed, fields=_fields(args))
    timings = decode_timing(lm, _prompts(lm, data, "paper"), alphas, args.steps, args.prompt_share, progress=True)
    rows = [t.to_dict() for t in timings]
    for r in rows:
        print(json.dumps(r))
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {
                    "manifest": _manifest(
                        lm, {"dataset": data.name, "steps": args.steps, **_template_used(lm, "paper")}
                    ),
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


def run_figures(args) -> int:
    from pathlib import Path

    from ..analyses.voids.report import eval_figures, trace_figures
    from ..analyses.voids.trace import NormTrace
    from ..errors import InternalsError

    if not args.trace and not args.eval:
        raise InternalsError("give --trace DIR and/or --eval DIR (outputs of `internals voids trace` / `eval`)")
    paths = []
    if args.trace:
        tr = NormTrace.load(args.trace)
        tok = None
        if args.model is not None or tr.manifest.get("model", {}).get("path"):
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(args.model or tr.manifest["model"]["path"])
        paths += trace_figures(tr, args.alpha, _floats(args.alphas), args.out, tokenizer=tok)
    if args.eval:
        summary = Path(args.eval) / "summary.json"
        if not summary.exists():
            raise InternalsError(f"{summary} not found: run `internals voids eval --out {args.eval}` first")
        paths += eval_figures(json.loads(summary.read_text())["rows"], args.out)
    for p in paths:
        print(f"wrote {p}")
    return 0
