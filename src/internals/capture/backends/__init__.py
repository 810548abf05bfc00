"""Capture backends: each runs one forward over a Batch and hands every requested site's tensor
to a callback, in forward order. Same call, same arrays, three engines."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import InternalsError

BACKENDS = ("hooks", "transformer_lens", "nnsight")


def get_backend(name: str) -> Callable:
    """The `run(lm, batch, sites, on_site, stop_block, **options)` function of a backend."""
    if name == "hooks":
        from .hooks import run as hooks_run

        return hooks_run
    if name == "transformer_lens":
        from .transformer_lens import run as transformer_lens_run

        return transformer_lens_run
    if name == "nnsight":
        from .nnsight import run as nnsight_run

        return nnsight_run
    raise InternalsError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
