"""Score the probes and the baselines on test examples, all from one reading pass per example.

Each stopping rule picks a chunk per example; its token reduction is
sum(context tokens) / sum(context tokens up to the chosen chunk) (the paper's measure) and its
accuracy the share of lenient matches of the answer given from that prefix (`internals.answers`,
rule `metrics.MATCHING`; an answer the token limit cut counts only when it holds a whole gold alias). `processed_reduction`
also counts what the rule appends and removes at each chunk it checks: the question again for a
query-kind probe (`attn_z_query`), the self-assessment question; the others append nothing.

| method               | stops at                                                         |
|----------------------|------------------------------------------------------------------|
| `probe:<kind>@<t>`   | first chunk with ensemble P(sufficient) >= t (main kind: each t)  |
| `self_assessment`    | first chunk where the model's P(Yes) >= 0.5                       |
| `position`           | first chunk where the position-only classifier's P >= threshold   |
| `fixed_truncation`   | the chunk nearest the main probe's token budget, for every example|
| `oracle`             | the first chunk that holds the evidence                           |
| `full`               | the last chunk (the whole context)                                |
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ...answers import match
from . import infer, prompting
from .baselines import PositionBaseline, fixed_chunk
from .config import CutoffConfig
from .contexts import Example
from .features import QUERY_KINDS
from .metrics import MATCHING, f1, first_at_least, token_reduction
from .probes import feature_kind


def _sweeps(names, cfg: CutoffConfig, main_kind: str) -> dict[str, tuple[float, ...]]:
    """The probes of the main probe's feature kind are scored over the whole threshold sweep, the
    others at `cfg.threshold` only."""
    return {k: cfg.thresholds if feature_kind(k) == feature_kind(main_kind) else (cfg.threshold,) for k in names}


def _stops(r: infer.Reading, sweeps: dict, position_stop: int) -> dict[str, int]:
    last = len(r.boundaries) - 1
    stops = {"full": last, "oracle": first_at_least(r.labels.astype(float), 1.0), "position": position_stop}
    for kind, p in r.probs.items():
        for t in sweeps[kind]:
            stops[f"probe:{kind}@{t:g}"] = first_at_least(p, t)
    if r.self_yes is not None:
        stops["self_assessment"] = first_at_least(r.self_yes, 0.5)
    return stops


def evaluate_cutoff(
    lm,
    probes: dict,
    position: PositionBaseline,
    examples: list[Example],
    cfg: CutoffConfig,
    main_kind: str = "attn_z",
    budget_guess: float | None = None,
    progress: bool = True,
) -> dict:
    """Read every example once with all probes and score every method; returns the dataset's results
    (with the answer length and the user-turn template used, `prompting.turn_template`).

    budget_guess: the main probe's expected share of the context (from validation), so the fixed
    truncation chunk is usually answered during the pass; any chunk still missing afterwards is
    answered by encoding that prefix afresh (the same tokens, the same answer).
    """
    new_tokens = cfg.max_new_tokens or infer.answer_length(lm.tokenizer, examples)
    position_stop = first_at_least(position.proba(np.arange(cfg.n_chunks)), cfg.threshold)
    sweeps = _sweeps(probes, cfg, main_kind)
    extra = {position_stop} | ({fixed_chunk(budget_guess, cfg.n_chunks)} if budget_guess else set())
    kinds = tuple(dict.fromkeys(feature_kind(k) for k in probes))
    readings = [
        infer.read(
            lm,
            ex,
            kinds,
            cfg.n_chunks,
            probes=probes,
            self_assess=cfg.self_assess,
            thresholds=sweeps,
            answer="needed",
            extra=extra,
            answer_from=cfg.answer_from,
            max_new_tokens=new_tokens,
            template=cfg.template,
        )
        for ex in tqdm(examples, desc=f"eval {examples[0].dataset}", unit="example", disable=not progress)
    ]
    stops = [_stops(r, sweeps, position_stop) for r in readings]
    main = f"probe:{main_kind}@{cfg.threshold:g}"
    budget = sum(r.boundaries[s[main]] for r, s in zip(readings, stops)) / sum(r.n_tokens for r in readings)
    fixed = fixed_chunk(budget, cfg.n_chunks)
    for r, s, ex in zip(readings, stops, examples):
        s["fixed_truncation"] = fixed
        for chunk in set(s.values()) - set(r.answers):
            ids = lm.tokenizer(ex.context, add_special_tokens=False)["input_ids"]
            r.answers[chunk] = infer.answer_prefix(
                lm, ex.question, ids, r.boundaries[chunk], cfg.answer_from, new_tokens, cfg.template
            )
    return score(readings, stops, examples, position, main, budget) | {
        "max_new_tokens": new_tokens,
        "template": prompting.turn_template(cfg.template, lm.tokenizer),
    }


def probe_of(method: str) -> str | None:
    """The probe a method name "probe:<probe>@<threshold>" stops with; None for the baselines."""
    return method.split(":", 1)[1].split("@")[0] if method.startswith("probe:") else None


def _appended(name: str, r: infer.Reading) -> int:
    """Tokens method `name` appends (and removes) at each chunk it checks."""
    if name == "self_assessment":
        return r.n_assess
    probe = probe_of(name)
    return r.n_query if probe and feature_kind(probe) in QUERY_KINDS else 0


def score(readings, stops, examples, position: PositionBaseline, main: str, budget: float) -> dict:
    """The dataset's table: per-method reduction and accuracy, prefix-level F1, per-example detail."""
    total = [r.n_tokens for r in readings]
    methods = {}
    for name in stops[0]:
        chosen = [s[name] for s in stops]
        correct = [
            match(r.answers[c], ex.answers, MATCHING, truncated=getattr(r.answers[c], "truncated", False))
            for r, c, ex in zip(readings, chosen, examples)
        ]
        read = [r.boundaries[c] for r, c in zip(readings, chosen)]
        processed = [n + (c + 1) * _appended(name, r) for n, r, c in zip(read, readings, chosen)]
        methods[name] = {
            "token_reduction": round(token_reduction(total, read), 4),
            "processed_reduction": round(token_reduction(total, processed), 4),
            "accuracy": round(float(np.mean(correct)), 4),
            "mean_chunks": round(float(np.mean(chosen)) + 1, 3),
        }
    y = np.concatenate([r.labels for r in readings]).astype(int)
    chunk = np.concatenate([np.arange(len(r.boundaries)) for r in readings])
    f1s = {
        f"probe:{k}": round(f1(y, np.concatenate([r.probs[k] for r in readings]) >= 0.5), 4) for k in readings[0].probs
    }
    f1s["position"] = round(f1(y, position.predict(chunk)), 4)
    if readings[0].self_yes is not None:
        f1s["self_assessment"] = round(f1(y, np.concatenate([r.self_yes for r in readings]) >= 0.5), 4)
    kind = probe_of(main)
    detail = [
        {
            "id": ex.id,
            "depth": ex.depth,
            "n_tokens": r.n_tokens,
            "first_sufficient": s["oracle"],
            "stops": s,
            "probs": {k: np.round(v, 4).tolist() for k, v in r.probs.items()},
            "self_yes": None if r.self_yes is None else np.round(r.self_yes, 4).tolist(),
            "answers": {str(c): a for c, a in sorted(r.answers.items())},
            "truncated": sorted(c for c, a in r.answers.items() if getattr(a, "truncated", False)),
            "gold": list(ex.answers),
        }
        for r, s, ex in zip(readings, stops, examples)
    ]
    return {
        "dataset": examples[0].dataset,
        "n_examples": len(readings),
        "n_prefixes": int(len(y)),
        "token_reduction": methods[main]["token_reduction"],
        "accuracy_cutoff": methods[main]["accuracy"],
        "accuracy_full": methods["full"]["accuracy"],
        "f1_probe": f1s[f"probe:{kind}"],
        "f1_position": f1s["position"],
        "main": main,
        "budget": round(budget, 4),
        "f1": f1s,
        "methods": methods,
        "examples": detail,
    }
