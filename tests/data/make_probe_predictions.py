"""Write tests/data/probe_predictions.json: what each committed FactCheckmate probe (probes/*/card.json)
predicts on the first questions of the committed BIG-bench qa_wikidata slice, on the embedded model.
`tests/test_committed_probes.py` checks that each still loads, refuses no fingerprint of its own model,
and predicts the same (a change to features, pooling, templates or weights shows up there).

    python tests/data/make_probe_predictions.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
N = 6


def probes() -> list[Path]:
    return sorted(
        p.parent
        for p in (ROOT / "probes").glob("*/card.json")
        if json.loads(p.read_text())["card"].get("kind") == "factcheckmate"
    )


def questions() -> list[str]:
    from internals.data import load_dataset

    return [r.question for r in load_dataset("qa_wikidata")[:N]]


def predictions(lm) -> dict:
    from internals.analyses.factcheckmate.pipeline import predict

    qs = questions()
    return {
        p.name: {"questions": qs, "p_hallucination": [round(x, 6) for x in predict(p, qs, lm=lm)]} for p in probes()
    }


if __name__ == "__main__":
    from internals import load_model

    torch.set_num_threads(1)
    os.environ.setdefault("INTERNALS_BIGBENCH_DIR", str(HERE / "bigbench"))
    out = HERE / "probe_predictions.json"
    out.write_text(json.dumps(predictions(load_model(device="cpu")), indent=1) + "\n")
    print(f"wrote {out}")
