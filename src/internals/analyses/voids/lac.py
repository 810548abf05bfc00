"""L2 Adaptive Computation (LAC): which blocks a token uses, read from residual-stream norms.

Given the L2 norm of one token's residual stream before the first block (n_0) and after every
block (n_1 .. n_L), block l (1-based) changes the norm by the signed delta d_l = n_l - n_{l-1}.
Block l is *activated* for the token when d_l >= tau_l and a *void* when d_l < tau_l, with

    tau_l = alpha * (max_{j<l} d_j - min_{j<l} d_j)      for l >= 2

the alpha-scaled range of the deltas of the blocks before it (so tau_2 = 0: one earlier delta
has no range). This is what `lac.py` of github.com/manishemirani/void_in_language_models
computes, per token, in its forward hooks.

The first block's threshold (the quirk): the public code takes the max and min for block 1
over the *batch* axis of the current deltas (there are no earlier blocks), so tau_1 =
alpha * (max over prompts - min over prompts) of d_1 at each position. With batch 1, the
size its evaluation uses, that range is 0: block 1 is a void iff its delta is negative.
`first_block="zero"` (the default) is that batch-1 behaviour; `first_block="batch"` computes
the batched one over axis 0 of `norms` [batch, tokens, layers+1], which makes a prompt's
decisions depend on the other prompts in its batch (and, in the public code, on padding).

Everything here is vectorised over tokens (and any leading axes): no Python loop over tokens.
`OnlineLAC` makes the same decisions one block at a time, for forward hooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...errors import InternalsError

FIRST_BLOCK = ("zero", "batch")


def check_alpha(alpha) -> float:
    """`alpha` as a float in (0, 1], or an InternalsError."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InternalsError(f"alpha must be a number in (0, 1], got {alpha!r}") from None
    if not 0.0 < value <= 1.0:
        raise InternalsError(f"alpha must be in (0, 1] (the paper uses 0.8), got {value:g}")
    return value


def _check_first(first_block: str) -> None:
    if first_block not in FIRST_BLOCK:
        raise InternalsError(f"unknown first_block {first_block!r}: use one of {', '.join(FIRST_BLOCK)}")


def _first_threshold(delta1: torch.Tensor, alpha: float, first_block: str) -> torch.Tensor:
    """tau_1 for block 1's deltas `delta1` [...]: 0 (batch 1), or the alpha-scaled range over axis 0."""
    if first_block == "zero":
        return torch.zeros_like(delta1)
    if delta1.dim() < 2:
        raise InternalsError("first_block='batch' needs norms with a batch axis: [batch, tokens, layers+1]")
    span = delta1.amax(0, keepdim=True) - delta1.amin(0, keepdim=True)
    return (alpha * span).expand_as(delta1)


@dataclass(frozen=True)
class LAC:
    """LAC decisions for every (token, block).

    deltas, thresholds: [..., tokens, layers] float (block l's signed norm change and tau_l).
    activated: [..., tokens, layers] bool (True = the block is used; False = a void).
    mask: [..., tokens] bool, the real tokens (padding is excluded from every rate).
    """

    deltas: torch.Tensor
    thresholds: torch.Tensor
    activated: torch.Tensor
    mask: torch.Tensor
    alpha: float

    @property
    def voids(self) -> torch.Tensor:
        """[..., tokens, layers] bool: True where the block is a void for the token."""
        return ~self.activated

    @property
    def n_layers(self) -> int:
        return self.activated.shape[-1]

    def layer_rates(self) -> np.ndarray:
        """[layers]: share of real tokens for which each block is activated."""
        m = self.mask.unsqueeze(-1).float()
        used = (self.activated.float() * m).reshape(-1, self.n_layers).sum(0)
        return (used / m.sum().clamp(min=1)).numpy()

    def usage(self) -> np.ndarray:
        """[..., tokens]: share of blocks each token uses (NaN at padding), the paper's per-token usage."""
        share = self.activated.float().mean(-1)
        return torch.where(self.mask, share, torch.nan).numpy()

    def void_share(self) -> float:
        """Share of real (token, block) pairs that are voids."""
        n = int(self.mask.sum()) * self.n_layers
        if n == 0:
            return float("nan")
        return float((self.voids & self.mask.unsqueeze(-1)).sum()) / n

    def last_active(self) -> torch.Tensor:
        """[..., tokens] long: 0 when no block is activated, else l (1-based) of the last
        activated block: the index into norms' layer axis [0..L] of the state that the final
        norm reads under the paper's skipping."""
        idx = torch.arange(1, self.n_layers + 1, device=self.activated.device)
        return (self.activated.long() * idx).amax(-1)


