"""Write tests/data/probe_predictions.json: what each committed FactCheckmate probe predicts on the
first questions of the committed BIG-bench qa_wikidata slice, on its own model: probes/*/card.json
on the embedded model, probes/<model>/*/card.json on each other bundled model (MODELS). Keys are the
probe dirs relative to probes/ ("qa_wikidata", "gemma3-270m/qa_wikidata").
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
MODELS = ("gemma3-270m",)  # bundled models besides the default with probes under probes/<model>/


def probes(model: str | None = None) -> list[Path]:
    """The committed FactCheckmate probe dirs of `model` (None: the embedded default model)."""
    base = ROOT / "probes" if model is None else ROOT / "probes" / model
    return sorted(
        p.parent for p in base.glob("*/card.json") if json.loads(p.read_text())["card"].get("kind") == "factcheckmate"
    )


def key(probe: Path) -> str:
    return probe.relative_to(ROOT / "probes").as_posix()


def questions() -> list[str]:
    from internals.data import load_dataset

    return [r.question for r in load_dataset("qa_wikidata")[:N]]


def predictions(lm, model: str | None = None) -> dict:
    from internals.analyses.factcheckmate.pipeline import predict

    qs = questions()
    return {
        key(p): {"questions": qs, "p_hallucination": [round(x, 6) for x in predict(p, qs, lm=lm)]}
        for p in probes(model)
    }


if __name__ == "__main__":
    from internals import load_model

    torch.set_num_threads(1)
    os.environ.setdefault("INTERNALS_BIGBENCH_DIR", str(HERE / "bigbench"))
    out = HERE / "probe_predictions.json"
    got = predictions(load_model(device="cpu"))
    for model in MODELS:
        got |= predictions(load_model(model, device="cpu"), model)
    out.write_text(json.dumps(got, indent=1) + "\n")
    print(f"wrote {out}")
