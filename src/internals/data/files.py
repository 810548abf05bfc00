"""The user's own questions from a JSONL or CSV file, and writing records back to CSV.

Fields (JSONL keys or CSV columns); only ``question`` is required:

- ``question``: the prompt text.
- ``answers``: a list, or one string with aliases separated by ``|``.
- ``context``: a passage; ``evidence_start`` / ``evidence_end``: character offsets in it.
- ``choices``: a list, or a ``|``-separated string; ``target``: the correct choice's index
  (or its text).
- ``id``: kept if given (must be unique), else a hash of the content.
- ``meta``: an object (JSONL) or a JSON object string (CSV); other fields are added to it.

In CSV cells a JSON list (``["a", "b|c"]``) is read as a list, for values that contain ``|``.
Rows whose content repeats an earlier row exactly (and have no id) are dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InternalsError
from .records import Dataset, Record, content_id, unique

SUFFIXES = (".jsonl", ".csv")
FIELDS = ("id", "question", "answers", "context", "evidence_start", "evidence_end", "choices", "target", "meta")


def read_file(path: str | Path) -> Dataset:
    """Every record of a user's ``.jsonl`` or ``.csv`` file, in file order (split "all")."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise InternalsError(f"{path}: unsupported file type; give a .jsonl or .csv file")
    if not path.is_file():
        raise InternalsError(f"{path} not found: give the path of an existing .jsonl or .csv file")
    rows = _jsonl_rows(path) if path.suffix.lower() == ".jsonl" else _csv_rows(path)
    records: list[Record] = []
    explicit: dict[str, int] = {}
    for line, row in rows:
        record = _record(row, f"{path}, line {line}", path.stem)
        if row.get("id") not in (None, ""):
            if record.id in explicit:
                raise InternalsError(
                    f"{path}, line {line}: id {record.id!r} repeats line {explicit[record.id]}; make ids unique"
                )
            explicit[record.id] = line
        records.append(record)
    return Dataset(path.stem, unique(records), source=str(path.resolve()))


def write_csv(records: Iterable[Record], path: str | Path) -> Path:
    """Write records as CSV in the layout `read_file` reads back (meta as a JSON column)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            row["answers"] = _join(record.answers)
            row["choices"] = None if record.choices is None else _join(record.choices)
            row["meta"] = json.dumps(record.meta, ensure_ascii=False) if record.meta else ""
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def check_utf8(path: Path) -> None:
    """Raise InternalsError naming the line and byte of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InternalsError(f"{path}, line {line}, byte {column}: not UTF-8 (byte 0x{data[err.start]:02x}); "
                             "save the file as UTF-8") from None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    check_utf8(path)
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InternalsError(
                    f"{path}, line {line_no}: not valid JSON ({exc.msg}); fix or remove that line"
                ) from exc
            if not isinstance(row, dict):
                raise InternalsError(f"{path}, line {line_no}: expected a JSON object with a 'question' field")
            yield line_no, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    check_utf8(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "question" not in reader.fieldnames:
            raise InternalsError(f"{path}, line 1: the header has no 'question' column; add one")
        for row in reader:
            if any((v or "").strip() for k, v in row.items() if k is not None):
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}


def _record(row: dict[str, Any], where: str, stem: str) -> Record:
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InternalsError(f"{where}: no 'question' field; every row needs a non-empty question")
    context = row.get("context") or None
    answers = _strings(row.get("answers"), where, "answers")
    choices = _strings(row.get("choices"), where, "choices") or None
    target = _target(row.get("target"), choices, where)
    evidence = _evidence(row.get("evidence_start"), row.get("evidence_end"), where)
    meta = _meta(row.get("meta"), where)
    meta.update({k: v for k, v in row.items() if k not in FIELDS and v not in (None, "")})
    rid = row.get("id")
    rid = str(rid) if rid not in (None, "") else content_id(stem, question, answers, context, evidence, choices, target)
    try:
        return Record(rid, question, answers, context, evidence, choices, target, meta)
    except InternalsError as exc:
        raise InternalsError(f"{where}: {exc}") from exc


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, str):
            value = value.split("|")
    if not isinstance(value, list):
        raise InternalsError(f"{where}: '{name}' must be a list or a '|'-separated string")
    return tuple(s for s in (str(v).strip() for v in value if v is not None) if s)


def _target(value: Any, choices: tuple[str, ...] | None, where: str) -> int | None:
    if value is None or value == "":
        return None
    if choices is None:
        raise InternalsError(f"{where}: 'target' needs 'choices'; add the choices or drop the target")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text in choices:
        return choices.index(text)
    raise InternalsError(f"{where}: 'target' {text!r} is neither an index nor one of the choices")


def _evidence(start: Any, end: Any, where: str) -> tuple[int, int] | None:
    if start in (None, "") and end in (None, ""):
        return None
    try:
        return int(start), int(end)
    except (TypeError, ValueError):
        raise InternalsError(f"{where}: give both evidence_start and evidence_end as integers") from None


def _meta(value: Any, where: str) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InternalsError(f"{where}: 'meta' must be a JSON object") from None
    if not isinstance(value, dict):
        raise InternalsError(f"{where}: 'meta' must be a JSON object")
    return dict(value)


def _join(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False) if any("|" in v for v in values) else "|".join(values)