def lac(norms, alpha: float = 0.8, *, mask=None, first_block: str = "zero") -> LAC:
    """LAC decisions from residual-stream norms.

    norms: [..., tokens, layers+1] (numpy or torch): ||resid_pre.0|| then ||resid_post.l|| for
        every block, e.g. one prompt [tokens, layers+1] or a padded batch [batch, tokens, layers+1].
    alpha: in (0, 1]; the paper's default is 0.8. Smaller alpha marks fewer voids.
    mask: [..., tokens] bool of real tokens (default: all).
    first_block: "zero" (batch-1 behaviour of the public code) or "batch" (see the module doc).
    """
    alpha = check_alpha(alpha)
    _check_first(first_block)
    x = torch.as_tensor(np.asarray(norms) if not isinstance(norms, torch.Tensor) else norms).float().cpu()
    if x.dim() < 2 or x.shape[-1] < 2:
        raise InternalsError(f"norms must be [..., tokens, layers+1] with layers >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InternalsError("norms contain NaN or inf: recapture them (is the model in float16 overflowing?)")
    m = torch.ones(x.shape[:-1], dtype=torch.bool) if mask is None else torch.as_tensor(mask).bool().cpu()
    if m.shape != x.shape[:-1]:
        raise InternalsError(f"mask must be {tuple(x.shape[:-1])} (norms without the layer axis), got {tuple(m.shape)}")
    deltas = x[..., 1:] - x[..., :-1]
    running_max = torch.cummax(deltas, dim=-1).values
    running_min = torch.cummin(deltas, dim=-1).values
    later = alpha * (running_max[..., :-1] - running_min[..., :-1])  # tau for blocks 2..L
    first = _first_threshold(deltas[..., 0], alpha, first_block).unsqueeze(-1)
    thresholds = torch.cat([first, later], dim=-1)
    activated = ~(deltas < thresholds)
    return LAC(deltas, thresholds, activated, m, alpha)


class OnlineLAC:
    """The same decisions, one block at a time (for forward hooks): `begin(n0)`, then
    `step(n_l)` for l = 1..L returns block l's activated mask. Shapes are any [...] (e.g.
    [batch, tokens]); `first_block` as in `lac`, with the batch on axis 0."""

    def __init__(self, alpha: float = 0.8, first_block: str = "zero"):
        self.alpha = check_alpha(alpha)
        _check_first(first_block)
        self.first_block = first_block
        self.previous: torch.Tensor | None = None
        self.high: torch.Tensor | None = None
        self.low: torch.Tensor | None = None

    def begin(self, norm0: torch.Tensor) -> None:
        """Start a forward: `norm0` [...] is the norm of the stream entering block 1."""
        self.previous, self.high, self.low = norm0.float(), None, None

    def step(self, norm: torch.Tensor) -> torch.Tensor:
        """Block l's decision from `norm` [...] = the norm of its output."""
        if self.previous is None:
            raise InternalsError("OnlineLAC.step called before begin(): the first block's input norm is missing")
        delta = norm.float() - self.previous
        if self.high is None or self.low is None:
            tau = _first_threshold(delta, self.alpha, self.first_block)
            self.high, self.low = delta, delta
        else:
            tau = self.alpha * (self.high - self.low)
            self.high, self.low = torch.maximum(self.high, delta), torch.minimum(self.low, delta)
        self.previous = norm.float()
        return ~(delta < tau)

    def carry(self, norm: torch.Tensor) -> None:
        """Make the next delta start from `norm` (the stream after a void's update was dropped)."""
        self.previous = norm.float()
