"""The unit every analysis reads: one question (with its gold answers) and a named sequence of them."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from ..errors import InternalsError


@dataclass(frozen=True)
class Record:
    """One example of a dataset.

    Attributes:
        id: stable identifier, unique within its dataset (a content hash when the source has none).
        question: the prompt text as the source gives it, minus obvious wrapping such as "Question:".
        answers: gold answer aliases (a lenient match against any of them counts); empty if none.
        context: the passage the question is about (reading-comprehension tasks), else None.
        evidence: character offsets ``[start, end)`` of the gold evidence in ``context``: the
            answer's first occurrence for extractive tasks, the annotated rationale for CoQA.
        choices: the options of a multiple-choice or yes/no question, in the source's order.
        target: index into ``choices`` of the correct option.
        meta: anything else worth keeping (source task, story id, ...). ``meta["group"]``, when
            present, is the unit of the train/validation/test split (e.g. a CoQA story), so that
            questions sharing a passage never straddle two splits.
    """

    id: str
    question: str
    answers: tuple[str, ...] = ()
    context: str | None = None
    evidence: tuple[int, int] | None = None
    choices: tuple[str, ...] | None = None
    target: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.evidence is not None:
            start, end = self.evidence
            if self.context is None or not 0 <= start <= end <= len(self.context):
                raise InternalsError(
                    f"record {self.id}: evidence {self.evidence} lies outside its context; "
                    "give 0 <= start <= end <= len(context)"
                )
        if self.target is not None and (self.choices is None or not 0 <= self.target < len(self.choices)):
            raise InternalsError(f"record {self.id}: target {self.target} is not an index into its choices")

    @property
    def evidence_text(self) -> str | None:
        """``context[start:end]``, or None when the record has no evidence span."""
        if self.evidence is None or self.context is None:
            return None
        return self.context[self.evidence[0] : self.evidence[1]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the flat layout that `internals.data.files` reads back."""
        return {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "context": self.context,
            "evidence_start": None if self.evidence is None else self.evidence[0],
            "evidence_end": None if self.evidence is None else self.evidence[1],
            "choices": None if self.choices is None else list(self.choices),
            "target": self.target,
            "meta": self.meta,
        }

    def shuffled_choices(self, seed: int = 0) -> Record:
        """A copy with the choices in a seeded random order (and ``target`` moved with them).

        Some sources always list the right option first (truthful_qa_mc, most of
        date_understanding): shuffle before showing lettered options to a model.
        """
        if self.choices is None:
            return self
        order = list(range(len(self.choices)))
        random.Random(f"{seed}:{self.id}").shuffle(order)
        target = None if self.target is None else order.index(self.target)
        return replace(self, choices=tuple(self.choices[i] for i in order), target=target)


def content_id(prefix: str, *parts: Any) -> str:
    """A short id that depends only on the record's content: ``"<prefix>-<12 hex>"``."""
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:12]}"


def unique(records: Iterable[Record]) -> list[Record]:
    """Drop records whose id was already seen (exact duplicates in the source), keeping the first."""
    seen: set[str] = set()
    kept = []
    for record in records:
        if record.id not in seen:
            seen.add(record.id)
            kept.append(record)
    return kept


class Dataset(Sequence[Record]):
    """An immutable, named sequence of records.

    Attributes:
        name: the registered name (or the file stem of a user file).
        split: "all", "train", "validation" or "test".
        source: where the records came from (file path and origin).
        dropped: reason -> how many source rows were left out on reading (a user's file: rows that
            repeat an earlier row exactly), printed when read and kept for manifests.
    """

    def __init__(
        self,
        name: str,
        records: Iterable[Record],
        split: str = "all",
        source: str = "",
        dropped: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.split = split
        self.source = source
        self.dropped = dict(dropped or {})
        self._records: tuple[Record, ...] = tuple(records)
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Dataset: ...
    def __getitem__(self, index: int | slice) -> Record | Dataset:
        if isinstance(index, slice):
            return Dataset(self.name, self._records[index], self.split, self.source)
        return self._records[index]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, split={self.split!r}, n={len(self)}, fingerprint={self.fingerprint!r})"

    @property
    def fingerprint(self) -> str:
        """First 16 hex digits of the sha256 of the records' content (order included)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for record in self._records:
                line = json.dumps(asdict(record), sort_keys=True, ensure_ascii=False, default=list)
                digest.update(line.encode("utf-8") + b"\n")
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def to_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per record (the layout `load_dataset` reads back); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for record in self._records:
                f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        return path
