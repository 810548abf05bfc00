"""Cutoff inference: read chunk by chunk, stop once the probe is confident, answer from that prefix.

`cutoff` is the method: it stops reading at the first chunk where the ensemble's
P(sufficient) >= threshold (0.95 by default, the paper's `min_sufficient_confidence`), and
nothing after that chunk is ever encoded. `read` is the evaluation pass: it reads the whole
context once (features of every prefix, probe scores, the model's self-assessment) and answers
at the chunks some stopping rule picks, so that every method in the table is scored on the
same pass. Both iterate `features.stream`, and both answer through `answer_from_cache`.

Answers (greedy) come either from the reading cache (``answer_from="cache"``: question, passage
prefix, question again, then the assistant turn; no re-encoding) or from a new passage-then-question
prompt (``answer_from="fresh"``: re-encodes the prefix). `template` is the user turn around them
(`prompting.turn_template`: "auto" is the chat template when the model has one, else the base
wrapping "{question}\\nAnswer:").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import InternalsError
from . import chunks, features, prompting
from .contexts import Example
from .metrics import first_at_least
from .probes import feature_kind

ANSWER_FROM = ("cache", "fresh")
ANSWER_MARGIN = 4  # tokens beyond the longest gold answer, for a closing word or punctuation
ANSWER_CAP = 64  # the default answer length never exceeds this many tokens


def answer_length(tokenizer, examples: Sequence[Example]) -> int:
    """The default answer length (`CutoffConfig.max_new_tokens` unset): the longest gold alias of
    `examples` in tokens plus ANSWER_MARGIN, at most ANSWER_CAP, so that long gold answers are not
    cut short."""
    longest = max(
        (len(tokenizer(a, add_special_tokens=False)["input_ids"]) for ex in examples for a in ex.answers), default=0
    )
    return min(longest + ANSWER_MARGIN, ANSWER_CAP)


@dataclass
class Reading:
    """One full pass over an example.

    boundaries / labels: [n_chunks]; features: kind -> [n_chunks, layers, heads, width];
    probs: kind -> [n_chunks] ensemble P(sufficient); self_yes: [n_chunks] P(Yes) or None;
    answers: chunk index -> the model's answer from that prefix; n_query: tokens each check of a
    query kind appends (0 without one); n_assess: tokens each self-assessment appends.
    """

    example_id: str
    n_tokens: int
    boundaries: list[int]
    labels: np.ndarray
    features: dict[str, np.ndarray]
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    self_yes: np.ndarray | None = None
    answers: dict[int, str] = field(default_factory=dict)
    n_query: int = 0
    n_assess: int = 0


def answer_from_cache(
    lm,
    lay,
    question: str,
    context_ids: list[int],
    step,
    answer_from: str = "cache",
    max_new_tokens: int = 16,
    template: str = "auto",
) -> str:
    """The greedy answer from the prefix `step` has read (the cache is left as it was)."""
    if answer_from == "cache":
        with prompting.branch(step.cache):
            return prompting.greedy(lm, step.cache, lay.answer, max_new_tokens)
    if answer_from == "fresh":
        ids = prompting.fresh_answer_ids(lm.tokenizer, question, context_ids[: step.n_context], template)
        return prompting.greedy(lm, prompting.new_cache(lm), ids, max_new_tokens)
    raise InternalsError(f"unknown answer_from {answer_from!r}: use {' or '.join(ANSWER_FROM)}")


def answer_prefix(
    lm,
    question: str,
    context_ids: list[int],
    n_context: int,
    answer_from: str = "cache",
    max_new_tokens: int = 16,
    template: str = "auto",
) -> str:
    """The same answer as `answer_from_cache` at `n_context` tokens, by encoding that prefix afresh."""
    lay = prompting.layout(lm.tokenizer, question, template)
    cache = prompting.new_cache(lm)
    if answer_from == "cache":
        ids = lay.header + list(context_ids[:n_context]) + lay.answer
    else:
        ids = prompting.fresh_answer_ids(lm.tokenizer, question, context_ids[:n_context], template)
    return prompting.greedy(lm, cache, ids, max_new_tokens)


def read(
    lm,
    example: Example,
    kinds: Sequence[str] = ("attn_z",),
    n_chunks: int = chunks.N_CHUNKS,
    *,
    probes: dict | None = None,
    self_assess: bool = False,
    thresholds: dict | Sequence[float] = (),
    answer: str = "none",
    extra: Collection[int] = (),
    answer_from: str = "cache",
    max_new_tokens: int = 16,
    template: str = "auto",
) -> Reading:
    """Read `example` to the end (features of `kinds`; `probes`: probe name -> probe, each reading
    its `feature_kind`). answer: "none", "all" chunks, or "needed": the last chunk, the
    first sufficient one (oracle), the `extra` chunk indices, and each chunk where a probe first
    reaches one of `thresholds` (one list for all probes, or kind -> list) or the self-assessment
    first says Yes. template: the user turn (see the module docstring)."""
    if answer not in ("none", "all", "needed"):
        raise InternalsError(f"unknown answer mode {answer!r}: use none, all or needed")
    ch = chunks.chunk(lm.tokenizer, example.context, example.evidence, n_chunks)
    lay = prompting.layout(lm.tokenizer, example.question, template)
    feats: dict[str, list[np.ndarray]] = {k: [] for k in features.check_kinds(kinds)}
    probs: dict[str, list[float]] = {k: [] for k in (probes or {})}
    yes: list[float] = []
    out = Reading(example.id, ch.n_tokens, ch.boundaries, ch.labels, {})
    oracle = first_at_least(ch.labels.astype(float), 1.0)
    for step in features.stream(lm, lay.header, ch.ids, ch.boundaries, kinds, query=lay.answer):
        for k in feats:
            feats[k].append(step.features[k])
        need = answer == "all" or (answer == "needed" and step.index in {oracle, len(ch.boundaries) - 1, *extra})
        for k, probe in (probes or {}).items():
            p = float(probe.predict_proba(step.features[feature_kind(k)][None])[0, 1])
            ts = thresholds.get(k, ()) if isinstance(thresholds, dict) else thresholds
            need |= answer == "needed" and any(p >= t > max(probs[k], default=-1.0) for t in ts)
            probs[k].append(p)
        if self_assess:
            with prompting.branch(step.cache):
                yes.append(prompting.yes_probability(lm, step.cache, lay))
            need |= answer == "needed" and yes[-1] >= 0.5 and max(yes[:-1], default=0.0) < 0.5
        if need:
            out.answers[step.index] = answer_from_cache(
                lm, lay, example.question, ch.ids, step, answer_from, max_new_tokens, template
            )
    out.features = {k: np.stack(v) for k, v in feats.items()}
    out.probs = {k: np.asarray(v) for k, v in probs.items()}
    out.self_yes = np.asarray(yes) if self_assess else None
    out.n_query = step.n_query  # the same at every chunk
    out.n_assess = len(lay.assess) if self_assess else 0
    return out


@dataclass
class CutoffResult:
    """What `cutoff` did: the answer, the chunk it stopped after (0-based), tokens read of the total,
    and the tokens the probe's checks appended and removed again (query kinds; 0 otherwise)."""

    answer: str
    chunk: int
    n_read: int
    n_total: int
    probs: list[float]
    stopped_early: bool
    n_query_tokens: int = 0

    @property
    def token_reduction(self) -> float:
        return self.n_total / max(self.n_read, 1)


