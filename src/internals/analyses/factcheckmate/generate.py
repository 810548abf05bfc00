"""Batched greedy decoding for short closed-book answers, with optional pooling of the prompt's states.

FactCheckmate greedy-decodes the model's answer and stops at a newline, "." or "," (the paper's
code passes those stop strings and the EOS token). Here prompts are batched with LEFT padding
for generation only (capture keeps right padding), rows are sorted by length, finished rows
leave the batch (their KV cache rows are dropped), and a token prefix shared by every prompt
of a batch (a chat template's system turn) is run once and its KV cache repeated over the
batch. Positions are explicit, so a padded row computes what it computes alone.

`pool_sites` also returns the mean over each prompt's tokens of the given sites, read during the
prompt's forward by the capture layer's `Trace` hooks and `reduce_mean` reducer: detection that
reads the states generation computes anyway, at no extra forward (see `steer.factcheckmate_answers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from ...answers import STOP, cut_answer
from ...capture import Trace
from ...capture.capture import resolve_sites
from ...capture.inputs import Prompt, split_prompt
from ...capture.reducers import TokenMask, reduce_mean
from ...errors import InternalsError


@dataclass(frozen=True)
class GenerationSettings:
    """How answers are decoded (greedy). `batch_size` and `share_prefix` change speed, not answers."""

    max_new_tokens: int = 16
    stop: tuple[str, ...] = STOP
    batch_size: int = 32
    share_prefix: bool = True

    def identity(self) -> dict:
        """What determines the answers (recorded in label manifests)."""
        return {
            "decoding": "greedy",
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
            "stop_at_eos": True,
        }

    def to_dict(self) -> dict:
        return asdict(self) | {"stop": list(self.stop)}


@dataclass
class Generation:
    """Answers in prompt order. `text`: decoded answer cut at the first stop string, stripped;
    `raw`: everything decoded; `n_tokens`: tokens generated (stop token included);
    `pooled`: site -> [n, d] mean over each prompt's tokens (when asked for)."""

    text: list[str]
    raw: list[str]
    n_tokens: list[int]
    pooled: dict[str, torch.Tensor]


def greedy_answers(
    lm,
    prompts: Sequence[Prompt],
    settings: GenerationSettings = GenerationSettings(),
    *,
    pool_sites=None,
    progress: bool = False,
    desc: str = "generate",
) -> Generation:
    """Greedy answers of `lm` to `prompts` (strings, encoded as `capture` encodes them, or token ids).

    pool_sites: site specs (e.g. "resid_post.16") to mean-pool over each prompt's tokens during
        its forward; returned in `Generation.pooled`, [n, d] float32 on the CPU.
    """
    if len(prompts) == 0:
        raise InternalsError("no prompts given to generate answers for")
    if settings.max_new_tokens < 1 or settings.batch_size < 1:
        raise InternalsError("max_new_tokens and batch_size must be >= 1")
    tok = lm.tokenizer
    ids = []
    for p in prompts:
        ids_in, ids_out = split_prompt(tok, p)
        if ids_out or not ids_in:
            raise InternalsError(f"prompt {p!r} must be a non-empty string or token ids (not an (input, output) pair)")
        ids.append(ids_in)
    sites = resolve_sites(lm, pool_sites) if pool_sites else []
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out_ids: list[list[int]] = [[] for _ in ids]
    pooled = {s.name: torch.zeros(len(ids), 0) for s in sites}
    parts: dict[str, list[tuple[list[int], torch.Tensor]]] = {s.name: [] for s in sites}
    starts = range(0, len(order), settings.batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not progress):
        chunk = order[start : start + settings.batch_size]
        generated, means = _batch(lm, [ids[i] for i in chunk], settings, sites)
        for i, g in zip(chunk, generated):
            out_ids[i] = g
        for name, m in means.items():
            parts[name].append((chunk, m))
    for name, items in parts.items():
        full = torch.zeros(len(ids), items[0][1].shape[-1])
        for chunk, m in items:
            full[chunk] = m
        pooled[name] = full
    raw = [tok.decode(g, skip_special_tokens=True) for g in out_ids]
    return Generation([cut_answer(r, settings.stop) for r in raw], raw, [len(g) for g in out_ids], pooled)


def _common_prefix(rows: list[list[int]]) -> int:
    """Length of the token prefix all rows share, leaving each row at least one token of its own."""
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for k in range(n):
        if any(r[k] != first[k] for r in rows):
            return k
    return max(n, 0)


def _batch(lm, rows: list[list[int]], settings: GenerationSettings, sites) -> tuple[list[list[int]], dict]:
    """Greedy-decode one batch; returns generated ids per row and site -> [rows, d] prompt means."""
    model, tok, device = lm.model, lm.tokenizer, lm.device
    b = len(rows)
    shared = _common_prefix(rows) if settings.share_prefix and b > 1 else 0
    sums: dict[str, torch.Tensor] = {}  # site name -> summed token vectors [rows, d]
    counts = torch.tensor([len(r) for r in rows], dtype=torch.float32)

    def add(name, mean, n):  # accumulate token sums: prefix (batch 1) and suffixes (batch b)
        total = mean.float().cpu() * n
        sums[name] = sums[name] + total if name in sums else total

    cache: Any = None  # a transformers Cache (untyped)
    with torch.no_grad():
        if shared:
            prefix = torch.tensor([rows[0][:shared]], device=device)
            with Trace(model, sites, lambda s, x: add(s.name, reduce_mean(x, None), shared)):
                cache = model(input_ids=prefix, use_cache=True).cache
            cache.batch_repeat_interleave(b)
        suffix = [r[shared:] for r in rows]
        width = max(len(s) for s in suffix)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        input_ids = torch.full((b, width), pad, dtype=torch.long)
        mask = torch.zeros((b, shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for i, s in enumerate(suffix):
            input_ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, shared + width - len(s) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        span = mask[:, shared:].bool()
        lengths = span.sum(1, keepdim=True).float()
        input_ids, mask, positions, span = (t.to(device) for t in (input_ids, mask, positions, span))
        tokens = TokenMask(span)
        with Trace(model, sites, lambda s, x: add(s.name, reduce_mean(x, tokens), lengths)):
            out = model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        generated = _decode(model, tok, out, mask, positions[:, -1], settings)
    means = {s.name: sums[s.name] / counts[:, None] for s in sites}
    return generated, means


def _decode(model, tok, out, mask, last_pos, settings: GenerationSettings) -> list[list[int]]:
    """The greedy loop after the prompt's forward; a row leaves the batch when it stops."""
    stop_ids = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
    b = mask.shape[0]
    generated: list[list[int]] = [[] for _ in range(b)]
    active = list(range(b))
    cache = out.cache
    next_tok = out.logits[:, -1].argmax(-1)
    for step in range(settings.max_new_tokens):
        keep = []
        for j, row in enumerate(active):
            t = int(next_tok[j])
            generated[row].append(t)
            text = tok.decode(generated[row], skip_special_tokens=True)
            if t not in stop_ids and not any(s in text for s in settings.stop):
                keep.append(j)
        if not keep or step == settings.max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=mask.device)
            cache.batch_select_indices(index)
            mask, last_pos, next_tok = mask[index], last_pos[index], next_tok[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=mask.device)], dim=1)
        last_pos = last_pos + 1
        out = model(
            input_ids=next_tok[:, None],
            attention_mask=mask,
            position_ids=last_pos[:, None],
            cache=cache,
            use_cache=True,
        )
        next_tok = out.logits[:, -1].argmax(-1)
    return generated
