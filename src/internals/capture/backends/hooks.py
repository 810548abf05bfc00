"""Plain torch forward hooks (the default backend), in the spirit of baukit's `Trace`.

`Trace` is a context manager: it registers one hook per site, calls `on_site(site, tensor)` with
the site's tensor ([batch, tokens, d] or [batch, tokens, heads, d_head] for attn_z), optionally
stops the forward after a block by raising a private exception, and always removes its hooks
on exit, even when the forward raised.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..arch import Architecture, architecture
from ..sites import Site


class _StopForward(Exception):
    """Raised after the last needed block so the rest of the model never runs."""


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


class Trace:
    """Hook `sites` of `model`; `stop_after` (a block index, -1 for the embedding) ends the forward early."""

    def __init__(self, model: torch.nn.Module, sites: list[Site], on_site: Callable, stop_after: int | None = None):
        self.model, self.sites, self.on_site, self.stop_after = model, sites, on_site, stop_after
        self.arch: Architecture = architecture(model)
        self.handles: list = []

    def __enter__(self) -> "Trace":
        try:
            for site in self.sites:
                self._hook(site)
            if self.stop_after is not None:
                kind = "embed" if self.stop_after < 0 else "block"
                module = self.arch.module(self.model, kind, self.stop_after)
                self.handles.append(module.register_forward_hook(_raise_stop))
        except BaseException:
            self.close()
            raise
        return self

    def _hook(self, site: Site) -> None:
        arch, model, emit = self.arch, self.model, self.on_site
        kind = site.kind
        if kind == "resid_pre":
            block = arch.module(model, "block", site.layer)
            fn = lambda m, args, kwargs: emit(site, args[0] if args else kwargs["hidden_states"])  # noqa: E731
            self.handles.append(block.register_forward_pre_hook(fn, with_kwargs=True))
        elif kind == "attn_z":
            proj = arch.module(model, "out_proj", site.layer)
            h, d = arch.n_heads, arch.d_head
            fn = lambda m, args: emit(site, args[0].reshape(*args[0].shape[:-1], h, d))  # noqa: E731
            self.handles.append(proj.register_forward_pre_hook(fn))
        else:
            module = {"embed": ("embed", None), "final_norm": ("final_norm", None), "resid_post": ("block", site.layer),
                      "attn_out": ("attn", site.layer), "mlp_out": ("mlp", site.layer)}[kind]
            target = arch.module(model, *module)
            self.handles.append(target.register_forward_hook(lambda m, args, out: emit(site, _first(out))))

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return exc_type is _StopForward


def _raise_stop(module, args, output):
    raise _StopForward


def run(lm, batch, sites: list[Site], on_site: Callable, stop_block: int | None = None) -> None:
    """One forward of `lm` over `batch`, calling `on_site` for every site."""
    with torch.no_grad(), Trace(lm.model, sites, on_site, stop_after=stop_block):
        lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
