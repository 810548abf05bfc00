"""Add the evidence section to a committed FactCheckmate probe card, without retraining it.

    .venv/bin/python scripts/card_evidence.py probes/qa_wikidata.toml [--threads 2]
    .venv/bin/python scripts/card_evidence.py probes/qa_wikidata.toml --only shuffle   # refresh that control only

Cards trained before `internals probe train` wrote evidence lack it. This recomputes, for the
saved head at the card's layer and on the card's own data, what training now writes: test
intervals, recall at 1% / 5% FPR, the label-shuffle control and the random-model control
(internals.analyses.factcheckmate.pipeline.probe_evidence). It regenerates the labels and captures
the card's layer (the caches of the original run are not in a clone), checks that the labels
reproduce the card's hallucination rate and that the saved head reproduces the card's test
balanced accuracy, and only then rewrites card.json (weights untouched). `--only shuffle` recomputes
the label-shuffle control alone (after the fix that permutes the validation labels too) and
keeps the rest of the evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", choices=["shuffle"], help="recompute this control only, keep the rest of the evidence")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from internals.analyses.factcheckmate import ProbeConfig, prepare, probe_metrics
    from internals.analyses.factcheckmate.pipeline import probe_evidence, shuffle_evidence
    from internals.data import load_dataset
    from internals.heads import load_probe
    from internals.models import load_model

    config = ProbeConfig.from_toml(args.config)
    config.controls = ["shuffle", "random_model"]
    target = Path(config.out) / config.name
    lm = load_model(config.model)
    probe = load_probe(target, lm)
    card = probe.card
    layer, head = card["layer"], config.heads[0]
    data = load_dataset(config.dataset, limit=config.limit, seed=config.seed)
    prep = prepare(
        lm, data, config.template, config.setting, config.generation, str(layer), config.seed, config.capture_batch_size
    )
    rate = float(np.mean(prep.labels.y))
    if abs(rate - card["data"]["hallucination_rate"]) > 1e-3:
        raise SystemExit(f"labels do not reproduce: rate {rate:.4f} vs the card's {card['data']['hallucination_rate']}")
    est = probe.estimators.get(head) or probe.estimators["probe"]  # saved under "probe" by train
    X, y, test = prep.features.layer(layer), prep.labels.y, prep.split.test
    got = probe_metrics(est, X[test], y[test])["balanced_accuracy"]
    want = card["metrics"][head]["test"]["balanced_accuracy"]
    if abs(got - want) > 1e-6:
        raise SystemExit(f"the saved head does not reproduce its test balanced accuracy: {got} vs {want}")
    doc = json.loads((target / "card.json").read_text())
    if args.only == "shuffle":
        if "evidence" not in doc["card"]:
            raise SystemExit(f"{target}: the card has no evidence yet: run without --only first")
        evidence = doc["card"]["evidence"] | {
            "label_shuffle_control": shuffle_evidence(prep, est, layer, head, config.seed)
        }
    else:
        evidence = probe_evidence(config, prep, est, layer, progress=True)
    doc["card"]["evidence"] = json.loads(json.dumps(evidence, default=float))
    (target / "card.json").write_text(json.dumps(doc, indent=2) + "\n")
    ev = doc["card"]["evidence"]
    print(json.dumps({k: ev[k]["balanced_accuracy"] for k in ("test", "label_shuffle_control") if k in ev}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
