"""The two depth experiments end to end, each returning a results document for `results.py`:
`trace_run` (a model, optionally its random-init twin, and a layer ablation) and `pretrain_run`
(Pre-LN vs LNS from scratch on the passage corpus)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ...models import random_twin
from .corpus import SOURCES, load_corpus, texts_for
from .lns import restore_layernorm_scaling
from .pretrain import NORMS, PretrainConfig, compare, token_data
from .results import manifest
from .trace import ablate, trace_depth


def trace_run(
    model: str | None = None,
    data: str = "corpus",
    *,
    n: int = 1000,
    max_tokens: int = 64,
    twin: bool = False,
    ablation_texts: int = 32,
    ablation_tokens: int = 128,
    batch_size: int = 16,
    chunk_size: int = 64,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    fields: dict[str, str] | None = None,
) -> dict:
    """Trace `model` (None: the embedded SmolLM2) over `n` texts of `data` (`fields`: your file's
    field names, our field -> yours); with `twin`, also its
    random-init twin; ablate every block on `ablation_texts` held-out texts (0: no ablation).
    Returns {"manifest", "results": {"traces": name -> DepthTrace dict, "ablation": dict | None}}."""
    from ...models import load_model

    lm = load_model(model, device=device)
    restore_layernorm_scaling(lm.model)
    prompts, heldout, data_entry = texts_for(data, n, ablation_texts, seed, fields)
    models = {lm.name: lm}
    if twin:
        other = random_twin(lm, seed)
        models[other.name] = other
    traces = {
        name: trace_depth(
            m, prompts, max_tokens=max_tokens, batch_size=batch_size, chunk_size=chunk_size, progress=progress
        )
        for name, m in models.items()
    }
    ablation = None
    if ablation_texts and heldout:
        ablation = ablate(
            lm, heldout, max_tokens=ablation_tokens, batch_size=max(1, batch_size // 2), progress=progress
        )
    config = {
        "n": n,
        "max_tokens": max_tokens,
        "twin": twin,
        "ablation_texts": ablation_texts,
        "ablation_tokens": ablation_tokens,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "threads": torch.get_num_threads(),
    }
    doc = {
        "manifest": manifest(
            models={k: m.describe() for k, m in models.items()},
            data={**data_entry, "n_prompts": len(prompts), "n_heldout": len(heldout)},
            config=config,
            seed=seed,
        ),
        "results": {
            "traces": {k: t.to_dict() for k, t in traces.items()},
            "ablation": ablation.to_dict() if ablation else None,
        },
    }
    return doc


def pretrain_run(
    cfg: PretrainConfig,
    norms=NORMS,
    *,
    sources=SOURCES,
    progress: bool = True,
    save_models: Path | None = None,
    cache: Path | None = None,
) -> dict:
    """Train `cfg` once per norm in `norms` on the passage corpus; returns the results document
    with results["runs"][norm] = PretrainResult dict."""
    from transformers import AutoTokenizer

    from ...models import default_model_dir

    tok = AutoTokenizer.from_pretrained(str(default_model_dir()))  # the embedded model's tokenizer
    corpus = load_corpus(tuple(sources), seed=cfg.seed)
    data = token_data(corpus, tok, cfg.seq_len, cache=cache)
    runs = compare(cfg, data, tok, norms, progress=progress, save_dir=save_models)
    return {
        "manifest": manifest(
            models={n: r.model for n, r in runs.items()},
            data=data.describe(),
            config={**asdict(cfg), "norms": list(norms), "threads": torch.get_num_threads()},
            seed=cfg.seed,
        ),
        "results": {"runs": {n: r.to_dict() for n, r in runs.items()}},
    }
