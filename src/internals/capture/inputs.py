"""Turn prompts into a right-padded batch and the mask of the tokens a reducer should use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InternalsError

# a text, token ids, or an (input, output) pair of either (the output: a continuation such as the answer)
Prompt = str | Sequence[int] | tuple[str | Sequence[int], str | Sequence[int]]
SPANS = "all, input, output, drop_last:N"


@dataclass
class Batch:
    """input_ids / attention_mask [batch, tokens] (right-padded); span_mask marks the tokens to reduce over."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    span_mask: torch.Tensor
    input_lengths: torch.Tensor | None = None  # [batch] tokens of each row's input part

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.input_ids.to(device), self.attention_mask.to(device), self.span_mask.to(device), self.input_lengths
        )

    @property
    def lengths(self) -> torch.Tensor:
        """[batch] real tokens per row."""
        return self.attention_mask.sum(1).cpu()


def _ids(tokenizer: Any, text: str | Sequence[int], special: bool) -> list[int]:
    if isinstance(text, str):
        return tokenizer(text, add_special_tokens=special)["input_ids"]
    return [int(t) for t in text]


def split_prompt(tokenizer: Any, prompt: Prompt) -> tuple[list[int], list[int]]:
    """A prompt's (input ids, output ids). A (input, output) pair marks a continuation, e.g. the
    model's answer for FactCheckmate's I+O setting; a plain prompt is all input."""
    if isinstance(prompt, tuple) and len(prompt) == 2 and not isinstance(prompt[0], int):
        return _ids(tokenizer, prompt[0], True), _ids(tokenizer, prompt[1], False)
    return _ids(tokenizer, prompt, True), []


def span_range(span: str, n_in: int, n_out: int) -> tuple[int, int]:
    """[start, stop) token positions a span selects. drop_last:N keeps at least one input token."""
    if span == "all":
        return 0, n_in + n_out
    if span == "input":
        return 0, n_in
    if span == "output":
        if n_out == 0:
            raise InternalsError("span 'output' needs (input, output) prompt pairs")
        return n_in, n_in + n_out
    m = re.fullmatch(r"drop_last:(\d+)", span)
    if m:
        return 0, max(n_in - int(m.group(1)), 1)
    raise InternalsError(f"unknown span {span!r}: use {SPANS}")


def encode(tokenizer: Any, prompts: Sequence[Prompt], span: str = "all", max_tokens: int | None = None) -> Batch:
    """Tokenise prompts into one right-padded batch (positions stay 0..n-1 for every prompt)."""
    if len(prompts) == 0:
        raise InternalsError("no prompts given")
    rows, spans, n_inputs = [], [], []
    for p in prompts:
        ids_in, ids_out = split_prompt(tokenizer, p)
        if not ids_in:
            raise InternalsError(f"prompt {p!r} has no tokens")
        ids = ids_in + ids_out
        if max_tokens is not None:
            if max_tokens < 1:
                raise InternalsError(f"max_tokens must be >= 1, got {max_tokens}")
            ids = ids[:max_tokens]
        lo, hi = span_range(span, len(ids_in), len(ids_out))
        rows.append(ids)
        spans.append((lo, min(hi, len(ids))))
        n_inputs.append(min(len(ids_in), len(ids)))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    span_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (ids, (lo, hi)) in enumerate(zip(rows, spans)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attn[i, : len(ids)] = 1
        span_mask[i, lo:hi] = True
    return Batch(input_ids, attn, span_mask, torch.tensor(n_inputs))
