"""Depth tracing: how the residual stream changes from block to block (Curse of Depth, ShortGPT).

One pass over the prompts, a chunk at a time, reads the residual stream x_0 .. x_L with
`internals.capture` (x_0 = `resid_pre.0`, the input of block 0; x_{l+1} = `resid_post.l`, before
the final norm). Per chunk the states are folded into running sums and dropped, so memory does
not grow with the number of prompts. Measured:

- variance per layer: mean over features of the per-feature variance over every real token
  of every prompt (streaming `Moments`, float64), and the same within each prompt (the bands);
- angular distance d(x_l, x_{l+n}) = arccos(cos(x_l, x_{l+n})) / pi on each prompt's last token,
  averaged over prompts, for every pair of layers (ShortGPT / the LNS repo's `angular=True`
  block influence, but on the pre-norm stream for the last layer too);
- block influence of block l: 1 - cos(x_l, x_{l+1}) averaged over every real token (ShortGPT's BI).

Layer ablation (`ablate`) is a separate pass: the next-token loss on held-out text with block l
skipped (the capture layer's `edits.skip`), for every l, against the intact model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ...capture import Moments, attach, capture, edits
from ...capture.inputs import encode
from ...errors import InternalsError


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a, b) over the last axis in float64: [..., d] x [..., d] -> [...]; 1 when both are 0."""
    a, b = a.double(), b.double()
    dot = (a * b).sum(-1)
    na, nb = torch.linalg.vector_norm(a, dim=-1), torch.linalg.vector_norm(b, dim=-1)
    return torch.where((na > 0) & (nb > 0), dot / (na * nb).clamp(min=1e-300), torch.ones_like(dot)).clamp(-1.0, 1.0)


def angular_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """arccos(cos(a, b)) / pi in [0, 1]: 0 for the same direction, 1 for opposite ones. [..., d] -> [...]"""
    return torch.arccos(cosine(a, b)) / torch.pi


def pairwise_angular(x: torch.Tensor) -> torch.Tensor:
    """Angular distance between every pair of rows: [n, k, d] -> [n, k, k] (float64)."""
    x = x.double()
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    u = torch.where(norm > 0, x / norm.clamp(min=1e-300), torch.zeros_like(x))
    cos = u @ u.transpose(1, 2)
    zero = norm[..., 0] == 0
    cos = torch.where(zero[:, :, None] | zero[:, None, :], torch.ones_like(cos), cos).clamp(-1.0, 1.0)
    return torch.arccos(cos) / torch.pi


@dataclass
class DepthTrace:
    """What `trace_depth` measured. L = number of blocks; layer index 0 is x_0 (block 0's input),
    index l >= 1 the output of block l-1.

    variance: [L+1] mean over features of the per-feature variance over all tokens.
    variance_pooled: [L+1] variance over all tokens and features together (adds the spread of
        the feature means).
    variance_rest: [L+1] `variance` over all tokens but each prompt's first, where massive
        activations (attention sinks) sit in many pretrained models.
    prompt_variance: [n_prompts, L+1] the `variance` measure within each prompt (for bands).
    angular: [L+1, L+1] mean over prompts of d(x_i, x_j) on the last token; angular_std its
        spread over prompts.
    influence: [L] mean over tokens of 1 - cos(x_l, x_{l+1}) (block l's input vs output).
    """

    model: dict
    n_prompts: int
    n_tokens: int
    max_tokens: int | None
    variance: np.ndarray
    variance_pooled: np.ndarray
    variance_rest: np.ndarray
    prompt_variance: np.ndarray
    angular: np.ndarray
    angular_std: np.ndarray
    influence: np.ndarray

    @property
    def n_layers(self) -> int:
        return len(self.influence)

    def angular_by_gap(self) -> np.ndarray:
        """[L, L]: row l (from layer l), column n-1 (to layer l+n); NaN where l+n > L."""
        size = self.n_layers
        out = np.full((size, size), np.nan)
        for l in range(size):
            for n in range(1, size - l + 1):
                out[l, n - 1] = self.angular[l, l + n]
        return out

    def growth(self) -> float:
        """variance of the last layer over variance of the first block's output."""
        return float(self.variance[-1] / self.variance[1])

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> DepthTrace:
        arrays = (
            "variance",
            "variance_pooled",
            "variance_rest",
            "prompt_variance",
            "angular",
            "angular_std",
            "influence",
        )
        fields: dict[str, Any] = {k: (np.asarray(v, dtype=float) if k in arrays else v) for k, v in d.items()}
        return cls(**fields)


