"""A real English text corpus for tracing and from-scratch training: BIG-bench passages.

The passages of three reading tasks in the BIG-bench sdist (through `internals.data`): CoQA
stories (697, ~1.1 MB), the SQuAD 2.0 passages of disfl_qa (~1,200, ~1.0 MB) and the Natural
Questions passages of contextual_parametric_knowledge_conflicts (~17,500, ~9.8 MB; that task
edits an entity in each passage on purpose, so some passages occur in several edited versions).

Documents are deduplicated (whitespace-normalised exact text), and near-duplicates (passages
that share their first or their last 12 words, e.g. two edits of one NQ passage) form one group.
Whole groups are held out for validation by a seeded hash, so no validation document has a
sibling in the training set. The SQuAD and NQ passages are tokenised text ("the university ' s
library , which"); `detokenize=True` (the default) rejoins punctuation the way Moses'
detokeniser does for English, so the text reads like ordinary prose.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ...errors import InternalsError

SOURCES = ("coqa", "disfl_qa", "contextual_parametric_knowledge_conflicts")
_EDGE_WORDS = 12

_DETOK = [
    (re.compile(r"`` ?"), '"'),
    (re.compile(r" ?''"), '"'),
    (re.compile(r"(\d) ([.,]) (\d)"), r"\1\2\3"),  # before the general rule eats " ."
    (re.compile(r" ([,.;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" ' (s|re|ve|ll|d|m|t)\b"), r"'\1"),
    (re.compile(r" 's\b"), "'s"),
    (re.compile(r" n't\b"), "n't"),
    (re.compile(r"(\w) - (\w)"), r"\1-\2"),
]


def detokenize(text: str) -> str:
    """Undo space-separated punctuation ("9 . 8 million , the 11th") -> "9.8 million, the 11th"."""
    for pattern, repl in _DETOK:
        text = pattern.sub(repl, text)
    return text


@dataclass(frozen=True)
class Corpus:
    """Train and validation documents (strings), whole near-duplicate groups on one side.

    `fingerprint` is a sha256 prefix of both lists; `stats` counts documents and characters
    per source and split.
    """

    train: tuple[str, ...]
    validation: tuple[str, ...]
    sources: tuple[str, ...]
    seed: int
    validation_fraction: float
    fingerprint: str
    stats: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """The manifest entry for this corpus."""
        return {
            "sources": list(self.sources),
            "seed": self.seed,
            "validation_fraction": self.validation_fraction,
            "n_train": len(self.train),
            "n_validation": len(self.validation),
            "fingerprint": self.fingerprint,
            "stats": self.stats,
        }


def load_corpus(
    sources: tuple[str, ...] = SOURCES, validation_fraction: float = 0.05, seed: int = 0, detokenize_text: bool = True
) -> Corpus:
    """Deduplicated passages of `sources` (dataset names of `internals.data`), split into
    train / validation by near-duplicate group (seeded hash; `validation_fraction` of groups)."""
    from ...data import load_dataset

    if not 0.0 < validation_fraction < 1.0:
        raise InternalsError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    docs: dict[str, str] = {}  # text -> source, first source wins
    for name in sources:
        for record in load_dataset(name):
            text = " ".join((record.context or "").split())
            if detokenize_text:
                text = detokenize(text)
            if text and text not in docs:
                docs[text] = name
    if not docs:
        raise InternalsError(f"no passages found in {', '.join(sources)}: pick datasets whose records have a context")
    texts = sorted(docs)  # a fixed order independent of file order
    groups = near_duplicate_groups(texts)
    train: list[str] = []
    val: list[str] = []
    stats: dict = {}
    for text, group in zip(texts, groups):
        split = "validation" if _unit(f"{seed}:{group}") < validation_fraction else "train"
        (val if split == "validation" else train).append(text)
        entry = stats.setdefault(docs[text], {}).setdefault(split, {"documents": 0, "chars": 0})
        entry["documents"] += 1
        entry["chars"] += len(text)
    if not val or not train:
        raise InternalsError("the corpus split left one side empty: use more sources or another validation_fraction")
    train, val = _shuffled(train, seed), _shuffled(val, seed)
    h = hashlib.sha256("\x00".join(train + ["\x01"] + val).encode()).hexdigest()[:16]
    return Corpus(tuple(train), tuple(val), tuple(sources), seed, validation_fraction, h, stats)


def near_duplicate_groups(texts: list[str]) -> list[str]:
    """A group key per text: texts sharing their first or last 12 words are one group (union-find)."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        words = text.split()
        for key in ("^" + " ".join(words[:_EDGE_WORDS]), "$" + " ".join(words[-_EDGE_WORDS:])):
            j = seen.setdefault(key, i)
            parent[find(i)] = find(j)
    return [texts[find(i)] for i in range(len(texts))]


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def _shuffled(items: list[str], seed: int) -> list[str]:
    return sorted(items, key=lambda t: _unit(f"order:{seed}:{t}"))


def texts_for(
    data: str, n: int, n_heldout: int, seed: int = 0, fields: dict[str, str] | None = None
) -> tuple[list[str], list[str], dict]:
    """Prompts to trace and held-out texts for the ablation, from `data`:

    - "corpus": the passage corpus above (trace: training documents; ablation: validation ones);
    - a dataset name of `internals.data` or your data file: records' context (else question),
      trace from its train split, ablation from its validation split;
    - a .txt file: one text per line, every 10th line (by a seeded hash) held out.
    fields: your file's field names (our field -> yours), as `internals.data.load_dataset` takes.
    Fewer texts than `n` is a warning on stderr with the real count.
    Returns (prompts [<= n], heldout [<= n_heldout], manifest entry).
    """
    from pathlib import Path

    from ...data import load_dataset

    if n < 1:
        raise InternalsError(f"the number of prompts must be >= 1, got {n}")
    if data == "corpus":
        corpus = load_corpus(seed=seed)
        return list(corpus.train[:n]), list(corpus.validation[:n_heldout]), {"name": "corpus", **corpus.describe()}
    if data.endswith(".txt"):
        path = Path(data)
        if not path.is_file():
            raise InternalsError(f"{data} not found: give a text file with one prompt per line")
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        held: list[str] = [s for s in lines if _unit(f"{seed}:{s}") < 0.1]
        rest = [s for s in lines if _unit(f"{seed}:{s}") >= 0.1]
        h = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        return (
            rest[:n],
            held[:n_heldout],
            {"name": path.name, "source": str(path.resolve()), "fingerprint": h, "n_lines": len(lines)},
        )

    def text(r) -> str:
        return r.context or r.question

    train = load_dataset(data, split="train", seed=seed, fields=fields)
    prompts = list(dict.fromkeys(text(r) for r in train))[:n]  # records may share a passage: trace each once
    if len(prompts) < n:
        import sys

        print(
            f"internals: warning: asked for {n} prompts of {train.name} (train split, unique texts) but it holds "
            f"{len(prompts)}: using {len(prompts)}",
            file=sys.stderr,
        )
    held = []
    if n_heldout:
        try:
            valid = load_dataset(data, split="validation", seed=seed, fields=fields)
            held = list(dict.fromkeys(text(r) for r in valid))[:n_heldout]
        except InternalsError:  # an empty validation split: no ablation rather than no trace
            held = []
    entry = {
        "name": train.name,
        "fingerprint": train.fingerprint,
        "source": train.source,
        "seed": seed,
        "text": "context, else question; unique; train split (trace), validation split (ablation)",
    }
    return prompts, held, entry
