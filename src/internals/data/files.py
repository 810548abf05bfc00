"""The user's own questions from a file, and writing records back to CSV.

Formats: ``.jsonl``; ``.json`` (a list of objects, or an object holding one such list under a
key, as the context-cutoff paper's data and many HF exports are); ``.csv``; ``.parquet``; and a
Hugging Face ``datasets`` dataset saved with ``save_to_disk`` (a directory; for a DatasetDict,
point at one split's directory). Field names are mapped, not renamed: ``fields={"question":
"input", "answers": "target"}`` (``--field question=input`` on the CLI) reads your ``input`` as
our ``question``. `SCHEMA` documents every field (``internals data schema`` prints it).

Fields (keys or columns); only ``question`` is required:

- ``question``: the prompt text.
- ``answers``: a list, or one string with aliases separated by ``|``.
- ``context``: a passage; ``evidence``: the gold evidence as text (found in the context: not
  found, or found twice, is an error naming the record), and/or ``evidence_start`` /
  ``evidence_end``: character offsets in it (checked to lie in the context and, when both are
  given, to agree with the text).
- ``choices``: a list, or a ``|``-separated string; ``target``: the correct choice's index
  (or its text).
- ``id``: kept if given (must be unique), else a hash of the content.
- ``meta``: an object (JSONL) or a JSON object string (CSV); other fields are added to it.

In CSV cells a JSON list (``["a", "b|c"]``) is read as a list, for values that contain ``|``.
Rows whose content repeats an earlier row exactly (and have no id) are dropped, counted on stderr
and in `Dataset.dropped`.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InternalsError
from .records import Dataset, Record, content_id, unique

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
FIELDS = (
    "id",
    "question",
    "answers",
    "context",
    "evidence",
    "evidence_start",
    "evidence_end",
    "choices",
    "target",
    "meta",
)
SCHEMA = (  # field, type, which analyses need it
    ("question", "string", "every analysis (the prompt)"),
    ("answers", "list of strings, or '|'-separated", "FactCheckmate labels, context cutoff accuracy, patching"),
    ("context", "string", "context cutoff (the passage read chunk by chunk)"),
    ("evidence", "string found in the context", "context cutoff (sufficiency labels); or evidence_start/_end"),
    ("evidence_start, evidence_end", "character offsets in the context", "context cutoff (instead of evidence)"),
    ("choices", "list of strings, or '|'-separated", "voids (multiple choice), closed-book refusal"),
    ("target", "index or text of the correct choice", "voids accuracy (with choices)"),
    ("id", "string, unique", "optional: kept in stores and results (else a content hash)"),
    ("meta", "object", "optional: kept; every other field joins it"),
)


def schema_table() -> str:
    """The documented schema as a text table (what `internals data schema` prints)."""
    rows = [("field", "type", "needed by"), *SCHEMA]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows)


def is_data_path(name: str) -> bool:
    """Whether `name` names a user's file or a saved HF dataset rather than a registered dataset."""
    p = Path(name)
    return p.suffix.lower() in SUFFIXES or (p.is_dir() and (p / "dataset_info.json").is_file())


def read_file(path: str | Path, fields: dict[str, str] | None = None) -> Dataset:
    """Every record of a user's file (see the module doc for the formats), in file order (split "all").

    fields: our field -> the file's name for it, e.g. {"question": "input", "answers": "target"}.
    """
    path = Path(path)
    fields = check_fields(fields)
    rows = _rows(path)
    records: list[Record] = []
    explicit: dict[str, int] = {}
    for line, row in rows:
        row = _mapped(row, fields)
        record = _record(
            row,
            f"{path}, {'line' if path.suffix.lower() in ('.jsonl', '.csv') else 'record'} {line}",
            path.stem,
            fields,
        )
        if row.get("id") not in (None, ""):
            if record.id in explicit:
                raise InternalsError(
                    f"{path}, line {line}: id {record.id!r} repeats line {explicit[record.id]}; make ids unique"
                )
            explicit[record.id] = line
        records.append(record)
    kept = unique(records)
    dropped = (
        {"a row that repeats an earlier row exactly": len(records) - len(kept)} if len(kept) < len(records) else {}
    )
    for reason, n in dropped.items():
        print(f"internals: {path}: dropped {n} row(s): {reason}", file=sys.stderr)
    return Dataset(path.stem, kept, source=str(path.resolve()), dropped=dropped)


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


def check_fields(fields: dict[str, str] | None) -> dict[str, str]:
    """A field mapping, checked: keys must be our fields."""
    fields = dict(fields or {})
    bad = [k for k in fields if k not in FIELDS]
    if bad:
        raise InternalsError(f"unknown field {bad[0]!r} in the field mapping: ours are {', '.join(FIELDS)}")
    return fields


