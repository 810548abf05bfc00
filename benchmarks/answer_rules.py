"""How much the answer rule decides the labels: echoes of the question and rule-by-rule label changes.

    python benchmarks/answer_rules.py                 # SmolLM2, 300 questions per closed-book set
    python benchmarks/answer_rules.py --n 40 --quick  # a smoke test (writes no results)
    python benchmarks/answer_rules.py --model gemma3-270m   # -> results/answer_rules.gemma3-270m.json

For each closed-book question-answer set of the registry (qa_wikidata, truthful_qa, fanoutqa_sub;
the multiple-choice sets are refused closed-book, see internals.prompts.check_closed_book) the
embedded model (or --model) answers a seeded sample greedily (template "auto": the chat template,
or for a base model without one "Question: {question}\\nAnswer:"; 16 new tokens, the FactCheckmate
settings), and every answer is judged under each (extraction, matching) rule of `internals.answers`.
Reported per set: n; how many paper answers only echo the question (`echoes_question`); the
hallucination rate under each rule with a 95% bootstrap interval; and, against the paper's rule
(paper extraction, substring matching), how many labels each other rule changes (both directions,
with McNemar's exact p on the paired verdicts). The rules were fixed (internals.answers) before
these answers were scored. Results -> benchmarks/results/answer_rules.json with a manifest (another
--model: answer_rules.<model>.json; "auto" on every set, so Gemma 3's qa_wikidata questions are not
prompted as its FactCheckmate config probes/gemma3-270m/qa_wikidata.toml prompts them, with "?").
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from bench_models import add_model_option, results_path

SETS = ("qa_wikidata", "truthful_qa", "fanoutqa_sub")
RULES = (
    ("paper", "substring"),
    ("skip_echo", "substring"),
    ("paper", "whole_word"),
    ("skip_echo", "whole_word"),
    ("paper", "exact"),
)


def judge(answers_raw: list[str], records, extraction: str, matching: str) -> np.ndarray:
    """correct [n] bool under one rule (raw generations, so every extraction starts from the same text)."""
    from internals.answers import extract, match

    return np.array(
        [match(extract(raw, extraction, r.question), r.answers, matching) for raw, r in zip(answers_raw, records)],
        dtype=bool,
    )


def one_set(lm, name: str, n: int, seed: int, template: str, progress: bool) -> dict:
    from internals.analyses.factcheckmate.generate import GenerationSettings, greedy_answers
    from internals.answers import echoes_question
    from internals.data import load_dataset
    from internals.prompts import render
    from internals.stats import bootstrap_mean, mcnemar

    data = load_dataset(name, limit=n, seed=seed)
    prompts = render(data, template, lm.tokenizer)
    gen = greedy_answers(lm, prompts, GenerationSettings(max_new_tokens=16), progress=progress, desc=name)
    base = judge(gen.raw, data, "paper", "substring")
    out = {
        "n": len(data),
        "echo_only": int(sum(echoes_question(raw, r.question) for raw, r in zip(gen.raw, data))),
        "rules": {},
    }
    for extraction, matching in RULES:
        correct = judge(gen.raw, data, extraction, matching)
        ci = bootstrap_mean((~correct).astype(float)[:, None], seed=seed)
        key = f"{extraction}+{matching}"
        vs = mcnemar(correct, base)
        out["rules"][key] = {
            "hallucination_rate": float((~correct).mean()),
            "low": float(ci["lo"][0]),
            "high": float(ci["hi"][0]),
            "labels_changed_vs_paper": int((correct != base).sum()),
            "now_correct": vs["wins"],
            "now_wrong": vs["losses"],
            "mcnemar_p": vs["p_value"],
        }
    out["examples_echo"] = [
        {"question": r.question, "answer": raw.strip()[:80]}
        for raw, r in zip(gen.raw, data)
        if echoes_question(raw, r.question)
    ][:5]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_option(p)
    p.add_argument("--n", type=int, default=300, help="questions per set (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="writes no results")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from internals import load_model
    from internals.prompts import resolve_template
    from internals.store import package_versions

    lm = load_model(args.model, device="cpu")
    template = resolve_template("auto", lm.tokenizer)  # "chat" for SmolLM2
    sets = {name: one_set(lm, name, args.n, args.seed, template, not args.quiet) for name in SETS}
    doc = {
        "manifest": {
            "model": lm.describe(),
            "data": {name: {"n": s["n"], "seed": args.seed} for name, s in sets.items()},
            "config": {
                "n": args.n,
                "template": template,
                "max_new_tokens": 16,
                "rules": [list(r) for r in RULES],
                "threads": args.threads,
            },
            "seed": args.seed,
            "versions": package_versions(),
            "declared": "the rules are internals.answers' (commit 8a7da5f), fixed before this run",
        },
        "results": sets,
    }
    for name, s in sets.items():
        paper = s["rules"]["paper+substring"]
        echo = s["rules"]["skip_echo+substring"]
        print(
            f"{name}: n={s['n']}, answers that only echo the question {s['echo_only']}; hallucination rate "
            f"paper {paper['hallucination_rate']:.3f} [{paper['low']:.3f}, {paper['high']:.3f}], skip_echo "
            f"{echo['hallucination_rate']:.3f} ({echo['labels_changed_vs_paper']} labels changed, p={echo['mcnemar_p']:.3g})"
        )
    if not args.quick:
        out = results_path("answer_rules", args.model)
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
