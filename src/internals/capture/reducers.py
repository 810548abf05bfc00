"""Reducers run inside the hook, so a full [batch, tokens, d] tensor never outlives its forward.

Each reducer takes the site's tensor x of shape [batch, tokens, *feature] and a boolean mask
[batch, tokens] of the tokens to use (real tokens within the requested span), and returns:

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

import torch

from ..errors import InternalsError

REDUCERS = ("none", "mean", "last", "norm", "stats")


def _expand(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.reshape(mask.shape + (1,) * (x.dim() - 2)).to(x.dtype)


def reduce_none(x, mask):
    return x.float() * _expand(mask, x).float()


def reduce_mean(x, mask):
    m = _expand(mask, x).float()
    return (x.float() * m).sum(1) / m.sum(1).clamp(min=1)


def reduce_last(x, mask):
    idx = mask.shape[1] - 1 - mask.flip(1).int().argmax(1)
    return x[torch.arange(x.shape[0], device=x.device), idx].float()


def reduce_norm(x, mask):
    return torch.linalg.vector_norm(x.float(), dim=-1) * _expand(mask, x[..., 0]).float()


@dataclass
class Moments:
    """Streaming count, mean and variance (population, ddof=0) of feature vectors.

    Batches merge with Chan et al.'s parallel update in float64, so the result equals numpy's
    mean/var over all samples at once without holding them.
    """

    count: int = 0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor, mask: torch.Tensor) -> "Moments":
        """Add the masked tokens of x [batch, tokens, *feature]."""
        rows = x[mask.bool()].double()
        return self.merge(Moments(rows.shape[0], rows.mean(0), ((rows - rows.mean(0)) ** 2).sum(0))) if rows.shape[0] else self

    def merge(self, other: "Moments") -> "Moments":
        if other.count == 0:
            return self
        if self.count == 0:
            return Moments(other.count, other.mean, other.m2)
        n = self.count + other.count
        delta = other.mean.to(self.mean.device) - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2.to(self.m2.device) + delta**2 * self.count * other.count / n
        return Moments(n, mean, m2)

    @property
    def var(self) -> torch.Tensor:
        return self.m2 / max(self.count, 1)

    def cpu(self) -> "Moments":
        return Moments(self.count, self.mean.cpu(), self.m2.cpu())

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"count": torch.tensor([self.count]), "mean": self.mean, "var": self.var}


_FUNCS = {"none": reduce_none, "mean": reduce_mean, "last": reduce_last, "norm": reduce_norm}


def reducer(name: str):
    """The per-batch function for `name` (for `stats`, use Moments.add)."""
    if name not in REDUCERS:
        raise InternalsError(f"unknown reducer {name!r}: use one of {', '.join(REDUCERS)}")
    return _FUNCS.get(name)
