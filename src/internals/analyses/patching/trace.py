"""Batched restorations: for one pair, every (site, layer, position) restored from the clean run
into the corrupted run, many per forward, read as P(target) at the last position.

Each row of a forward is the corrupted prompt with one restoration: the clean run's value of one
site at one position, at one layer (or a window of layers, `window`, for attn_out / mlp_out as in
ROME). The writes are edits (`internals.edits.replace` with a [rows, tokens] position mask, one
edit per site and layer), applied by the capture layer (`lm.edit`).

Three exact shortcuts keep a figure to minutes on a CPU; a test checks the result equals one
`capture(..., edits=edits.patch(...))` per restoration:
- restoring position p leaves every position before p as in the corrupted run (the model is
  causal), so a forward holds the rows of one position and feeds only the tokens from p on, after
  the corrupted run's KV cache of the tokens before p. Positions before the subject hold the same
  tokens in both runs: restoring them changes nothing, so they are not run at all;
- a row restoring layers >= a computes blocks 0..a-1 as the corrupted run does, so a forward holds
  rows whose first restored layer lies in one chunk of LAYER_CHUNK layers, skips the blocks below
  the chunk (`edits.skip`) and writes the corrupted run's `resid_pre` there instead;
- only the last token's logits are computed (`logits_to_keep=1`).
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from ... import edits as E
from ...capture import capture
from ...capture.arch import architecture
from ...errors import InternalsError
from .pairs import Pair

SITES = ("resid_post", "attn_out", "mlp_out")
"""The sites restored by default: hidden states, attention outputs, MLP outputs."""
WINDOWED = ("attn_out", "mlp_out")  # ROME restores a window of layers for these, one layer for hidden states
# one forward: the rows restoring one position at layers a..a+9 (blocks below a skipped). Measured on
# SmolLM2 on one CPU thread: 10 is faster than 1, 3, 5, 6 or 15 (small forwards pay to read the weights)
LAYER_CHUNK = 10


@dataclass(frozen=True)
class PatchConfig:
    """sites: any of SITES; window: layers restored around each layer for attn_out / mlp_out (1: that
    layer alone; ROME used 10); batch_size: rows per forward."""

    sites: tuple[str, ...] = SITES
    window: int = 1
    batch_size: int = 128

    def __post_init__(self) -> None:
        bad = [s for s in self.sites if s not in SITES]
        if bad or not self.sites or len(set(self.sites)) != len(self.sites):
            raise InternalsError(
                f"unknown or repeated patching site {bad[0] if bad else list(self.sites)!r}: "
                f"use distinct values from {', '.join(SITES)}"
            )
        if self.window < 1:
            raise InternalsError(f"window must be >= 1 layer, got {self.window}")
        if self.batch_size < 1:
            raise InternalsError(f"batch_size must be >= 1, got {self.batch_size}")


def readout(lm, h: torch.Tensor) -> torch.Tensor:
    """Logits [n, vocab] (float32) the final norm and LM head give for last-block states h [n, d]
    (what the `logits` site holds; Gemma 2's final soft-capping applied)."""
    model = lm.model
    norm = architecture(model).module(model, "final_norm", None)
    with torch.no_grad():
        logits = model.get_output_embeddings()(norm(h.to(lm.device))).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def last_logprobs(lm, prompts, *, edits=None, batch_size: int = 64) -> torch.Tensor:
    """Next-token log-probabilities [n, vocab] at each prompt's last token, under `edits`."""
    last = f"resid_post.{lm.n_layers - 1}"
    h = capture(lm, prompts, last, reduce="last", edits=edits, batch_size=batch_size)[last]
    return torch.log_softmax(readout(lm, h), -1).cpu()


def window_layers(layer: int, n_layers: int, window: int) -> range:
    """The layers restored for `layer`: ROME's window [layer - w//2, layer + ceil(w/2)) clipped."""
    return range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2)))


def rows_of(pair: Pair, n_layers: int, config: PatchConfig) -> list[tuple[str, int, int, range]]:
    """(site, layer, position, restored layers) for every restoration of `pair`, positions from the subject on."""
    rows = []
    for site in config.sites:
        w = config.window if site in WINDOWED else 1
        for layer in range(n_layers):
            layers = window_layers(layer, n_layers, w)
            rows += [(site, layer, p, layers) for p in range(pair.start, pair.n_tokens)]
    return rows


