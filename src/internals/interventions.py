"""Interventions on a model's forward that are undone on exit: skip decoder blocks.

`skip_blocks(model, [3, 7])` makes blocks 3 and 7 return their input unchanged (the residual
stream passes through them), so the next block, the final norm and the LM head see the stream
as if those blocks were deleted. The blocks really do not run: their `forward` is replaced on
the instance and restored on exit, even when the body raised. Hooks on the block itself (for
example a capture site `resid_post.3`) still fire and see the unchanged stream.

    >>> with skip_blocks(lm.model, [12]):
    ...     loss = lm.model(input_ids, labels=input_ids).loss

This is ShortGPT's / the Curse-of-Depth repo's "remove layer l" without editing the module
list or the config. A skipped block writes nothing into a KV cache; for generation with a
cache, skip the same blocks at every step.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch

from .errors import InternalsError

_MARK = "_internals_skipped"
_NO_INSTANCE_FORWARD = object()


def _passthrough(hidden_states=None, *args, **kwargs):
    if hidden_states is None:
        hidden_states = kwargs.get("hidden_states")
    if hidden_states is None:
        raise InternalsError("a skipped block was called without hidden states: this architecture is not supported by skip_blocks")
    return hidden_states


def _check_blocks(blocks: Iterable[int], n_layers: int) -> list[int]:
    out = []
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, int):
            raise InternalsError(f"block index {b!r} is not an integer: pass layer numbers 0-{n_layers - 1}")
        if not -n_layers <= b < n_layers:
            raise InternalsError(f"block {b} out of range: this model has {n_layers} blocks (0-{n_layers - 1})")
        out.append(b % n_layers)
    return sorted(set(out))


@contextmanager
def skip_blocks(model: torch.nn.Module, blocks: Iterable[int]) -> Iterator[list[int]]:
    """Within the context, decoder blocks `blocks` (0-based; negative counts from the end) are
    identities. Yields the sorted block indices. Nesting with the same block raises."""
    from .capture.arch import architecture

    layers = architecture(model).layers(model)
    chosen = _check_blocks(blocks, len(layers))
    patched: list[torch.nn.Module] = []
    try:
        for i in chosen:
            block = layers[i]
            if block.__dict__.get(_MARK):
                raise InternalsError(f"block {i} is already skipped by an enclosing skip_blocks")
            block.__dict__[_MARK] = block.__dict__.get("forward", _NO_INSTANCE_FORWARD)  # an instance-level forward, if any
            block.forward = _passthrough
            patched.append(block)
        yield chosen
    finally:
        for block in patched:
            previous = block.__dict__.pop(_MARK)
            if previous is _NO_INSTANCE_FORWARD:
                del block.forward
            else:
                block.forward = previous
