"""`record()`: reduced hidden states of every forward call made inside a block, e.g. each step of
`model.generate` with the KV cache (what the generation-phase analyses read).

    with record(lm, "resid_post.*", reduce="norm") as rec:
        out = lm.model.generate(ids, max_new_tokens=64, do_sample=False)
    rec["resid_post.12"]   # [batch, prompt_tokens + 63] per-token norms, prompt first
    rec.tokens_per_call    # [prompt_tokens, 1, 1, ...]: one entry per forward call

Every token a call sees is used (no padding mask), so record batch-1 or unpadded generation.
Reduced values stay on the model's device during the block and move to the CPU once per site
when it exits, so a GPU decode loop is not synchronised per step.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from ..errors import InternalsError
from .backends.hooks import Trace
from .reducers import Moments, reducer
from .sites import Site


class Recording(dict):
    """site name -> values over all forward calls in the block (filled when the block exits).

    Per reducer: `none` -> [batch, total_tokens, *feature] and `norm` -> [batch, total_tokens(, heads)],
    the calls' tokens concatenated in order; `mean`/`last` -> [batch, calls, *feature], one row per
    call; `stats` -> one Moments over every token of every call.
    """

    def __init__(self, sites: list[Site], reduce: str):
        super().__init__()
        self.sites = sites
        self.reduce = reduce
        self.tokens_per_call: list[int] = []

    def calls(self, name: str) -> list[torch.Tensor]:
        """The values of one site split back into one tensor per forward call."""
        value = self[name]
        if self.reduce in ("none", "norm"):
            return list(value.split(self.tokens_per_call, dim=1))
        if self.reduce in ("mean", "last"):
            return list(value.unbind(1))
        raise InternalsError(f"calls() needs per-call values; reduce {self.reduce!r} merges all calls into one")


@contextmanager
def record(lm, sites, reduce: str = "norm") -> Iterator[Recording]:
    """Hook `sites` of `lm` for the duration of the block; every forward call adds one entry per site.

    sites: site specs as for `capture` ("resid_post.*", "attn_z.3", ...).
    reduce: none | mean | last | norm | stats, applied inside the hook over all tokens of the call.
    """
    from .capture import resolve_sites

    site_list = resolve_sites(lm, sites)
    reduce_fn = reducer(reduce)
    rec = Recording(site_list, reduce)
    first = site_list[0]
    parts: dict[str, list] = {s.name: [] for s in site_list}
    moments = {s.name: Moments() for s in site_list}

    def on_site(site: Site, x: torch.Tensor) -> None:
        x = x.detach()
        if site is first:
            rec.tokens_per_call.append(x.shape[1])
        if reduce == "stats":
            moments[site.name] = moments[site.name].merge(Moments().add(x, None))
        else:
            parts[site.name].append(reduce_fn(x, None))

    with Trace(lm.model, site_list, on_site):
        yield rec
    if reduce == "stats":
        rec.update({k: m.cpu() for k, m in moments.items() if m.count})
        return
    join = torch.cat if reduce in ("none", "norm") else torch.stack
    for name, values in parts.items():
        if values:
            rec[name] = join(values, dim=1).cpu()
