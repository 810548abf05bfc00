"""Reducers run inside the hook, so a full [batch, tokens, d] tensor never outlives its forward.

Each reducer takes the site's tensor x of shape [batch, tokens, *feature] and a boolean mask
[batch, tokens] of the tokens to use (real tokens within the requested span; None: every token),
and returns:

| reduce  | per batch                         | merged over batches        |
|---------|-----------------------------------|----------------------------|
| `none`  | x, zero where masked out          | [n, max_tokens, *feature]  |
| `mean`  | mean over masked tokens           | [n, *feature]              |
| `last`  | x at the last masked token        | [n, *feature]              |
| `norm`  | per-token L2 norm over the last axis, zero where masked out | [n, max_tokens, *feature[:-1]] |
| `stats` | streaming count/mean/variance over every masked token of every prompt | Moments |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from ..errors import InternalsError

REDUCERS = ("none", "mean", "last", "norm", "stats")
"""The `reduce=` names `capture` accepts (see the table above)."""


class TokenMask:
    """A batch's token mask [batch, tokens] and what the reducers derive from it, each computed once
    per batch (on first use) rather than once per site: a forward with 30 hooked sites otherwise
    spends more time preparing masks than reducing."""

    def __init__(self, mask: torch.Tensor):
        self.mask = mask

    @cached_property
    def weights(self) -> torch.Tensor:
        """[batch, 1, tokens] float32: 1/count at the used tokens, so `weights @ x` is the mean."""
        m = self.mask.float()
        return (m / m.sum(1, keepdim=True).clamp(min=1)).unsqueeze(1)

    @cached_property
    def scale(self) -> torch.Tensor:
        """[batch, tokens] float32: 1 at the used tokens, 0 elsewhere."""
        return self.mask.float()

    @cached_property
    def last(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(row index, token index) of each row's last used token."""
        idx = self.mask.shape[1] - 1 - self.mask.flip(1).int().argmax(1)
        return torch.arange(self.mask.shape[0], device=self.mask.device), idx


def _scale(tm: TokenMask, like: torch.Tensor) -> torch.Tensor:
    """The 0/1 token scale shaped to broadcast over `like` [batch, tokens, ...]."""
    s = tm.scale
    return s.reshape(s.shape + (1,) * (like.dim() - 2))


def _f32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype is torch.float32 else x.float()


# Each reducer takes x [batch, tokens, *feature] and a TokenMask, or None to use every token. The
# result never aliases x: the model may reuse x's memory after the hook returns.


def reduce_none(x, tm: TokenMask | None):
    if tm is None:
        return x.to(torch.float32, copy=True)
    return _f32(x) * _scale(tm, x)


def reduce_mean(x, tm: TokenMask | None):
    if x.dtype is not torch.float32:
        x = x.float()
    if tm is None:
        return x.mean(1)
    # one batched matmul instead of multiply, sum and divide
    if x.dim() == 3:
        return torch.bmm(tm.weights, x).squeeze(1)
    return torch.bmm(tm.weights, x.flatten(2)).view(x.shape[:1] + x.shape[2:])


def reduce_last(x, tm: TokenMask | None):
    if tm is None:
        return x[:, -1].to(torch.float32, copy=True)
    return _f32(x[tm.last])


def reduce_norm(x, tm: TokenMask | None):
    norm = torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32)
    return norm if tm is None else norm * _scale(tm, norm)


@dataclass
class Moments:
    """Streaming count, mean and variance (population, ddof=0) of feature vectors.

    Batches merge with Chan et al.'s parallel update in float64, so the result equals numpy's
    mean/var over all samples at once without holding them.
    """

    count: int = 0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor, mask: torch.Tensor | None) -> Moments:
        """Add the masked tokens of x [batch, tokens, *feature] (every token when mask is None)."""
        rows = (x.flatten(0, 1) if mask is None else x[mask.bool()]).double()
        return (
            self.merge(Moments(rows.shape[0], rows.mean(0), ((rows - rows.mean(0)) ** 2).sum(0)))
            if rows.shape[0]
            else self
        )

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return Moments(other.count, other.mean, other.m2)
        n = self.count + other.count
        (mean_a, m2_a), (mean_b, m2_b) = self.sums(), other.sums()
        delta = mean_b.to(mean_a.device) - mean_a
        mean = mean_a + delta * other.count / n
        m2 = m2_a + m2_b.to(m2_a.device) + delta**2 * self.count * other.count / n
        return Moments(n, mean, m2)

    def sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, m2), each [*feature] float64 (m2: summed squared deviations); raises when no token was added."""
        if self.mean is None or self.m2 is None:
            raise InternalsError("the stats reducer saw no tokens: check that the span selects some tokens")
        return self.mean, self.m2

    @property
    def var(self) -> torch.Tensor:
        """Population variance [*feature] (float64)."""
        return self.sums()[1] / max(self.count, 1)

    def cpu(self) -> Moments:
        mean, m2 = self.sums()
        return Moments(self.count, mean.cpu(), m2.cpu())

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"count": torch.tensor([self.count]), "mean": self.sums()[0], "var": self.var}


_FUNCS = {"none": reduce_none, "mean": reduce_mean, "last": reduce_last, "norm": reduce_norm}


class _BoundReducer:
    """`fn(x, mask)` for one capture call: a batch hands the same mask tensor to every site, so the
    TokenMask is built when a new mask arrives and reused for the other sites of that batch."""

    def __init__(self, fn):
        self.fn = fn
        self._mask: torch.Tensor | TokenMask | None = None
        self._prepared: TokenMask | None = None

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | TokenMask | None) -> torch.Tensor:
        # runs once per site inside the forward, where every Python step is slow (cold caches): one check
        if mask is not self._mask:
            self._mask = mask
            self._prepared = mask if mask is None or isinstance(mask, TokenMask) else TokenMask(mask)
        return self.fn(x, self._prepared)


def reducer(name: str):
    """The per-batch function `fn(x, mask)` for `name` (for `stats`, use Moments.add).

    mask: [batch, tokens] bool (the tokens to use), a TokenMask, or None for every token.
    """
    if name not in REDUCERS:
        raise InternalsError(f"unknown reducer {name!r}: use one of {', '.join(REDUCERS)}")
    fn = _FUNCS.get(name)
    return None if fn is None else _BoundReducer(fn)
