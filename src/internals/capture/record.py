"""`record()`: reduced hidden states of every forward call made inside a block, e.g. each step of
`model.generate` with the KV cache (what the generation-phase analyses read).

    with record(lm, "resid_post.*", reduce="norm") as rec:
        out = lm.model.generate(ids, max_new_tokens=64, do_sample=False)
    rec["resid_post.12"]   # [batch, prompt_tokens + 63] per-token norms, prompt first
    rec.tokens_per_call    # [prompt_tokens, 1, 1, ...]: one entry per forward call

Every token a call sees is used (no padding mask), so record batch-1 or unpadded generation.
Reduced values stay on the model's device during the block and move to the CPU when it exits,
so a GPU decode loop is not synchronised per step.

For `none` and `norm`, a small call (a decode step) is reduced once for all its sites: each hook
only keeps a reference to its site's tensor (and the tensor's version counter), and the next
call, or the end of the block, stacks them and reduces them in one operation instead of one per
site; Python between blocks runs with cold caches, so a step pays for every line of it. A tensor
changed in place after its hook ran (an in-place edit function) is refused in one line rather
than reduced wrong. A large call (a long prompt) is reduced inside each hook, as before, so it
never holds every site's full tensor at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from ..errors import InternalsError
from .backends.hooks import Trace
from .reducers import Moments, reducer
from .sites import Site, SiteSpecs

if TYPE_CHECKING:
    from ..models import LoadedModel

# A call whose first site has at most this many elements is reduced once per call (all sites
# together): 30 sites x 2**18 float32 values is 30 MiB held until the next call at most.
DEFER_NUMEL = 2**18


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
def record(lm: LoadedModel, sites: SiteSpecs, reduce: str = "norm") -> Iterator[Recording]:
    """Hook `sites` of `lm` for the duration of the block; every forward call adds one entry per site.

    sites: site specs as for `capture` ("resid_post.*", "attn_z.3", ...).
    reduce: none | mean | last | norm | stats, applied over all tokens of each call (for none and
        norm, once per call for all sites when the call is small, see the module docstring).
    """
    from .capture import resolve_sites

    site_list = resolve_sites(lm, sites)
    rec = Recording(site_list, reduce)
    if reduce in ("none", "norm"):
        on_site, finish = _per_call(site_list, reduce, rec.tokens_per_call)
    else:
        on_site, finish = _per_site(site_list, reduce, rec.tokens_per_call)
    with Trace(lm.model, site_list, on_site):
        yield rec
    values = finish()
    rec.update({s.name: values[s.name] for s in site_list if s.name in values})  # in the order of the sites


def _per_site(site_list: list[Site], reduce: str, tokens_per_call: list[int]) -> tuple[Callable, Callable]:
    """(hook callback, finish) for mean / last / stats: each site reduced inside its hook."""
    reduce_fn = reducer(reduce)
    first = site_list[0]
    parts: dict[str, list] = {s.name: [] for s in site_list}
    moments = {s.name: Moments() for s in site_list}

    def on_site(site: Site, x: torch.Tensor) -> None:
        x = x.detach()
        if site is first:
            tokens_per_call.append(x.shape[1])
        if reduce == "stats":
            moments[site.name] = moments[site.name].merge(Moments().add(x, None))
        else:
            parts[site.name].append(reduce_fn(x, None))

    def finish() -> dict:
        if reduce == "stats":
            return {k: m.cpu() for k, m in moments.items() if m.count}
        return {name: torch.stack(values, dim=1).cpu() for name, values in parts.items() if values}

    return on_site, finish


def _reduce_one(reduce: str, x: torch.Tensor) -> torch.Tensor:
    """`none` or `norm` of x [..., batch, tokens, *feature] over the last axis (a fresh tensor)."""
    if reduce == "norm":
        return torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32)
    return x.to(torch.float32, copy=True)


def _per_call(site_list: list[Site], reduce: str, tokens_per_call: list[int]) -> tuple[Callable, Callable]:
    """(hook callback, finish) for none / norm: a small call's sites are kept by reference and reduced
    together when the next call starts (or at finish); a large call's are reduced in each hook."""
    first = site_list[0]
    calls: list[tuple[list[Site], list[torch.Tensor] | None, torch.Tensor | None]] = []
    pending: list = []  # (site, tensor, version) of the current small call
    eager: list = []  # (site, reduced tensor) of the current large call
    defer = True

    def flush() -> None:
        if pending:
            calls.append(_reduce_pending(pending, reduce))
            pending.clear()
        if eager:
            calls.append(([s for s, _ in eager], [v for _, v in eager], None))
            eager.clear()

    def on_site(site: Site, x: torch.Tensor) -> None:
        nonlocal defer
        if site is first:
            flush()
            tokens_per_call.append(x.shape[1])
            # inference tensors have no version counter to check the kept reference against
            defer = x.numel() <= DEFER_NUMEL and not x.is_inference()
        if defer:
            pending.append((site, x, x._version))
        else:
            eager.append((site, _reduce_one(reduce, x.detach())))

    def finish() -> dict:
        flush()
        return _join(calls)

    return on_site, finish


def _reduce_pending(pending: list, reduce: str) -> tuple[list[Site], list[torch.Tensor] | None, torch.Tensor | None]:
    """One call's kept site tensors reduced: (sites, None, [sites, batch, tokens, ...]) when they stack,
    else (sites, one reduced tensor per site, None)."""
    for site, x, version in pending:
        if x._version != version:
            raise InternalsError(
                f"record: {site.name} was changed in place after it was read (an in-place edit "
                "function?): make the function return a new tensor instead"
            )
    sites = [p[0] for p in pending]
    tensors = [p[1] for p in pending]
    with torch.no_grad():
        shape, dtype = tensors[0].shape, tensors[0].dtype
        if all(t.shape == shape and t.dtype == dtype for t in tensors):
            return sites, None, _reduce_one(reduce, torch.stack(tensors))
        return sites, [_reduce_one(reduce, t) for t in tensors], None


def _join(calls: list) -> dict:
    """site name -> the calls' values concatenated along tokens, on the CPU (each its own storage)."""
    if not calls:
        return {}
    order = calls[0][0]
    if len(set(order)) == len(order) and all(block is not None and sites == order for sites, _, block in calls):
        # every call stacked the same sites: one concatenation, one transfer, then a copy per site
        # (a site's tensor must not share storage with the others': safetensors refuses that)
        full = torch.cat([block for _, _, block in calls], dim=2).cpu()
        return {site.name: full[i].clone() for i, site in enumerate(order)}
    parts: dict[str, list] = {}
    for sites, values, block in calls:
        for i, site in enumerate(sites):
            parts.setdefault(site.name, []).append(block[i] if block is not None else values[i])
    return {name: torch.cat(values, dim=1).cpu() for name, values in parts.items()}
