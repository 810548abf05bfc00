"""Find datasets by name, split them reproducibly, list what exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import InternalsError
from . import bigbench, fanoutqa
from .files import is_data_path, read_file
from .records import Dataset, Record
from .spec import DatasetSpec

SPLITS = ("all", "train", "validation", "test")
_BOUNDS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}

_SPECS: dict[str, DatasetSpec] = {s.name: s for s in (*bigbench.DATASETS, *fanoutqa.DATASETS)}


@dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets` tells about one dataset.

    Attributes:
        name: what to pass to `load_dataset`.
        kind: "qa", "context_qa", "mc" or "yesno" (see `internals.data.spec.KINDS`).
        description: one line.
        licence: the data's licence.
        size: number of records when the data is on disk already, else None (nothing is downloaded).
    """

    name: str
    kind: str
    description: str
    licence: str
    size: int | None


def list_datasets(sizes: bool = True, all_tasks: bool = False) -> list[DatasetInfo]:
    """Every registered dataset; ``sizes=False`` skips parsing the cached files to count records.
    ``all_tasks``: also every JSON task of the BIG-bench sdist as ``bigbench:<task>`` (indexed once,
    downloading the sdist first if needed), sized by its example count."""
    out = [
        DatasetInfo(s.name, s.kind, s.description, s.licence, len(s.load()) if sizes and s.cached() else None)
        for s in _SPECS.values()
    ]
    if all_tasks:
        from .bigbench_files import task_index

        for rel, info in sorted(task_index().items()):
            out.append(
                DatasetInfo(
                    bigbench.task_name(rel),
                    "mc" if info["choices"] else "qa",
                    f"BIG-bench {rel}" + (" (task_prefix)" if info["prefix"] else ""),
                    bigbench.BIGBENCH,
                    info["examples"],
                )
            )
    return out


def load_dataset(
    name: str, split: str = "all", limit: int | None = None, seed: int = 0, fields: dict[str, str] | None = None
) -> Dataset:
    """A dataset by registered name, or from a ``.jsonl`` / ``.csv`` path.

    A limit larger than the split holds is a warning on stderr with the real count.

    Args:
        name: a name from `list_datasets`, or a path to the user's file (see `internals.data.files`).
        split: "all", or "train" / "validation" / "test": an 80/10/10 split by a seeded hash of
            each record's split unit (``meta["group"]`` if set, else its id), so a record's split
            never changes when the dataset grows.
        limit: keep at most this many records of the split: the first ``limit`` in a seeded
            hash order (the source files are often sorted, so a file-order prefix would be
            biased), returned in source order. None keeps all.
        seed: changes both the split and the ``limit`` sample.
        fields: for a user's file, our field -> the file's name for it (see `internals.data.files`).

    Raises:
        InternalsError: unknown name or split, a bad limit, or an empty result.
    """
    if split not in SPLITS:
        raise InternalsError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise InternalsError(f"limit must be a non-negative integer or None, not {limit!r}")
    if fields and not is_data_path(name):
        raise InternalsError(f"a field mapping applies to your own files, not to the registered dataset {name!r}")
    if name in _SPECS or name.startswith(bigbench.PREFIX):
        spec = _SPECS[name] if name in _SPECS else bigbench.any_task(name)
        dataset = Dataset(name, spec.load(), source=spec.source())
    elif is_data_path(name):
        dataset = read_file(name, fields)
    else:
        raise InternalsError(
            f"unknown dataset {name!r}: use one of {', '.join(_SPECS)}, bigbench:<task> (any BIG-bench task; "
            "`internals data list --all`), or a path to your .jsonl/.json/.csv/.parquet file or saved HF dataset dir"
        )
    records = [r for r in dataset if split == "all" or split_of(r, seed) == split]
    if limit is not None and limit > len(records):
        import sys

        print(
            f"internals: warning: asked for {limit} records of {dataset.name} (split {split}) but it holds "
            f"{len(records)}: using {len(records)}",
            file=sys.stderr,
        )
    if limit is not None:
        chosen = set(sorted(range(len(records)), key=lambda i: _unit(f"order:{seed}:{records[i].id}"))[:limit])
        records = [r for i, r in enumerate(records) if i in chosen]
    if not records:
        raise InternalsError(
            f"dataset {dataset.name} is empty (split={split}, limit={limit}): "
            "check the file has rows, or ask for another split or a larger limit"
        )
    return Dataset(dataset.name, records, split=split, source=dataset.source, dropped=dataset.dropped)


def split_of(record: Record, seed: int = 0) -> str:
    """ "train", "validation" or "test": where ``record`` falls in the seeded 80/10/10 split."""
    u = _unit(f"split:{seed}:{record.meta.get('group') or record.id}")
    return next(s for s, (lo, hi) in _BOUNDS.items() if lo <= u < hi)


def _unit(key: str) -> float:
    """A uniform number in [0, 1) determined by ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