def _runs(lm, pair: Pair, config: PatchConfig):
    """The clean and corrupted runs: every site value per token, and P(target) at the last token."""
    n = lm.n_layers
    sites = sorted(
        {f"resid_pre.{lay}" for lay in range(1, n)}
        | {f"{s}.{lay}" for s in config.sites for lay in range(n)}
        | {f"resid_post.{n - 1}"}
    )
    acts = capture(lm, [list(pair.clean_ids), list(pair.corrupt_ids)], sites, reduce="none", batch_size=2)
    assert acts.mask is not None  # reduce="none" keeps the token mask
    if acts.mask.shape[1] != pair.n_tokens or not bool(acts.mask.all()):
        raise InternalsError("clean and corrupted prompts of a pair must have the same number of tokens")
    p = torch.log_softmax(readout(lm, acts[f"resid_post.{n - 1}"][:, -1]), -1)[:, pair.target].exp()
    return acts, float(p[0]), float(p[1])


def _corrupt_cache(lm, pair: Pair):
    """The KV cache of the corrupted prompt: a row restoring position p reuses its first p tokens."""
    with torch.no_grad():
        out = lm.model(input_ids=torch.tensor([list(pair.corrupt_ids)], device=lm.device), use_cache=True)
    cache = getattr(out, "cache", None)  # transformers 5 renames past_key_values to cache
    return cache if cache is not None else out.past_key_values


def _restored_logprobs(lm, pair: Pair, cache, position: int, rows: int, todo: list) -> torch.Tensor:
    """Log-probabilities [rows, vocab] at the last token of `rows` copies of the corrupted prompt's
    tokens from `position` on, after the cache of the tokens before it, under the edits `todo`."""
    params = inspect.signature(lm.model.forward).parameters
    kwargs = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    if position > 0:
        cache = copy.deepcopy(cache)
        cache.crop(position - pair.n_tokens)  # negative: drop that many tokens (all transformers versions)
        cache.batch_repeat_interleave(rows)
        kwargs["cache" if "cache" in params else "past_key_values"] = cache
    suffix = torch.tensor([list(pair.corrupt_ids[position:])] * rows, device=lm.device)
    with torch.no_grad(), lm.edit(*todo):
        logits = lm.model(input_ids=suffix, use_cache=position > 0, **kwargs).logits[:, -1]
    return torch.log_softmax(logits.float(), -1).cpu()


def trace_pair(lm, pair: Pair, config: PatchConfig = PatchConfig()) -> dict:
    """Restore every (site, layer, position) of `pair` and read P(target) at the last position.

    Returns {"p_clean", "p_corrupt", "p": {site: `[layers][positions]`}} where positions run from
    the subject's first token to the last token (pair.start .. n_tokens - 1)."""
    n = lm.n_layers
    acts, p_clean, p_corrupt = _runs(lm, pair, config)
    cache = _corrupt_cache(lm, pair)
    rows = rows_of(pair, n, config)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (_, _, pos, layers) in enumerate(rows):
        groups[pos, layers.start // LAYER_CHUNK].append(i)
    p = torch.empty(len(rows))
    for (pos, _), group in sorted(groups.items()):
        for lo in range(0, len(group), config.batch_size):
            members = group[lo : lo + config.batch_size]
            first = min(rows[i][3].start for i in members)
            todo = _edits(acts, rows, members, first, pair.n_tokens)
            p[members] = _restored_logprobs(lm, pair, cache, pos, len(members), todo)[:, pair.target].exp()
    out: dict = {"p_clean": p_clean, "p_corrupt": p_corrupt, "p": {}}
    n_pos = pair.n_tokens - pair.start
    for k, site in enumerate(config.sites):
        out["p"][site] = p[k * n * n_pos : (k + 1) * n * n_pos].view(n, n_pos).tolist()
    return out


def _edits(acts, rows: list, members: list[int], first: int, n_tokens: int) -> list:
    """The edits of one forward: one replace per (site, layer) with a [rows, tokens] mask of the rows
    restoring it; blocks before `first` skipped, the corrupted run's state written in their place."""
    masks: dict[tuple[str, int], torch.Tensor] = {}
    for r, i in enumerate(members):
        site, _, pos, layers = rows[i]
        for lay in layers:
            masks.setdefault((site, lay), torch.zeros(len(members), n_tokens, dtype=torch.bool))[r, pos] = True
    todo: list = [E.replace(f"{s}.{lay}", acts[f"{s}.{lay}"][0:1], positions=m) for (s, lay), m in masks.items()]
    if first > 0:
        todo = [E.skip(list(range(first))), E.replace(f"resid_pre.{first}", acts[f"resid_pre.{first}"][1:2]), *todo]
    return todo


def recovery(p, p_clean: float, p_corrupt: float) -> np.ndarray:
    """(p - p_corrupt) / (p_clean - p_corrupt): 0 = the corrupted run, 1 = the clean run."""
    return (np.asarray(p, dtype=float) - p_corrupt) / (p_clean - p_corrupt)
