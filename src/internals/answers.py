"""What counts as a correct answer: extraction and matching, one module for every analysis.

Extraction (what part of a generation is the answer):

| rule | what | used by default in |
|---|---|---|
| `paper` | the text up to the first newline, `.` or `,`, stripped (FactCheckmate's public code) | FactCheckmate labels |
| `first_line` | the text up to the first newline, stripped (generation also stops at the end of a turn) | context cutoff |
| `skip_echo` (ours) | first drop a restated prefix of the question ("The capital of France is Paris" -> "Paris"), then the paper's rule | opt-in |

Matching (does an extracted answer match one of the gold aliases):

| rule | normalisation | match | used by default in |
|---|---|---|---|
| `substring` | lowercase, punctuation deleted, articles a/an/the dropped | either string contains the other (FactCheckmate's `scripts/metrics.py`, after lm-eval-harness nq_open); empty never matches | FactCheckmate |
| `whole_word` (ours) | lowercase, punctuation to spaces, articles dropped | either contains the other on word boundaries; empty never matches | context cutoff |
| `exact` | as `substring` | equal after normalisation | opt-in |

An answer the generation's token limit cut (``truncated=True``) matches only when it holds a whole
gold alias: under every rule a cut-off prefix of a gold ("the United" for "the United States")
is not an answer. The context cutoff analysis passes it; `describe(..., truncated=True)` records it.

Each results file records the rules that made its labels (`describe()`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence

from .errors import InternalsError

STOP = ("\n", ".", ",")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_DROP = str.maketrans("", "", string.punctuation)
_SPACE = str.maketrans({c: " " for c in string.punctuation})
EXTRACTORS = ("paper", "first_line", "skip_echo")
MATCHERS = ("substring", "whole_word", "exact")


def normalize(text: str, punctuation: str = "drop") -> str:
    """Lowercase, punctuation deleted ("drop") or turned into spaces ("space"), articles a/an/the
    dropped, whitespace collapsed."""
    table = _DROP if punctuation == "drop" else _SPACE
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(table)).split())


def cut_answer(text: str, stop: Sequence[str] = STOP) -> str:
    """`text` up to the first stop string, stripped (the paper's answer extraction)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut].strip()


def strip_echo(text: str, question: str) -> str:
    """`text` without the longest prefix of it that restates the question's words in order
    (case and punctuation ignored), e.g. question "The capital of France is", answer "The capital
    of France is Paris." -> "Paris."; the text unchanged when it does not open with the question."""
    words = text.split()
    q = normalize(question, "space").split()
    if not q:
        return text
    k = 0
    for i, word in enumerate(words):
        w = normalize(word, "space")
        if not w:
            continue
        if k < len(q) and w == q[k]:
            k += 1
            if k == len(q):
                return " ".join(words[i + 1 :])
            continue
        return " ".join(words[i:]) if k >= max(2, len(q) // 2) else text
    return "" if k >= max(2, len(q) // 2) else text


def echoes_question(text: str, question: str) -> bool:
    """Whether the paper's extraction of `text` is only (a prefix of) the question restated."""
    answer = normalize(cut_answer(text), "space")
    q = normalize(question, "space")
    return bool(answer) and (q.startswith(answer) or answer == q)


def extract(text: str, rule: str = "paper", question: str | None = None, stop: Sequence[str] = STOP) -> str:
    """The answer part of a generation under an extraction rule (see the module table)."""
    if rule == "paper":
        return cut_answer(text, stop)
    if rule == "first_line":
        return cut_answer(text, ("\n",))
    if rule == "skip_echo":
        if question is None:
            raise InternalsError("extraction rule 'skip_echo' needs the question")
        return cut_answer(strip_echo(text.strip(), question), stop)
    raise InternalsError(f"unknown extraction rule {rule!r}: use one of {', '.join(EXTRACTORS)}")


def _substring(answer: str, golds: Sequence[str], whole_gold: bool = False) -> bool:
    a = normalize(answer)
    return bool(a) and any(g and (g in a or (a in g and not whole_gold)) for g in (normalize(x) for x in golds))


def _whole_word(answer: str, golds: Sequence[str], whole_gold: bool = False) -> bool:
    p = normalize(answer, "space")
    if not p:
        return False
    for gold in golds:
        g = normalize(gold, "space")
        if g and (f" {g} " in f" {p} " or (f" {p} " in f" {g} " and not whole_gold)):
            return True
    return False


def _exact(answer: str, golds: Sequence[str], whole_gold: bool = False) -> bool:
    a = normalize(answer)
    return bool(a) and any(a == normalize(g) for g in golds)


_MATCH: dict[str, Callable[[str, Sequence[str], bool], bool]] = {
    "substring": _substring,
    "whole_word": _whole_word,
    "exact": _exact,
}
TRUNCATED_RULE = "an answer cut by the token limit matches only when it holds a whole gold alias"


def match(answer: str, golds: Sequence[str], rule: str = "substring", truncated: bool = False) -> bool:
    """Whether `answer` matches one of the gold aliases under a matching rule (see the module table).

    truncated: the generation's token limit cut `answer`; then only a whole gold alias inside it
    counts, never the answer inside a gold (a cut-off prefix of the gold is not an answer).
    """
    try:
        rule_fn = _MATCH[rule]
    except KeyError:
        raise InternalsError(f"unknown matching rule {rule!r}: use one of {', '.join(MATCHERS)}") from None
    return rule_fn(answer, golds, truncated)


def describe(extraction: str, matching: str, truncated: bool = False) -> dict:
    """What a results file records about the rules that made its labels (`truncated`: whether cut
    answers were matched by `TRUNCATED_RULE`)."""
    out = {"extraction": extraction, "matching": matching, "module": "internals.answers"}
    return out | ({"truncated": TRUNCATED_RULE} if truncated else {})
