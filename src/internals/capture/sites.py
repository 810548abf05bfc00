"""The site grammar: names for the places hidden states are read, the same for every family.

| site           | what                                                              | shape per token |
|----------------|-------------------------------------------------------------------|-----------------|
| `embed`        | token embedding output (scaled as the model scales it, e.g. Gemma)| d_model         |
| `resid_pre.L`  | residual stream entering block L                                  | d_model         |
| `resid_post.L` | residual stream leaving block L                                   | d_model         |
| `attn_in.L`    | output of the norm before attention (what attention reads)        | d_model         |
| `attn_out.L`   | attention module output (after o_proj; before Gemma's post-norm)  | d_model         |
| `attn_z.L`     | per-head attention result, the input of o_proj split by head      | n_heads x d_head|
| `mlp_in.L`     | output of the norm before the MLP (what the MLP reads)            | d_model         |
| `mlp_out.L`    | MLP module output (before Gemma's post-feedforward norm)          | d_model         |
| `final_norm`   | output of the final norm (what the LM head reads)                 | d_model         |
| `logits`       | LM head output (before Gemma 2's final soft-capping)              | vocab           |

Edits (`internals.capture.edits`) write to the same sites, and to `block.L` (skip a block).

L is a layer index (0-based), `*` (all layers), an inclusive range `a-b`, or a comma list `1,5,9`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import InternalsError

LAYERED = ("resid_pre", "attn_in", "attn_z", "attn_out", "mlp_in", "mlp_out", "resid_post")
GLOBAL = ("embed", "final_norm", "logits")
GRAMMAR = (
    "embed, resid_pre.L, attn_in.L, attn_z.L, attn_out.L, mlp_in.L, mlp_out.L, resid_post.L, final_norm, logits "
    "(L: 3, *, 2-5 or 1,4)"
)
"""The site grammar in one line, as error messages and `internals capture --help` print it."""


# what `sites=` takes: specs ("resid_post.*", "attn_z.3-5 mlp_out.2", ...) or Sites
SiteSpecs: TypeAlias = "str | Sequence[str] | Sequence[Site]"


@dataclass(frozen=True, order=True)
class Site:
    """One capture site. `order` sorts sites in the order the forward reaches them."""

    order: float
    kind: str
    layer: int | None = None

    @property
    def name(self) -> str:
        return self.kind if self.layer is None else f"{self.kind}.{self.layer}"

    @property
    def last_block(self) -> int | None:
        """The last block that must run for this site to be reached (None: the whole model)."""
        if self.kind == "embed":
            return -1
        if self.kind in ("final_norm", "logits"):
            return None
        return self.layer

    def __str__(self) -> str:
        return self.name


_ORDER = {
    "resid_pre": 0.0,
    "attn_in": 0.1,
    "attn_z": 0.2,
    "attn_out": 0.4,
    "mlp_in": 0.5,
    "mlp_out": 0.6,
    "resid_post": 0.8,
}


def make_site(kind: str, layer: int | None = None) -> Site:
    if kind == "embed":
        return Site(-1.0, kind)
    if kind == "final_norm":
        return Site(1e9, kind)
    if kind == "logits":
        return Site(2e9, kind)
    if layer is None:
        raise InternalsError(f"site {kind!r} needs a layer: write {kind}.<layer>")
    return Site(layer + _ORDER[kind], kind, layer)


def parse_sites(specs: str | list[str] | tuple[str, ...], n_layers: int) -> list[Site]:
    """Expand site specs ("resid_post.*", "attn_z.3-5", "embed") into sorted, unique Sites.

    Raises InternalsError for an unknown site or a layer outside 0..n_layers-1.
    """
    if isinstance(specs, str):
        specs = [s for s in re.split(r"[\s;]+", specs) if s] if " " in specs or ";" in specs else [specs]
    if not specs:
        raise InternalsError(f"no sites given: use {GRAMMAR}")
    out: set[Site] = set()
    for spec in specs:
        spec = spec.strip()
        if spec in GLOBAL:
            out.add(make_site(spec))
            continue
        kind, _, layers = spec.partition(".")
        if kind not in LAYERED or not layers:
            raise InternalsError(f"unknown site {spec!r}: sites are {GRAMMAR}")
        for layer in parse_layers(layers, n_layers, spec):
            out.add(make_site(kind, layer))
    return sorted(out)


def parse_layers(text: str, n_layers: int, spec: str) -> list[int]:
    if text == "*":
        return list(range(n_layers))
    layers: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            raise InternalsError(f"bad layer {part!r} in site {spec!r}: use a number, *, a range 2-5 or a list 1,4")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        for layer in (lo, hi):
            if layer >= n_layers:
                raise InternalsError(
                    f"layer {layer} out of range in site {spec!r}: this model has {n_layers} layers (0-{n_layers - 1})"
                )
        if hi < lo:
            raise InternalsError(f"empty layer range {part!r} in site {spec!r}: write low-high")
        layers.extend(range(lo, hi + 1))
    return layers


def stop_block(sites: list[Site]) -> int | None:
    """The block after which the forward can stop (None when some site needs the whole model)."""
    blocks = [s.last_block for s in sites]
    known = [b for b in blocks if b is not None]
    return None if len(known) < len(blocks) else max(known)