class _Sums:
    """Running sums over chunks for one trace."""

    def __init__(self, n_states: int):
        self.moments = [Moments() for _ in range(n_states)]
        self.rest = [Moments() for _ in range(n_states)]
        self.prompt_var: list[np.ndarray] = []
        self.ang_sum = np.zeros((n_states, n_states))
        self.ang_sq = np.zeros((n_states, n_states))
        self.infl_sum = np.zeros(n_states - 1)
        self.n_prompts = 0
        self.n_tokens = 0

    def add(self, states: list[torch.Tensor], mask: torch.Tensor) -> None:
        """states: L+1 tensors [n, tokens, d]; mask [n, tokens] of real tokens."""
        m = mask.bool()
        w = m.double()
        count = w.sum(1).clamp(min=1)  # [n]
        last_idx = m.shape[1] - 1 - m.flip(1).int().argmax(1)
        rows = torch.arange(m.shape[0])
        per_prompt, lasts = [], []
        rest = m.clone()
        rest[rows, m.int().argmax(1)] = False  # each prompt's first real token
        for l, x in enumerate(states):
            self.moments[l] = self.moments[l].add(x, m)
            self.rest[l] = self.rest[l].add(x, rest)
            xd = x.double() * w[..., None]
            mean = xd.sum(1) / count[:, None]  # [n, d]
            second = (xd * x.double()).sum(1) / count[:, None]
            per_prompt.append((second - mean**2).clamp(min=0).mean(-1))  # [n]
            lasts.append(x[rows, last_idx])
            if l > 0:
                cos = cosine(states[l - 1], x)  # [n, tokens]
                self.infl_sum[l - 1] += float(((1 - cos) * w).sum())
        self.prompt_var.append(torch.stack(per_prompt, 1).numpy())
        last = torch.stack(lasts, 1)  # [n, L+1, d]
        ang = pairwise_angular(last).numpy()  # [n, L+1, L+1]
        self.ang_sum += ang.sum(0)
        self.ang_sq += (ang**2).sum(0)
        self.n_prompts += m.shape[0]
        self.n_tokens += int(m.sum())

    def result(self, model: dict, max_tokens: int | None) -> DepthTrace:
        var = np.array([float(mo.var.mean()) for mo in self.moments])
        pooled = np.array([float(mo.var.mean() + mo.sums()[0].var(unbiased=False)) for mo in self.moments])
        rest = np.array([float(mo.var.mean()) if mo.count else np.nan for mo in self.rest])
        ang = self.ang_sum / self.n_prompts
        ang_std = np.sqrt(np.clip(self.ang_sq / self.n_prompts - ang**2, 0, None))
        return DepthTrace(
            model,
            self.n_prompts,
            self.n_tokens,
            max_tokens,
            var,
            pooled,
            rest,
            np.concatenate(self.prompt_var),
            ang,
            ang_std,
            self.infl_sum / self.n_tokens,
        )


def trace_depth(
    lm, prompts, *, max_tokens: int | None = 64, batch_size: int = 16, chunk_size: int = 64, progress: bool = False
) -> DepthTrace:
    """Variance per layer (with per-prompt spread), last-token angular distances and block
    influence of `lm` over `prompts` (strings or token-id lists), truncated to `max_tokens`.

    Reads x_0 .. x_L with `capture(..., reduce="none")` one chunk of `chunk_size` prompts at a
    time; memory is O(chunk_size x tokens x d x L), independent of len(prompts).
    """
    if len(prompts) == 0:
        raise InternalsError("no prompts to trace: give at least one text")
    if chunk_size < 1:
        raise InternalsError(f"chunk_size must be >= 1, got {chunk_size}")
    n_layers = lm.n_layers
    sites = ["resid_pre.0", f"resid_post.0-{n_layers - 1}"]
    sums = _Sums(n_layers + 1)
    bar = tqdm(total=len(prompts), desc=f"trace {lm.name}", unit="prompt", disable=not progress)
    for start in range(0, len(prompts), chunk_size):
        chunk = list(prompts[start : start + chunk_size])
        acts = capture(lm, chunk, sites, reduce="none", batch_size=batch_size, max_tokens=max_tokens)
        states = [acts["resid_pre.0"]] + [acts[f"resid_post.{l}"] for l in range(n_layers)]
        assert acts.mask is not None  # reduce="none" keeps the token mask
        sums.add(states, acts.mask)
        del acts, states
        bar.update(len(chunk))
    bar.close()
    return sums.result(lm.describe(), max_tokens)


@dataclass
class Ablation:
    """Next-token loss (nats per token) on held-out text: intact, and with each block skipped.

    loss: [len(blocks)] loss with block blocks[i] skipped; delta = loss - baseline.
    """

    model: dict
    blocks: list[int]
    n_texts: int
    n_tokens: int
    max_tokens: int | None
    baseline: float
    loss: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.loss - self.baseline

    def to_dict(self) -> dict:
        d = asdict(self)
        d["loss"] = self.loss.tolist()
        d["delta"] = self.delta.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Ablation:
        d = {k: v for k, v in d.items() if k != "delta"}
        return cls(**{**d, "loss": np.asarray(d["loss"], dtype=float)})


def next_token_loss(lm, batches: list) -> tuple[float, int]:
    """Mean next-token cross-entropy (nats) over the real tokens of encoded batches, and their count."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(lm.device)
            logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
            target = batch.input_ids[:, 1:]
            keep = (batch.attention_mask[:, 1:] > 0) & (batch.attention_mask[:, :-1] > 0)
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), target, reduction="none")
            total += float(nll[keep].double().sum())
            count += int(keep.sum())
    if count == 0:
        raise InternalsError("the ablation texts have no next-token targets: give texts of at least two tokens")
    return total / count, count


def ablate(
    lm, texts, *, max_tokens: int | None = 128, batch_size: int = 8, blocks=None, progress: bool = False
) -> Ablation:
    """Next-token loss of `lm` on `texts` intact and with each block in `blocks` (default all)
    skipped in turn, so that block l's input goes straight to block l+1."""
    if len(texts) == 0:
        raise InternalsError("no texts for the ablation: give held-out documents")
    batches = [
        encode(lm.tokenizer, list(texts[i : i + batch_size]), "all", max_tokens)
        for i in range(0, len(texts), batch_size)
    ]
    blocks = list(range(lm.n_layers)) if blocks is None else list(blocks)
    baseline, n_tokens = next_token_loss(lm, batches)
    losses = []
    for block in tqdm(blocks, desc=f"ablate {lm.name}", unit="block", disable=not progress):
        with attach(lm.model, edits.skip([block])):
            losses.append(next_token_loss(lm, batches)[0])
    return Ablation(lm.describe(), blocks, len(texts), n_tokens, max_tokens, baseline, np.array(losses))
