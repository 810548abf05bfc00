"""FanOutQA (dev set, CC BY-SA 4.0): multi-hop questions and their single-hop sub-questions.

The data ships inside the ``fanoutqa`` wheel (``pip install --no-deps fanoutqa==1.1.1``);
the package is located without being imported (its imports need packages we do not
install). ``$INTERNALS_FANOUTQA_FILE`` points at another ``fanout-final-dev.json``.

Multi-hop answers are structured (a dict entity -> value for 274 of 310 questions, else a
list, number, string or bool) and every part is required, so they are not aliases: a
`Record` of ``fanoutqa`` has one answer string (FanOutQA's own rendering, "key - value"
lines) and ``meta["required"]``, the strings FanOutQA's loose accuracy looks for.

Record counts on the full dev set, as printed by this code: fanoutqa 310; fanoutqa_sub
1772 (of 2142 leaf sub-questions: 341 list, 13 dict and 1 empty answer skipped, 15 ids
repeated across parents kept once).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InternalsError
from .records import Record, unique
from .spec import DatasetSpec

ENV_FILE = "INTERNALS_FANOUTQA_FILE"
LICENCE = "CC BY-SA 4.0 (FanOutQA)"
INSTALL = "pip install --no-deps fanoutqa==1.1.1"


def data_path() -> Path | None:
    """The dev-set JSON (``$INTERNALS_FANOUTQA_FILE`` or the installed wheel's), or None if absent."""
    override = os.environ.get(ENV_FILE)
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec("fanoutqa")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "fanout-final-dev.json"


def _load_questions() -> list[dict[str, Any]]:
    path = data_path()
    if path is None or not path.is_file():
        where = f"${ENV_FILE}={path}" if os.environ.get(ENV_FILE) else "the fanoutqa package"
        raise InternalsError(
            f"FanOutQA data not found in {where}: run `{INSTALL}` or set ${ENV_FILE} to fanout-final-dev.json"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InternalsError(f"{path} is not readable JSON ({exc}): reinstall with `{INSTALL}`") from exc
    if not isinstance(data, list):
        raise InternalsError(f"{path} is not a FanOutQA question list: reinstall with `{INSTALL}`")
    return data


def render(answer: Any) -> str:
    """An answer as one string, the way FanOutQA renders it for string metrics."""
    if isinstance(answer, list):
        return "\n".join(render(a) for a in answer)
    if isinstance(answer, dict):
        return "\n".join(f"{k} - {render(v)}" for k, v in answer.items())
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return "" if answer is None else str(answer)


def required_parts(answer: Any) -> list[str]:
    """Every string a full answer must contain (dict keys and values, list items), FanOutQA-style."""
    if isinstance(answer, list):
        return [p for a in answer for p in required_parts(a)]
    if isinstance(answer, dict):
        return [p for kv in answer.items() for x in kv for p in required_parts(x)]
    return [render(answer)] if render(answer).strip() else []


def scalar_aliases(answer: Any) -> tuple[str, ...]:
    """Aliases of a single-valued answer; () for lists, dicts, None and empty strings.

    Numbers are stringified, integers also with thousands separators ("680000", "680,000");
    booleans become "yes"/"no" as in FanOutQA's scorer.
    """
    if isinstance(answer, bool):
        return ("yes" if answer else "no",)
    if isinstance(answer, int):
        return tuple(dict.fromkeys([str(answer), f"{answer:,}"]))
    if isinstance(answer, float):
        text = repr(answer)
        return (text, str(int(answer))) if answer.is_integer() else (text,)
    if isinstance(answer, str) and answer.strip():
        return (answer.strip(),)
    return ()


def parse_questions(questions: list[dict[str, Any]], name: str = "fanoutqa") -> list[Record]:
    """The multi-hop questions: one answer string plus ``meta["required"]`` (see module doc)."""
    records = []
    for q in questions:
        meta = {
            "task": name,
            "answer": q["answer"],
            "required": required_parts(q["answer"]),
            "categories": q.get("categories", []),
            "n_subquestions": len(_leaves(q)),
        }
        records.append(Record(q["id"], q["question"].strip(), (render(q["answer"]).strip(),), meta=meta))
    return unique(records)


def parse_subquestions(questions: list[dict[str, Any]], name: str = "fanoutqa_sub") -> list[Record]:
    """The single-hop leaves of every decomposition whose answer is one value (see `scalar_aliases`).

    ``meta["group"]`` is the parent question's id, so a sub-question falls in the same
    split as its parent in ``fanoutqa``. A sub-question shared by two parents is kept once.
    """
    records = []
    for q in questions:
        for leaf in _leaves(q):
            answers = scalar_aliases(leaf["answer"])
            if not answers:
                continue
            evidence = leaf.get("evidence") or {}
            meta = {
                "task": name,
                "group": q["id"],
                "parent_id": q["id"],
                "answer": leaf["answer"],
                "evidence_title": evidence.get("title"),
                "evidence_url": evidence.get("url"),
                "depends_on": leaf.get("depends_on", []),
            }
            records.append(Record(leaf["id"], leaf["question"].strip(), answers, meta=meta))
    return unique(records)


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The sub-questions of ``node`` that have no decomposition of their own, depth first."""
    out: list[dict[str, Any]] = []
    for child in node.get("decomposition", []):
        out.extend(_leaves(child) if child.get("decomposition") else [child])
    return out


def _source() -> str:
    return f"FanOutQA dev ({data_path()})"


def _cached() -> bool:
    path = data_path()
    return path is not None and path.is_file()


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "fanoutqa",
        "qa",
        "FanOutQA multi-hop questions (all answer parts required)",
        LICENCE,
        load=lambda: parse_questions(_load_questions()),
        source=_source,
        cached=_cached,
    ),
    DatasetSpec(
        "fanoutqa_sub",
        "qa",
        "FanOutQA single-hop sub-questions with one-value answers",
        LICENCE,
        load=lambda: parse_subquestions(_load_questions()),
        source=_source,
        cached=_cached,
    ),
)
