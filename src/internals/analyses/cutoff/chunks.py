"""Chunked prefixes of a context and their sufficiency labels.

The context is cut by percentage, as the paper's code does (`chunking_manager.py`,
strategy "percentage"): n chunks of ``n_tokens // n`` tokens, the first ``n_tokens % n`` one
token longer, so boundary k (1-based) ends at about k/n of the context. A prefix is labelled
*sufficient* iff it holds the whole evidence span, i.e. its boundary is at or past the token
that ends the evidence. Token offsets come from the tokenizer's offset mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InternalsError

N_CHUNKS = 10


@dataclass(frozen=True)
class Chunked:
    """A tokenised context cut into prefixes.

    Attributes:
        ids: the context's token ids (no special tokens), [n_tokens].
        boundaries: number of context tokens in each prefix, [n_chunks], increasing, last = n_tokens.
        evidence_tokens: ``[start, end)`` token indices covering the evidence characters.
        labels: [n_chunks] bool, True where the prefix holds the whole evidence span.
    """

    ids: list[int]
    boundaries: list[int]
    evidence_tokens: tuple[int, int]
    labels: np.ndarray

    @property
    def n_tokens(self) -> int:
        return len(self.ids)


def boundaries(n_tokens: int, n_chunks: int = N_CHUNKS) -> list[int]:
    """Cumulative chunk ends for `n_tokens` split into `n_chunks` near-equal chunks (the paper's rule)."""
    if n_tokens < n_chunks:
        raise InternalsError(
            f"a context of {n_tokens} tokens cannot be cut into {n_chunks} chunks: "
            "give a longer context or fewer chunks"
        )
    base, extra = divmod(n_tokens, n_chunks)
    ends, total = [], 0
    for i in range(n_chunks):
        total += base + (1 if i < extra else 0)
        ends.append(total)
    return ends


def token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """``[first, last + 1)`` of the tokens whose characters overlap ``[start, end)``."""
    hit = [i for i, (a, b) in enumerate(offsets) if a < end and b > start and b > a]
    if not hit:
        raise InternalsError(
            f"no token covers the evidence characters [{start}, {end}): is the span inside the context?"
        )
    return hit[0], hit[-1] + 1


def labels(ends: list[int], evidence_end_token: int) -> np.ndarray:
    """[n_chunks] bool: prefix k is sufficient iff it ends at or after the evidence's last token."""
    return np.asarray([b >= evidence_end_token for b in ends], dtype=bool)


def chunk(tokenizer, context: str, evidence: tuple[int, int] | None, n_chunks: int = N_CHUNKS) -> Chunked:
    """Tokenise `context`, cut it into `n_chunks` prefixes and label each against `evidence`.

    Raises InternalsError for an empty context, a missing evidence span or one outside the context.
    """
    if not context or not context.strip():
        raise InternalsError("the context is empty: give the passage(s) to read")
    if evidence is None:
        raise InternalsError("the context has no evidence span: give the (start, end) characters of the gold evidence")
    start, end = evidence
    if not 0 <= start < end <= len(context):
        raise InternalsError(f"evidence span {tuple(evidence)} is not inside the context of {len(context)} characters")
    enc = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    span = token_span(offsets, start, end)
    ends = boundaries(len(ids), n_chunks)
    return Chunked(ids, ends, span, labels(ends, span[1]))
