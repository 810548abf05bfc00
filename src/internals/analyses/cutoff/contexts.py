"""Long contexts with a known evidence span: one gold passage hidden among real distractors.

Each example takes a record with a passage and the character span of its gold evidence
(`internals.data`: contextual_parametric_knowledge_conflicts, disfl_qa, coqa, ...), and
surrounds that passage with other records' passages (other documents of the same split)
until the context holds about `target_tokens` tokens. Where the gold passage goes is drawn,
seeded, uniformly over the slots between distractors, so the evidence position spreads
across the context and "the answer is always in the middle" is not a shortcut.

That distractor padding (the paper's) is an explicit option, `pad=True`; with `pad=False` each
context is the record's own passage and nothing else (`CutoffConfig.pad_distractors`: on for the
built-in datasets, off for your files). Records that cannot seed an example are counted by reason
(`skipped`), and asking for more examples than a split holds warns with the real count.
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

from ...errors import InternalsError

SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Example:
    """One question over a long context.

    Attributes:
        id: the source record's id (unique within its dataset).
        dataset: the dataset name.
        question: the question text.
        answers: gold answer aliases.
        context: the long context (passages joined by blank lines).
        evidence: ``[start, end)`` character offsets of the gold evidence in ``context``.
        depth: where the evidence ends, as a fraction of the context's characters.
        meta: provenance (number of passages, the gold passage's slot).
    """

    id: str
    dataset: str
    question: str
    answers: tuple[str, ...]
    context: str
    evidence: tuple[int, int]
    depth: float = 0.0
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.context or not self.context.strip():
            raise InternalsError(f"example {self.id}: the context is empty; give a passage that holds the evidence")
        start, end = self.evidence
        if not 0 <= start < end <= len(self.context):
            raise InternalsError(
                f"example {self.id}: evidence span {self.evidence} is not inside the context "
                f"(0..{len(self.context)}); give a non-empty [start, end) within it"
            )

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "question": self.question,
            "answers": list(self.answers),
            "context": self.context,
            "evidence": list(self.evidence),
            "depth": self.depth,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Example:
        return cls(
            d["id"],
            d["dataset"],
            d["question"],
            tuple(d["answers"]),
            d["context"],
            tuple(d["evidence"]),
            d.get("depth", 0.0),
            d.get("meta", {}),
        )


def skip_reason(record) -> str | None:
    """Why `record` cannot seed an example (None when it can): it needs a passage, an evidence
    span, gold answers, and (CoQA) no conversation history."""
    if not record.context or not record.context.strip():
        return "no context"
    if not record.evidence:
        return "no evidence span"
    if record.evidence[1] <= record.evidence[0]:
        return "an empty evidence span"
    if not record.answers:
        return "no gold answers"
    if record.meta.get("history"):
        return "a conversation history (the question depends on earlier turns)"
    return None


def usable(record) -> bool:
    """A record can seed an example: a passage, an evidence span, gold answers, and (CoQA) no history."""
    return skip_reason(record) is None


def skipped(records) -> dict[str, int]:
    """How many of `records` cannot seed an example, by reason (`skip_reason`)."""
    return dict(Counter(r for r in map(skip_reason, records) if r is not None))


def report_skipped(name: str, split: str, counts: dict[str, int]) -> None:
    """One line on stderr per reason records were skipped."""
    for reason, n in sorted(counts.items()):
        print(f"internals: {name} ({split}): skipped {n} record(s) with {reason}", file=sys.stderr)


def build_examples(
    records,
    tokenizer,
    n: int | None = None,
    target_tokens: int = 1024,
    seed: int = 0,
    dataset: str | None = None,
    start: int = 0,
    pad: bool = True,
) -> list[Example]:
    """Up to `n` long-context examples from `records` (one `internals.data.Dataset` split).

    The gold records are a seeded sample of the usable ones. pad: surround each gold passage with
    distractors, the passages of the split's other documents (a different ``meta["group"]``),
    deduplicated, up to about `target_tokens` (the paper's padding); False: the context is the
    record's own passage. `start` skips the sample's first `start` records: with the same seed,
    the examples are disjoint from those that n=start gives (a fresh test set beside an earlier one).
    Asking for more than the usable records hold warns on stderr with the real count.
    Raises InternalsError when no record has a passage with an evidence span (naming the fields to
    add), or when `start` leaves none.
    """
    name = str(dataset or getattr(records, "name", None) or "data")
    split = getattr(records, "split", "all")
    pool = [r for r in records if usable(r)]
    if not pool:
        raise InternalsError(
            f"dataset {name} has no record with a context, an evidence span and gold answers: give each record "
            "'context', 'answers' and 'evidence' (the evidence text, or evidence_start/evidence_end), mapping your "
            "names with --field context=<yours> (fields={...}); see `internals data schema`"
        )
    if start and start >= len(pool):
        raise InternalsError(
            f"dataset {name} has {len(pool)} usable records: cannot skip the first {start} (test_offset)"
        )
    if n is not None and start + n > len(pool):
        print(
            f"internals: warning: asked for {n} examples of {name} (split {split}"
            + (f", after skipping {start}" if start else "")
            + f") but it holds {len(pool) - start} usable records: using {len(pool) - start}",
            file=sys.stderr,
        )

    def sample(k: int) -> list:
        return random.Random(f"cutoff:{seed}:{name}").sample(pool, min(k, len(pool)))

    chosen = sample(start + n) if n is not None else list(pool)
    if start:  # never one of the examples that n=start gives, whatever the sampling algorithm
        skipped = {id(r) for r in sample(start)}
        chosen = [r for r in chosen if id(r) not in skipped][:n]
    passages: dict[str, tuple[str, str]] = {}
    for r in records if pad else ():
        if r.context and r.context.strip():
            passages.setdefault(r.context.strip(), (r.context.strip(), str(r.meta.get("group") or r.id)))
    distractors = list(passages.values())
    memo: dict[str, int] = {}

    def lengths(text: str) -> int:
        if text not in memo:
            memo[text] = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return memo[text]

    return [embed(r, distractors, lengths, target_tokens, random.Random(f"{seed}:{r.id}"), name) for r in chosen]


def embed(
    record, distractors: list[tuple[str, str]], lengths, target_tokens: int, rng: random.Random, dataset: str
) -> Example:
    """Place `record`'s passage among distractor passages (text, group) at a random slot.

    lengths: text -> its number of tokens (used to stop adding distractors near `target_tokens`).
    """
    if not usable(record):
        raise InternalsError(f"record {record.id} has no context with an evidence span: it cannot seed an example")
    gold = record.context
    group = str(record.meta.get("group") or record.id)
    others = [(t, g) for t, g in distractors if g != group and t != gold.strip()]
    rng.shuffle(others)
    picked, total = [], lengths(gold.strip())
    for text, _ in others:
        if total >= target_tokens:
            break
        picked.append(text)
        total += lengths(text)
    slot = rng.randint(0, len(picked))
    before = SEPARATOR.join(picked[:slot])
    offset = len(before) + (len(SEPARATOR) if before else 0)
    context = SEPARATOR.join(picked[:slot] + [gold] + picked[slot:])
    start, end = record.evidence[0] + offset, record.evidence[1] + offset
    return Example(
        record.id,
        dataset,
        record.question,
        tuple(record.answers),
        context,
        (start, end),
        depth=round(end / len(context), 4),
        meta={"passages": len(picked) + 1, "slot": slot, "approx_tokens": total},
    )


def examples_fingerprint(examples: list[Example]) -> str:
    """First 16 hex digits of a sha256 over the examples' content."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(repr((ex.id, ex.question, ex.answers, ex.context, ex.evidence)).encode("utf-8"))
    return h.hexdigest()[:16]