def cutoff(
    lm,
    probe,
    question: str,
    context: str,
    kind: str | None = None,
    threshold: float = 0.95,
    n_chunks: int = chunks.N_CHUNKS,
    answer_from: str = "cache",
    max_new_tokens: int = 16,
    template: str = "auto",
) -> CutoffResult:
    """Read `context` chunk by chunk and answer `question` from the first prefix the probe finds sufficient.

    probe: a fitted `HeadEnsemble` for `kind` features of this model (a probe name such as
    "attn_z+logistic" names its kind too). kind defaults to the kind a loaded probe was trained on
    (else "attn_z"); a loaded probe asked to read another kind is refused. Nothing after the stopping
    chunk is encoded. template: the user turn, as the probe was trained with (its card's
    "template"; "auto" resolves the same way on the same model). Raises InternalsError for an
    empty context or a threshold outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise InternalsError(f"threshold must be in (0, 1], got {threshold}")
    if not context or not context.strip():
        raise InternalsError("the context is empty: give the passage(s) to read")
    ids = list(lm.tokenizer(context, add_special_tokens=False)["input_ids"])
    ends = chunks.boundaries(len(ids), n_chunks)
    lay = prompting.layout(lm.tokenizer, question, template)
    probs: list[float] = []
    trained_on = getattr(probe, "kind_", None)
    kind = feature_kind(kind or trained_on or "attn_z")
    if trained_on and kind != trained_on:
        raise InternalsError(f"this probe was trained on {trained_on} features, not {kind}: pass kind={trained_on!r}")
    for step in features.stream(lm, lay.header, ids, ends, (kind,), query=lay.answer):
        probs.append(float(probe.predict_proba(step.features[kind][None])[0, 1]))
        if probs[-1] >= threshold or step.index == len(ends) - 1:
            text = answer_from_cache(lm, lay, question, ids, step, answer_from, max_new_tokens, template)
            return CutoffResult(
                text,
                step.index,
                step.n_context,
                len(ids),
                probs,
                step.index < len(ends) - 1,
                step.n_query * (step.index + 1),
            )
    raise AssertionError("unreachable: the stream always yields its last chunk")
