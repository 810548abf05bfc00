"""Which prompt template a base model answers a closed-book set under: the template check of issue 18.

    python benchmarks/templates.py --model gemma3-270m          # qa_wikidata, 200 questions, three templates
    python benchmarks/templates.py --model gemma3-270m --n 40   # the 40-question check the probe config cites
    python benchmarks/templates.py --quick                      # 12 questions (writes no results)

A base model has no chat template, so the analyses prompt it with `internals.prompts`'s base
template ("auto": "Question: {question}\\nAnswer:"). qa_wikidata's items are sentence stems ("The
religion of Alan Tam is"), which a Q/A template turns into odd questions. For each template in
TEMPLATES the model answers the same seeded sample (load_dataset(name, limit=n, seed)) greedily with
the FactCheckmate settings (16 new tokens, the paper's stop rule), and every answer is judged by the
paper's rule (internals.answers: paper extraction, substring matching). Reported per template: n;
correct, with a Wilson 95% interval; empty answers (the stop rule cut everything, e.g. an answer
that opens with a newline); answers whose raw text opens with a newline; and, against "auto",
wins / losses and McNemar's exact p on the paired verdicts. The templates were fixed before this
run; the probe config probes/gemma3-270m/qa_wikidata.toml uses the one with "?", chosen on the
40-question check before any probe was trained. Results -> benchmarks/results/templates.<model>.json
(the default model: templates.json) with a manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

import numpy as np
import torch

from bench_models import add_model_option, results_path

TEMPLATES = ("auto", "Question: {question}?\nAnswer:", "raw")


def one_template(lm, data, template: str, progress: bool) -> dict:
    from internals.analyses.factcheckmate.generate import GenerationSettings, greedy_answers
    from internals.answers import extract, match
    from internals.prompts import render

    gen = greedy_answers(
        lm,
        render(data, template, lm.tokenizer),
        GenerationSettings(max_new_tokens=16),
        progress=progress,
        desc=template,
    )
    answers = [extract(raw, "paper", r.question) for raw, r in zip(gen.raw, data)]
    correct = np.array([match(a, r.answers, "substring") for a, r in zip(answers, data)], dtype=bool)
    return {
        "correct": correct,
        "empty": int(sum(not a.strip() for a in answers)),
        "opens_with_newline": int(sum(raw.lstrip(" ").startswith("\n") for raw in gen.raw)),
        "examples": [{"question": r.question, "raw": raw[:80]} for raw, r in zip(gen.raw[:3], data)],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_option(p)
    p.add_argument("--dataset", default="qa_wikidata")
    p.add_argument("--n", type=int, default=200, help="questions (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="12 questions; writes no results")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.n = 12
    torch.set_num_threads(args.threads)
    from internals import load_model
    from internals.data import load_dataset
    from internals.prompts import resolve_template
    from internals.stats import mcnemar, wilson_interval
    from internals.store import package_versions

    started = time.time()
    lm = load_model(args.model, device="cpu")
    data = load_dataset(args.dataset, limit=args.n, seed=args.seed)
    runs = {t: one_template(lm, data, t, not args.quiet) for t in TEMPLATES}
    base = runs["auto"]["correct"]
    results = {}
    for t, r in runs.items():
        k, n = int(r["correct"].sum()), len(data)
        results[t] = {
            "n": n,
            "correct": k,
            "accuracy": k / n,
            "accuracy_ci": list(wilson_interval(k, n)),
            "empty": r["empty"],
            "opens_with_newline": r["opens_with_newline"],
            "vs_auto": None if t == "auto" else mcnemar(r["correct"], base),
            "examples": r["examples"],
        }
        vs = results[t]["vs_auto"]
        print(
            f"{t!r}: {k}/{n} correct {results[t]['accuracy_ci'][0]:.3f}-{results[t]['accuracy_ci'][1]:.3f}, "
            f"empty {r['empty']}, opens with a newline {r['opens_with_newline']}"
            + ("" if vs is None else f"; vs auto {vs['wins']} won {vs['losses']} lost p={vs['p_value']:.3g}")
        )
    doc = {
        "dataset": args.dataset,
        "rule": "paper extraction + substring matching (internals.answers), greedy, 16 new tokens",
        "auto_is": resolve_template("auto", lm.tokenizer),
        "results": results,
        "manifest": {
            "model": lm.describe(),
            "data": {"name": args.dataset, "n": len(data), "seed": args.seed, "fingerprint": data.fingerprint},
            "templates": list(TEMPLATES),
            "threads": args.threads,
            "seed": args.seed,
            "versions": package_versions(),
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(time.time() - started, 1),
        },
    }
    if not args.quick:
        out = results_path("templates" if args.n == 200 else f"templates_n{args.n}", args.model)
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
