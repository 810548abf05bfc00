"""Per-head sufficiency features, computed by one function for training and for inference.

For each (layer, head): a head-sized vector averaged over positions. Three kinds:

| kind            | what is averaged                                                      | over which positions | site        |
|-----------------|-----------------------------------------------------------------------|----------------------|-------------|
| `attn_z`        | the true per-head attention result z (input of o_proj, split by head) | the whole prefix     | `attn_z.L`  |
| `o_proj_slices` | the attention module's output (after o_proj) cut into n_heads slices  | the whole prefix     | `attn_out.L`|
| `attn_z_query`  | z, as for `attn_z`                                                    | the question asked again after the prefix | `attn_z.L` |

`attn_z_query` (ours): after each chunk the answer prompt (the question again, see
`prompting.layout`) is appended through the KV cache, z is averaged over its positions, and it is
removed again (`prompting.branch`). Its heads look at the prefix from the question's tokens, so
the evidence is not diluted among the distractors as in the prefix mean; each check costs
`len(query)` extra tokens, which the evaluation counts (`processed_reduction`).

`o_proj_slices` is what the paper's code computes (`activation_manager.py` hooks the
attention module's output and views it as [seq, num_heads, -1]): slices of the projected
output, not heads. `attn_z` is ours. Both can be read in the same pass.

`stream` reads the context chunk by chunk through the KV cache (nothing is re-encoded) and keeps
running sums per head over positions, so each chunk's prefix mean costs only that chunk's
forward. Training (`read_all`) and inference (`infer.cutoff`) both iterate `stream`.
`prefix_features` recomputes one prefix from scratch through `internals.capture` (the check).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ...capture import Trace, capture
from ...capture.arch import architecture
from ...capture.sites import parse_sites
from ...errors import InternalsError
from .prompting import branch, forward, new_cache

FEATURE_KINDS = ("attn_z", "o_proj_slices", "attn_z_query")
"""The per-head feature kinds a cutoff probe can read (`kinds` in a `CutoffConfig`)."""
_SITE = {"attn_z": "attn_z", "o_proj_slices": "attn_out", "attn_z_query": "attn_z"}
QUERY_KINDS = ("attn_z_query",)  # read at the question appended after the prefix, not over the prefix


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in FEATURE_KINDS]
    if bad or not kinds:
        raise InternalsError(f"unknown feature kind {', '.join(bad) or '(none)'}: use {' or '.join(FEATURE_KINDS)}")
    return kinds


def feature_shape(lm, kind: str = "attn_z") -> tuple[int, int, int]:
    """(layers, heads, width) of one kind's features: width d_head for z, d_model / heads for o_proj slices."""
    arch = architecture(lm.model)
    if _SITE[kind] == "attn_z":
        return arch.n_layers, arch.n_heads, arch.d_head
    if arch.d_model % arch.n_heads:
        raise InternalsError(
            f"d_model {arch.d_model} is not divisible by {arch.n_heads} heads: o_proj slices are undefined"
        )
    return arch.n_layers, arch.n_heads, arch.d_model // arch.n_heads


@dataclass
class Step:
    """The state after reading chunk `index` (0-based).

    features: kind -> [layers, heads, d_head] float32, the mean over the `n_prefix` positions read
    (query kinds: over the `n_query` query positions appended after them, then removed).
    n_context: context tokens read so far; cache: the live KV cache (header + n_context tokens).
    """

    index: int
    n_context: int
    n_prefix: int
    features: dict[str, np.ndarray]
    cache: object
    n_query: int = 0


class _Sums:
    """Hook callback: adds each site's values, summed over the chunk's positions, per head."""

    def __init__(self, lm, kinds: tuple[str, ...]):
        self.kind_of = {_SITE[k]: k for k in kinds}
        self.shape = {k: feature_shape(lm, k) for k in kinds}
        self.sums = {k: torch.zeros(*self.shape[k], dtype=torch.float64) for k in kinds}

    def __call__(self, site, x: torch.Tensor) -> None:
        # x: [1, t, heads, d_head] (attn_z) or [1, t, d_model] (attn_out) -> sum over t per head
        kind = self.kind_of[site.kind]
        _, heads, width = self.shape[kind]
        self.sums[kind][site.layer] += x[0].reshape(x.shape[1], heads, width).double().sum(0).cpu()

    def means(self, n: int) -> dict[str, np.ndarray]:
        return {k: (s / n).float().numpy() for k, s in self.sums.items()}


