"""Clean / corrupted prompt pairs for activation patching, built from "The <relation> of <subject> is".

A pair is a factual prompt the model completes correctly (clean) and the same prompt with the
subject replaced by another subject of the same relation (corrupted), as in symmetric token
replacement (Zhang & Nanda 2023, "STR"). The two subjects have the same number of tokens, so
every position lines up; the tokens before and after the subject are identical.

Prompts are the raw dataset text with no chat template: the instruct model is read as a plain
language model completing a sentence, as in causal tracing (Meng et al. 2022, ROME). "Correct"
means the model's greedy next token is the first token of " " + one gold answer; that token is
the pair's target, and every probability in this analysis is the probability of that token at the
last position.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from ...errors import InternalsError

TEMPLATE = re.compile(r"The (.+) is")
_OF = " of "
POOL_CHUNK = 512  # prompts evaluated between two attempts to form the pairs asked for


@dataclass(frozen=True)
class Subject:
    """One parsed, tokenised prompt of the pool: `ids` [tokens], the subject at tokens [start, stop)."""

    index: int
    relation: str
    subject: str
    prompt: str
    answers: tuple[str, ...]
    ids: tuple[int, ...]
    start: int
    stop: int

    @property
    def shape(self) -> tuple:
        """What a corrupting subject must share: relation, prompt length, subject span."""
        return self.relation, len(self.ids), self.start, self.stop


@dataclass(frozen=True)
class Pair:
    """A clean prompt and its corrupted twin (same tokens outside [start, stop)), with the target
    token (the clean answer's first token) and its probability in each run."""

    relation: str
    clean: str
    corrupt: str
    subject: str
    corrupt_subject: str
    answer: str
    target: int
    target_token: str
    clean_ids: tuple[int, ...]
    corrupt_ids: tuple[int, ...]
    start: int
    stop: int
    p_clean: float
    p_corrupt: float

    @property
    def n_tokens(self) -> int:
        return len(self.clean_ids)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["clean_ids"], d["corrupt_ids"] = list(self.clean_ids), list(self.corrupt_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Pair:
        return cls(**{**d, "clean_ids": tuple(d["clean_ids"]), "corrupt_ids": tuple(d["corrupt_ids"])})


@dataclass
class PairSet:
    """The pairs asked for and how they were found (counts for the manifest)."""

    pairs: list[Pair]
    stats: dict


def parse_relation(question: str) -> tuple[str, str] | None:
    """(relation, subject) of "The <relation> of <subject> is", or None when it does not parse.

    Relations may contain " of " ("country of citizenship", "color of the flag"), subjects too
    ("Bank of America"): Wikidata relation labels are lower case, so the relation is the longest
    lower-case prefix before an " of " (the first split when none is)."""
    m = TEMPLATE.fullmatch(question.strip())
    if not m or _OF not in m.group(1):
        return None
    body = m.group(1)
    cuts = [i for i in range(len(body)) if body.startswith(_OF, i)]
    lower = [i for i in cuts if body[:i] == body[:i].lower()]
    cut = lower[-1] if lower else cuts[0]
    relation, subject = body[:cut].strip(), body[cut + len(_OF) :].strip()
    return (relation, subject) if relation and subject else None


def tokenize_subject(tokenizer, prompt: str, lo: int, hi: int) -> tuple[list[int], int, int] | None:
    """Token ids of `prompt` and the token span [start, stop) of the characters [lo, hi) (the
    subject), or None when a token straddles the subject's edges."""
    enc = tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=True)
    inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and b > lo and a < hi]
    if not inside:
        return None
    start, stop = inside[0], inside[-1] + 1
    a, b = enc["offset_mapping"][start][0], enc["offset_mapping"][stop - 1][1]
    if a < lo - 1 or b > hi or (a == lo - 1 and prompt[a] != " "):  # the subject's own leading space only
        return None
    return list(enc["input_ids"]), start, stop


def parse_records(tokenizer, records) -> list[Subject]:
    """Every record that parses as "The <relation> of <subject> is" and has an answer, tokenised."""
    out = []
    for i, r in enumerate(records):
        parsed = parse_relation(r.question)
        if parsed is None or not r.answers:
            continue
        prompt = r.question.strip()
        lo = prompt.rfind(parsed[1], 0, len(prompt) - len(" is"))  # the subject ends before " is"
        tokens = tokenize_subject(tokenizer, prompt, lo, lo + len(parsed[1])) if lo >= 0 else None
        if tokens is None:
            continue
        ids, start, stop = tokens
        out.append(Subject(i, parsed[0], parsed[1], prompt, tuple(r.answers), tuple(ids), start, stop))
    return out


def answer_token(tokenizer, answer: str) -> int:
    """The first token of " " + answer: what the model must predict after "... is"."""
    return tokenizer(" " + answer.strip(), add_special_tokens=False)["input_ids"][0]