def parse_field_options(options: list[str] | None) -> dict[str, str]:
    """CLI `--field ours=yours` options -> {ours: yours}."""
    out = {}
    for opt in options or []:
        ours, sep, yours = opt.partition("=")
        if not sep or not ours.strip() or not yours.strip():
            raise InternalsError(f"--field {opt!r}: write ours=yours, e.g. --field question=input")
        out[ours.strip()] = yours.strip()
    return check_fields(out)


def _mapped(row: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    if not fields:
        return row
    taken = set(fields.values())
    out = {k: v for k, v in row.items() if k not in taken and k not in fields}
    for ours, yours in fields.items():
        if yours in row:
            out[ours] = row[yours]
    return out


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if path.is_dir():
        return _hf_rows(path)
    if suffix not in SUFFIXES:
        raise InternalsError(
            f"{path}: unsupported file type; give a .jsonl, .json, .csv or .parquet file, or a "
            "directory written by datasets' save_to_disk"
        )
    if not path.is_file():
        raise InternalsError(f"{path} not found: give the path of an existing data file")
    if suffix == ".jsonl":
        return _jsonl_rows(path)
    if suffix == ".json":
        return _json_rows(path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    return _csv_rows(path)


def _numbered(items: list, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, row in enumerate(items, start=1):
        if not isinstance(row, dict):
            raise InternalsError(
                f"{path}, record {i}: expected an object with a question field, got {type(row).__name__}"
            )
        yield i, row


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    check_utf8(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InternalsError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) != 1:
            raise InternalsError(
                f"{path}: a JSON object must hold exactly one list of records under a key "
                f"(found {len(lists)}: {', '.join(lists) or 'none'}); or give a list of records"
            )
        data = data[lists[0]]
    if not isinstance(data, list):
        raise InternalsError(f"{path}: expected a JSON list of records (or an object holding one)")
    return _numbered(data, path)


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with datasets
        raise InternalsError("reading .parquet needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise InternalsError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:200]})") from None
    return _numbered(table.to_pylist(), path)


def _hf_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not (path / "dataset_info.json").is_file() and not (path / "state.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if p.is_dir() and (p / "dataset_info.json").is_file())
        if splits:
            raise InternalsError(f"{path} is a DatasetDict: point at one split's directory ({', '.join(splits)})")
        raise InternalsError(f"{path} is a directory but not a dataset saved with datasets' save_to_disk")
    from datasets import load_from_disk

    return _numbered(load_from_disk(str(path)).to_list(), path)


def check_utf8(path: Path) -> None:
    """Raise InternalsError naming the line and byte of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InternalsError(
            f"{path}, line {line}, byte {column}: not UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8"
        ) from None


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
        if reader.fieldnames is None:
            raise InternalsError(f"{path}, line 1: no header row; the first line must name the columns")
        for row in reader:
            if any((v or "").strip() for k, v in row.items() if k is not None):
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}


def _record(row: dict[str, Any], where: str, stem: str, fields: dict[str, str] | None = None) -> Record:
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        named = (fields or {}).get("question")
        how = (
            f"its field {named!r} is missing or empty"
            if named
            else "map the field that holds your question with --field question=<your field> (fields={'question': ...})"
        )
        raise InternalsError(f"{where}: no 'question' field; {how}")
    context = row.get("context") or None
    answers = _strings(row.get("answers"), where, "answers")
    choices = _strings(row.get("choices"), where, "choices") or None
    target = _target(row.get("target"), choices, where)
    evidence = _evidence_of(row, context, where)
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


def _evidence_of(row: dict[str, Any], context: str | None, where: str) -> tuple[int, int] | None:
    """The evidence span from text (found once in the context) and/or offsets (checked)."""
    span = _evidence(row.get("evidence_start"), row.get("evidence_end"), where)
    text = row.get("evidence")
    if isinstance(text, list):
        text = text[0] if len(text) == 1 else None if not text else text
    if text not in (None, "") and not isinstance(text, str):
        raise InternalsError(f"{where}: 'evidence' must be one string (the evidence text) or be left empty")
    if (span or text) and not context:
        raise InternalsError(f"{where}: evidence needs a 'context' to point into")
    if not context:
        return None  # no evidence given (evidence without a context raised above)
    if span is not None and not 0 <= span[0] < span[1] <= len(context):
        raise InternalsError(
            f"{where}: evidence offsets {span[0]}-{span[1]} lie outside its context ({len(context)} characters)"
        )
    if text:
        at = context.find(text)
        if at < 0:
            raise InternalsError(f"{where}: the evidence text {text[:60]!r} is not found in the context")
        if span is None and context.find(text, at + 1) >= 0:
            raise InternalsError(
                f"{where}: the evidence text {text[:60]!r} occurs more than once in the context; "
                "give evidence_start / evidence_end to say which"
            )
        if span is not None and context[span[0] : span[1]] != text:
            raise InternalsError(
                f"{where}: evidence offsets {span[0]}-{span[1]} cover "
                f"{context[span[0] : span[1]][:60]!r}, not the evidence text {text[:60]!r}"
            )
        span = span or (at, at + len(text))
    return span


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
