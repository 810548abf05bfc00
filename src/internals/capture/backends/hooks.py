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


# The module whose output a site is (for the sites read after a module runs).
_OUTPUT_OF = {"embed": "embed", "final_norm": "final_norm", "resid_post": "block", "attn_out": "attn", "mlp_out": "mlp"}


class Trace:
    """Hook `sites` of `model`; `stop_after` (a block index, -1 for the embedding) ends the forward early."""

    def __init__(self, model: torch.nn.Module, sites: list[Site], on_site: Callable, stop_after: int | None = None):
        self.model, self.sites, self.on_site, self.stop_after = model, sites, on_site, stop_after
        self.arch: Architecture = architecture(model)
        self.handles: list = []
        self._layers = self.arch.layers(model)  # looked up once, not once per site: a Trace is entered per batch

    def __enter__(self) -> "Trace":
        try:
            for site in self.sites:
                self._hook(site)
            if self.stop_after is not None:
                kind = "embed" if self.stop_after < 0 else "block"
                self.handles.append(self._module(kind, self.stop_after).register_forward_hook(_raise_stop))
        except BaseException:
            self.close()
            raise
        return self

    def _module(self, kind: str, layer: int | None) -> torch.nn.Module:
        if kind == "block":
            return self._layers[layer]
        return self.arch.module(self.model, kind, layer)

    def _hook(self, site: Site) -> None:
        # Every hook returns None: a forward hook that returns a value would replace the module's output.
        arch, emit, kind = self.arch, self.on_site, site.kind
        if kind == "resid_pre":
            def pre(module, args, kwargs):
                emit(site, args[0] if args else kwargs["hidden_states"])

            self.handles.append(self._module("block", site.layer).register_forward_pre_hook(pre, with_kwargs=True))
        elif kind == "attn_z":
            h, d = arch.n_heads, arch.d_head

            def pre_z(module, args):
                emit(site, args[0].unflatten(-1, (h, d)))

            self.handles.append(self._module("out_proj", site.layer).register_forward_pre_hook(pre_z))
        else:
            def post(module, args, output):
                emit(site, output[0] if isinstance(output, (tuple, list)) else output)

            self.handles.append(self._module(_OUTPUT_OF[kind], site.layer).register_forward_hook(post))

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
