"""Norm traces: ||residual stream|| per token before the first block and after every block.

Prompt processing (PP): `internals.capture` with reduce "norm" on `resid_pre.0` and
`resid_post.*`, batched. Response generation (RG): the full model decodes greedily, one
prompt at a time with its KV cache, and a `Trace` from the hooks backend (it stays registered
over every forward) records the same sites at every step: one row per generated token that
is fed back (the token each step consumes). LAC decisions are computed from the saved norms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...capture import Trace, capture, parse_sites
from ...errors import InternalsError
from .decode import decode, prefill
from .lac import LAC, lac

SITES = ("resid_pre.0", "resid_post.*")
PHASES = ("pp", "rg")


def trace_sites(n_layers: int):
    return parse_sites(list(SITES), n_layers)


@dataclass
class NormTrace:
    """Norm traces of n prompts.

    pp: [n, T, layers+1] float32, pp_mask [n, T] bool (T = longest prompt).
    rg: [n, S, layers+1] float32, rg_mask [n, S] bool (S = most RG steps; S = 0 without RG).
    pp_tokens, rg_tokens: per prompt, the token ids of the rows (RG: the token each step fed in).
    texts: per prompt, the greedy generation's text ("" without RG).
    manifest: model, data, config, versions.
    """

    pp: np.ndarray
    pp_mask: np.ndarray
    rg: np.ndarray
    rg_mask: np.ndarray
    pp_tokens: list[list[int]]
    rg_tokens: list[list[int]]
    texts: list[str]
    manifest: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return self.pp.shape[-1] - 1

    def lac(self, alpha: float = 0.8, phase: str = "pp", first_block: str = "zero") -> LAC:
        """LAC decisions for one phase ("pp" or "rg"), each prompt on its own (batch 1)."""
        if phase not in PHASES:
            raise InternalsError(f"unknown phase {phase!r}: use pp or rg")
        norms, mask = (self.pp, self.pp_mask) if phase == "pp" else (self.rg, self.rg_mask)
        if phase == "rg" and norms.shape[1] == 0:
            raise InternalsError("this trace has no generated tokens: trace with max_new_tokens >= 2")
        return lac(norms, alpha, mask=mask, first_block=first_block)

    def save(self, directory: str | Path) -> Path:
        """Write `norms.safetensors` (arrays) and `manifest.json` (tokens, texts, manifest)."""
        from ...store.files import write_json, write_shard

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        write_shard(
            d / "norms.safetensors",
            {
                "pp": self.pp,
                "pp_mask": self.pp_mask.astype(np.uint8),
                "rg": self.rg,
                "rg_mask": self.rg_mask.astype(np.uint8),
            },
        )
        write_json(
            d / "manifest.json",
            {**self.manifest, "pp_tokens": self.pp_tokens, "rg_tokens": self.rg_tokens, "texts": self.texts},
        )
        return d

    @classmethod
    def load(cls, directory: str | Path) -> NormTrace:
        from safetensors.numpy import load_file

        d = Path(directory)
        if not (d / "norms.safetensors").exists() or not (d / "manifest.json").exists():
            raise InternalsError(
                f"{d} is not a voids trace (norms.safetensors + manifest.json): run `internals voids trace` first"
            )
        arrays = load_file(str(d / "norms.safetensors"))
        meta = json.loads((d / "manifest.json").read_text())
        tokens = {k: meta.pop(k) for k in ("pp_tokens", "rg_tokens", "texts")}
        return cls(
            arrays["pp"],
            arrays["pp_mask"].astype(bool),
            arrays["rg"],
            arrays["rg_mask"].astype(bool),
            tokens["pp_tokens"],
            tokens["rg_tokens"],
            tokens["texts"],
            meta,
        )


def pp_norms(
    lm, prompts: Sequence[list[int]], batch_size: int = 8, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """[n, T, layers+1] norms and [n, T] mask of the prompts' tokens, via `capture`."""
    acts = capture(lm, list(prompts), list(SITES), reduce="norm", batch_size=batch_size, progress=progress)
    norms = torch.stack([acts[name] for name in acts], dim=-1)  # sites come in forward order
    assert acts.mask is not None  # reduce="norm" keeps the token mask
    return norms.numpy().astype(np.float32), acts.mask.numpy().astype(bool)


def rg_norms(lm, prompt: list[int], max_new_tokens: int) -> tuple[np.ndarray, list[int], list[int]]:
    """Greedy generation of the full model with per-step norm capture.

    Returns ([steps, layers+1] norms of the RG steps, the generated tokens, the tokens fed in
    at each step). The PP forward is traced too and dropped (PP norms come from `pp_norms`).
    """
    sites = trace_sites(lm.n_layers)
    rows: list[torch.Tensor] = []
    current: dict[str, torch.Tensor] = {}

    def on_site(site, x):
        current[site.name] = torch.linalg.vector_norm(x.float(), dim=-1)[0].cpu()
        if len(current) == len(sites):
            rows.append(torch.stack([current[s.name] for s in sites], -1))
            current.clear()

    with Trace(lm.model, sites, on_site):
        state = prefill(lm, prompt)
        tokens, _ = decode(lm, state, max_new_tokens)
    steps = torch.cat(rows[1:]) if len(rows) > 1 else torch.zeros((0, len(sites)))
    return steps.numpy().astype(np.float32), tokens, tokens[: steps.shape[0]]


def trace(
    lm,
    prompts: Sequence[list[int]],
    max_new_tokens: int = 32,
    batch_size: int = 8,
    progress: bool = False,
    manifest: dict | None = None,
) -> NormTrace:
    """Norm traces of PP (all prompts, batched) and RG (greedy, `max_new_tokens`, 0 = none).

    prompts: token-id lists (e.g. from `internals.prompts.render_ids(records, "auto", tok)`).
    """
    if len(prompts) == 0:
        raise InternalsError("no prompts to trace")
    if max_new_tokens < 0:
        raise InternalsError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    pp, pp_mask = pp_norms(lm, prompts, batch_size, progress)
    rg_rows, rg_tokens, texts = [], [], []
    if max_new_tokens > 0:
        for prompt in tqdm(prompts, desc="voids RG trace", unit="prompt", disable=not progress):
            norms, generated, fed = rg_norms(lm, prompt, max_new_tokens)
            rg_rows.append(norms)
            rg_tokens.append(fed)
            texts.append(lm.tokenizer.decode(generated, skip_special_tokens=True))
    else:
        texts = [""] * len(prompts)
        rg_tokens = [[] for _ in prompts]
    width = max((r.shape[0] for r in rg_rows), default=0)
    rg = np.zeros((len(prompts), width, pp.shape[-1]), np.float32)
    rg_mask = np.zeros((len(prompts), width), bool)
    for i, rows in enumerate(rg_rows):
        rg[i, : rows.shape[0]] = rows
        rg_mask[i, : rows.shape[0]] = True
    pp_tokens = [list(map(int, p)) for p in prompts]
    meta = dict(manifest or {}) | {"sites": list(SITES), "max_new_tokens": max_new_tokens, "decoding": "greedy"}
    return NormTrace(pp, pp_mask, rg, rg_mask, pp_tokens, rg_tokens, texts, meta)