def _sites(lm, kinds: tuple[str, ...]):
    """The capture sites `kinds` read (None for no kinds)."""
    return parse_sites([f"{_SITE[k]}.*" for k in kinds], architecture(lm.model).n_layers) if kinds else None


def _need_query(kinds: tuple[str, ...], query) -> None:
    """A query kind cannot be read without the tokens it appends: one-line error."""
    missing = [k for k in kinds if k in QUERY_KINDS]
    if missing and not query:
        raise InternalsError(f"feature kind {missing[0]} needs the query token ids (the answer prompt) to append")


def _trace(lm, sites, sums: _Sums):
    """Hooks adding the values at `sites` into `sums` while a forward runs (none without sites)."""
    return Trace(lm.model, sites, sums) if sites else nullcontext()


def stream(
    lm,
    header: list[int],
    context_ids: list[int],
    ends: list[int],
    kinds: Sequence[str] = ("attn_z",),
    query: Sequence[int] | None = None,
) -> Iterator[Step]:
    """Read `header` + `context_ids` chunk by chunk (chunk k ends at context token ends[k]).

    query: the token ids a query kind (`attn_z_query`) appends after each chunk (the answer prompt
    `prompting.layout(...).answer`); required when `kinds` holds one.
    Yields a Step after each chunk; the caller may stop early (nothing after is computed) or
    append to `step.cache` inside `prompting.branch` to ask the model something at the boundary.
    """
    kinds = check_kinds(kinds)
    prefix_kinds = tuple(k for k in kinds if k not in QUERY_KINDS)
    query_kinds = tuple(k for k in kinds if k in QUERY_KINDS)
    _need_query(kinds, query)
    query = query or ()  # empty when no kind reads it
    if not context_ids:
        raise InternalsError("the context has no tokens: give a non-empty context")
    if not ends or ends[-1] > len(context_ids) or any(b <= a for a, b in zip([0] + ends[:-1], ends)):
        raise InternalsError(f"chunk ends {ends} must increase within the context's {len(context_ids)} tokens")
    sums = _Sums(lm, prefix_kinds)
    prefix_sites, query_sites = _sites(lm, prefix_kinds), _sites(lm, query_kinds)
    cache = new_cache(lm)
    start = 0
    for index, end in enumerate(ends):
        ids = (list(header) if index == 0 else []) + list(context_ids[start:end])
        with _trace(lm, prefix_sites, sums):
            forward(lm, ids, cache)
        n_prefix = len(header) + end
        feats = sums.means(n_prefix)
        if query_kinds:
            at_query = _Sums(lm, query_kinds)
            with branch(cache), _trace(lm, query_sites, at_query):
                forward(lm, list(query), cache)
            feats |= at_query.means(len(query))
        yield Step(index, end, n_prefix, feats, cache, len(query) if query_kinds else 0)
        start = end


def prefix_features(
    lm, ids: list[int], kinds: Sequence[str] = ("attn_z",), query: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """One prefix's features recomputed from scratch with `internals.capture` (mean over all
    positions; query kinds: over the `query` positions of prefix + query, span "output").

    Returns kind -> [layers, heads, d_head]; equals `stream`'s Step.features for the same prefix.
    """
    kinds = check_kinds(kinds)
    _need_query(kinds, query)
    query = query or ()
    out = {}
    for kind in kinds:
        n_layers, n_heads, d_head = feature_shape(lm, kind)
        prompt, span = ((list(ids), list(query)), "output") if kind in QUERY_KINDS else (list(ids), "all")
        acts = capture(lm, [prompt], f"{_SITE[kind]}.*", reduce="mean", span=span, batch_size=1)
        layers = [acts[f"{_SITE[kind]}.{layer}"][0].reshape(n_heads, d_head) for layer in range(n_layers)]
        out[kind] = torch.stack(layers).float().numpy()
    return out
