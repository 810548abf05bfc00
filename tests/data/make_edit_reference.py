"""Write tests/data/edit_reference/: what the analyses' interventions gave BEFORE they were rebuilt
on the capture layer's edits (run at commit 0b555e5, where steer.py, voids/skip.py, depth/lns.py and
interventions.py still hooked the model themselves). `tests/test_edits_reproduce.py` checks that the
rebuilt analyses give the same on these small slices.

    python tests/data/make_edit_reference.py      # ~2 min on one CPU thread (the embedded model)

Contents (reference.json, one entry per part; logits as top-20 (index, value) of the last position):
- voids: `question_result` on 2 records of each voids set (committed BIG-bench slices), alphas
  0.05 and 0.8, kinds paper/drop/skip, drop in both phases and in RG only, 6 new tokens;
- steer: greedy answers of 4 qa_wikidata chat prompts, plain and steered at block 4 by a seeded
  random vector (norm 8) at alpha 16, and the steered logits of the first prompt;
- lns: logits of a tiny seeded Llama built with LayerNorm Scaling;
- ablate: next-token losses of a tiny Llama with each block skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "edit_reference"
sys.path.insert(0, str(HERE.parent))


def top(logits: torch.Tensor, k: int = 20) -> dict:
    v, i = logits.float().topk(k)
    return {"index": i.tolist(), "value": [round(float(x), 5) for x in v]}


def voids_part(lm) -> list:
    from internals.analyses.voids.evaluate import EvalConfig, question_result
    from internals.data import load_dataset

    cfg = EvalConfig(alphas=(0.05, 0.8), kinds=("paper", "drop", "skip"), drop_phases=("both", "rg"), max_new_tokens=6)
    lines = []
    for name in ("general_knowledge", "hindu_knowledge", "strategyqa"):
        for record in load_dataset(name)[:2]:
            lines.append(question_result(lm, record, cfg))
    return lines


def steer_vector(d: int) -> np.ndarray:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(d, generator=g)
    return (8 * v / v.norm()).numpy().astype(np.float32)


def steer_part(lm) -> dict:
    from internals.analyses.factcheckmate.generate import GenerationSettings, greedy_answers
    from internals.analyses.factcheckmate.steer import steering
    from internals.data import load_dataset
    from internals.prompts import render

    prompts = render(load_dataset("qa_wikidata")[:4], "chat", lm.tokenizer)
    settings = GenerationSettings(max_new_tokens=8, batch_size=4)
    v = steer_vector(lm.model.config.hidden_size)
    plain = greedy_answers(lm, prompts, settings).text
    with steering(lm.model, 4, v, 16.0):
        steered = greedy_answers(lm, prompts, settings).text
        first = prompts[0]
        ids = torch.tensor([first if not isinstance(first, str) else lm.tokenizer(first)["input_ids"]])
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0, -1]
    return {"plain": list(plain), "steered": list(steered), "logits": top(logits)}


def tiny_llama_config():
    from conftest import tiny_config

    return tiny_config("llama")


def lns_part() -> dict:
    from internals.analyses.depth.lns import build_model

    model = build_model(tiny_llama_config(), layernorm_scaling=True, seed=0).eval()
    ids = torch.tensor([[5, 17, 300, 2048, 9, 77, 1000, 42]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    return {"ids": ids[0].tolist(), "logits": [top(row) for row in logits]}


def ablate_part(tokenizer_dir) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from internals.analyses.depth.trace import ablate
    from internals.models import wrap

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_llama_config())
    lm = wrap(model, AutoTokenizer.from_pretrained(str(tokenizer_dir)), name="tiny-llama")
    texts = ["The quick brown fox jumps over the lazy dog.", "A second text with a few more words in it, to pad."]
    result = ablate(lm, texts, max_tokens=32, batch_size=2)
    return {"baseline": result.baseline, "losses": [float(x) for x in result.loss]}


def main() -> None:
    from internals import load_model
    from internals.models import default_model_dir

    torch.set_num_threads(1)
    os.environ.setdefault("INTERNALS_BIGBENCH_DIR", str(HERE / "bigbench"))
    lm = load_model(device="cpu")
    ref = {
        "voids": voids_part(lm),
        "steer": steer_part(lm),
        "lns": lns_part(),
        "ablate": ablate_part(default_model_dir()),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {OUT / 'reference.json'}")


if __name__ == "__main__":
    main()