def _order(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def build_pairs(
    lm,
    records,
    n: int,
    *,
    seed: int = 0,
    min_gap: float = 0.1,
    correct_only: bool = True,
    batch_size: int = 64,
    progress: bool = False,
) -> PairSet:
    """At least `n` clean/corrupted pairs from `records` (qa_wikidata-style completions), chosen in a
    seeded order; the first n are returned.

    A clean prompt qualifies when the model's greedy next token is the first token of one gold
    answer (`correct_only=False`: any prompt, target the first gold answer's first token; for
    untrained test models). Its corrupting subject is another subject of the same relation with the
    same token span whose greedy token is not the target and whose gold answers do not start with
    it, and with p_clean - p_corrupt > `min_gap` (so recovery's denominator is not noise); among
    several, a seeded hash picks one. Prompts are evaluated POOL_CHUNK at a time until n pairs exist.
    """
    from .trace import last_logprobs

    if n < 1:
        raise InternalsError(f"n must be >= 1 pairs, got {n}")
    tok = lm.tokenizer
    pool = sorted(parse_records(tok, records), key=lambda s: _order(f"{seed}:{s.prompt}"))
    if not pool:
        raise InternalsError(
            "no record parses as 'The <relation> of <subject> is' with an answer: "
            "patching needs qa_wikidata-style completions (e.g. --data qa_wikidata)"
        )
    golds = {s.index: {answer_token(tok, a): a for a in s.answers} for s in pool}
    wanted = sorted({t for g in golds.values() for t in g})  # every gold answer's first token
    evaluated: dict[int, tuple[int, dict]] = {}  # pool position -> (greedy id, wanted id -> log p)
    pairs: list[Pair] = []
    bar = tqdm(total=len(pool), desc="pairs: evaluate", unit="prompt", disable=not progress)
    for lo in range(0, len(pool), POOL_CHUNK):
        chunk = pool[lo : lo + POOL_CHUNK]
        by_length = sorted(range(len(chunk)), key=lambda j: len(chunk[j].ids))  # batches with little padding
        logp = last_logprobs(lm, [list(chunk[j].ids) for j in by_length], batch_size=batch_size)
        logp = logp[torch.argsort(torch.tensor(by_length))]
        picked = logp[:, wanted]
        for j in range(len(chunk)):
            evaluated[lo + j] = (int(logp[j].argmax()), dict(zip(wanted, picked[j].tolist())))
        bar.update(len(chunk))
        pairs = _match(tok, pool, evaluated, golds, seed, min_gap, correct_only)
        if len(pairs) >= n:
            break
    bar.close()
    correct = sum(1 for i, (g, _) in evaluated.items() if g in golds[pool[i].index])
    stats = {
        "n_records": len(records),
        "n_parsed": len(pool),
        "n_evaluated": len(evaluated),
        "n_correct": correct,
        "n_pairs_found": len(pairs),
        "n_pairs": min(n, len(pairs)),
        "min_gap": min_gap,
        "correct_only": correct_only,
    }
    if not pairs:
        raise InternalsError(
            f"no clean/corrupted pair found among {len(evaluated)} prompts ({correct} answered "
            f"correctly): use more records, a lower --min-gap, or --keep-wrong for untrained models"
        )
    return PairSet(pairs[:n], stats)


def _match(
    tok, pool: list[Subject], evaluated: dict, golds: dict, seed: int, min_gap: float, correct_only: bool
) -> list[Pair]:
    """Pairs among the evaluated prompts, clean prompts in pool order."""
    by_shape: dict[tuple, list[int]] = {}
    for i in sorted(evaluated):
        by_shape.setdefault(pool[i].shape, []).append(i)
    pairs = []
    for i in sorted(evaluated):
        clean, (greedy, logp) = pool[i], evaluated[i]
        gold = golds[clean.index]
        target = greedy if greedy in gold else (None if correct_only else next(iter(gold)))
        if target is None:
            continue
        p_clean = float(torch.tensor(logp[target]).exp())
        partners = []
        for j in by_shape[clean.shape]:
            other, (other_greedy, other_logp) = pool[j], evaluated[j]
            if other.subject == clean.subject or other_greedy == target or target in golds[other.index]:
                continue
            if (
                other.ids[: clean.start] != clean.ids[: clean.start]
                or other.ids[clean.stop :] != clean.ids[clean.stop :]
            ):
                continue
            p_corrupt = float(torch.tensor(other_logp[target]).exp())
            if p_clean - p_corrupt > min_gap:
                partners.append((_order(f"{seed}:{clean.prompt}:{other.prompt}"), other, p_corrupt))
        if not partners:
            continue
        _, other, p_corrupt = min(partners, key=lambda x: x[0])
        pairs.append(
            Pair(
                clean.relation,
                clean.prompt,
                other.prompt,
                clean.subject,
                other.subject,
                gold[target],
                target,
                tok.decode([target]),
                clean.ids,
                other.ids,
                clean.start,
                clean.stop,
                p_clean,
                p_corrupt,
            )
        )
    return pairs
