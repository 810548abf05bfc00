"""`capture_to_store`: stream a capture over a dataset into shards, resumably and data-parallel."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ..capture import capture
from ..capture.apply import bind
from ..capture.capture import attached_described, resolve_sites
from ..capture.edits import as_edits
from ..capture.inputs import span_range
from ..capture.reducers import Moments, reducer
from ..errors import InternalsError
from ..prompts import prompts_sha256, render, resolve_template
from .config import StoreConfig, dataset_part, package_versions
from .dist import Dist
from .files import append_jsonl, check_shard, pad_concat, read_jsonl, rewrite_jsonl, write_json, write_shard
from .reader import MANIFEST, ROW_IDS, SHARDS, Store, index_files, load_json

if TYPE_CHECKING:
    from ..capture.edits import EditsLike
    from ..capture.sites import SiteSpecs
    from ..models import LoadedModel

FORMAT = "internals.store/1"


def capture_to_store(
    lm: LoadedModel,
    data: Sequence[Any],
    sites: SiteSpecs,
    reduce: str = "mean",
    out: str | Path = "stores",
    *,
    template: str = "raw",
    span: str = "all",
    batch_size: int = 8,
    shard_rows: int = 256,
    backend: str = "hooks",
    progress: bool = True,
    max_tokens: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    edits: EditsLike = None,
) -> Store:
    """Capture `sites` of `lm` over every row of `data` into the store `<out>/<config hash>`.

    data: a `Dataset` (rows keep its record ids) or a list of prompts (row ids are 0..n-1);
        records become prompts through `template` (see `internals.prompts`; "auto" is recorded
        as what it resolves to, "chat" or the base model's format string).
    shard_rows: rows per shard file, and what is held in memory before a write (mind it for
        reduce "none" over long prompts); a killed run loses at most one shard per rank. Keep it
        a multiple of batch_size (the default is) so the batches are those an in-memory `capture`
        with the same batch_size runs: the arrays are then bit-identical to it (on the same
        device and thread count: a CPU matmul's rounding depends on the number of threads).
    limit, seed: how `data` was drawn from its source; recorded in the manifest.
    edits: edits (`internals.edits`) applied while capturing; recorded in the manifest and part of
        the store's identity (edits attached with `lm.edit(...)` count too).

    A store already there with the same config is resumed: its shards are verified and only the
    missing rows are captured. Under torchrun / accelerate launch each rank captures its share
    of the missing rows and writes its own shards; rank 0 writes the one manifest. Every rank
    returns the finished store.
    """
    if batch_size < 1 or shard_rows < 1:
        raise InternalsError(f"batch_size and shard_rows must be >= 1, got {batch_size} and {shard_rows}")
    if max_tokens is not None and max_tokens < 1:
        raise InternalsError(f"max_tokens must be >= 1, got {max_tokens}")
    site_list = resolve_sites(lm, sites)
    reducer(reduce)
    span_range(span, 2, 1)  # an unknown span fails now, not after the model has loaded the first batch
    if len(data) == 0:
        name = getattr(data, "name", None)
        raise InternalsError(
            f"dataset {name!r} has no records: nothing to capture" if name else "no prompts given: nothing to capture"
        )
    template = resolve_template(template, lm.tokenizer)
    prompts = render(data, template, lm.tokenizer)
    edit_set = as_edits(edits)
    bind(lm.model, edit_set)  # a bad edit fails now, before any store is made
    described = edit_set.describe() + attached_described(lm)
    ids = [r.id for r in data] if hasattr(data[0], "question") and hasattr(data[0], "id") else list(range(len(data)))
    config = StoreConfig(
        model=lm.describe(),
        dataset=dataset_part(data, prompts_sha256(prompts), limit, seed),
        sites=[s.name for s in site_list],
        reduce=reduce,
        span=span,
        template=template,
        max_tokens=max_tokens,
        backend=backend,
        seed=seed,
        versions=package_versions(),
        edits=described,
    )
    dist = Dist.setup(lm.device)
    lock = _Lock()
    try:
        root = store_dir(out, config.config_hash())
        started = time.time()
        done = dist.from_rank0(
            lambda: _prepare(root, config, ids, lock, dist.world, str(lm.device), batch_size, shard_rows)
        )
        remaining = sorted(set(range(len(prompts))) - set(done))
        mine = remaining[dist.rank :: dist.world]
        if progress and dist.rank == 0:
            note = f" (resuming: {len(done)} of {len(prompts)} rows already there)" if done else ""
            print(f"internals: store {root}{note}", file=sys.stderr)
        bar = tqdm(
            total=len(prompts) if dist.world == 1 else len(mine),
            initial=len(done) if dist.world == 1 else 0,
            desc="capture" if dist.world == 1 else f"capture rank 0/{dist.world}",
            unit="row",
            disable=not progress or dist.rank != 0,
        )
        with bar:
            for start in range(0, len(mine), shard_rows):
                rows = mine[start : start + shard_rows]
                parts = []
                for b in range(0, len(rows), batch_size):
                    chunk = rows[b : b + batch_size]
                    parts.append(
                        capture(
                            lm,
                            [prompts[i] for i in chunk],
                            site_list,
                            reduce,
                            span=span,
                            backend=backend,
                            batch_size=len(chunk),
                            max_tokens=max_tokens,
                            edits=edit_set or None,
                        )
                    )
                    bar.update(len(chunk))
                _write(root, dist.rank, rows, _shard_arrays(parts, rows, reduce))
        dist.barrier()
        dist.from_rank0(lambda: _finish(root, started, dist.world, len(prompts)))
    finally:
        lock.release()
        dist.close()
    return Store.open(root, verify=False)


def store_dir(out: str | Path, config_hash: str) -> Path:
    """`<out>/<config_hash>`; `out` may also be that store dir itself."""
    out = Path(out)
    manifest = load_json(out / MANIFEST)
    if manifest is not None:
        if manifest.get("config_hash") != config_hash:
            raise InternalsError(
                f"{out} is a store of another capture (config {manifest.get('config_hash')}, this one is "
                f"{config_hash}): give its parent dir or a new --out"
            )
        return out
    return out / config_hash


def _prepare(
    root: Path, config: StoreConfig, ids: list, lock: _Lock, world: int, device: str, batch_size: int, shard_rows: int
) -> list[int]:
    """Rank 0: create or verify the store, drop shards that are lost or corrupt, write the manifest.

    Returns the rows already captured.
    """
    (root / SHARDS).mkdir(parents=True, exist_ok=True)
    lock.acquire(root)
    manifest = load_json(root / MANIFEST)
    config_hash = config.config_hash()
    if manifest is not None and manifest.get("config_hash") != config_hash:
        raise InternalsError(
            f"{root} holds a store of another config ({manifest.get('config_hash')} != {config_hash}): "
            "delete it or choose another --out"
        )
    done: list[int] = []
    kept_files = set()
    for index in index_files(root):
        raw = index.read_text(encoding="utf-8")
        entries = read_jsonl(index)
        good = [e for e in entries if _usable(root, e)]
        if len(good) != len(entries) or (raw and not raw.endswith("\n")):
            rewrite_jsonl(index, good)
        for e in good:
            done.extend(e["rows"])
            kept_files.add(e["shard"])
    if len(done) != len(set(done)) or (done and max(done) >= len(ids)):
        raise InternalsError(
            f"{root}: the shard index lists a row twice or out of range: delete the store dir and capture again"
        )
    for leftover in (root / SHARDS).iterdir():  # shards whose index line never landed, temp files
        if f"{SHARDS}/{leftover.name}" not in kept_files:
            leftover.unlink()
    write_json(root / ROW_IDS, ids)
    now = _now()
    if manifest is None:
        manifest = {
            "format": FORMAT,
            "config_hash": config_hash,
            "status": "running",
            "created": now,
            "config": config.to_dict(),
            "n_rows": len(ids),
            "rows": len(done),
            "sessions": [],
        }
    manifest.update(status="running", rows=len(done))
    manifest["sessions"].append(
        {
            "started": now,
            "world_size": world,
            "device": device,
            "rows_at_start": len(done),
            "batch_size": batch_size,
            "shard_rows": shard_rows,
            "versions": config.versions,
        }
    )
    write_json(root / MANIFEST, manifest)
    return sorted(done)


def _usable(root: Path, entry: dict) -> bool:
    problem = check_shard(root / entry["shard"], entry["sha256"], entry["bytes"])
    if problem is None:
        return True
    print(
        f"internals: shard {entry['shard']} {problem}; capturing its {len(entry['rows'])} rows again", file=sys.stderr
    )
    (root / entry["shard"]).unlink(missing_ok=True)
    return False


def _shard_arrays(parts: list, rows: list[int], reduce: str) -> dict[str, np.ndarray]:
    """One shard's tensors: a site per name (stats: name/count, /mean, /m2 partial moments), row_index, mask."""
    arrays: dict[str, np.ndarray] = {"row_index": np.asarray(rows, dtype=np.int64)}
    for site in parts[0]:
        if reduce == "stats":
            m = Moments()
            for p in parts:
                m = m.merge(p[site])
            arrays[f"{site}/count"] = np.asarray([m.count], dtype=np.int64)
            if m.count:
                mean, m2 = m.sums()
                arrays[f"{site}/mean"] = mean.numpy()
                arrays[f"{site}/m2"] = m2.numpy()
        elif reduce in ("none", "norm"):
            arrays[site] = pad_concat([p[site].numpy() for p in parts])
        else:
            arrays[site] = np.concatenate([p[site].numpy() for p in parts])
    if reduce in ("none", "norm"):
        arrays["mask"] = pad_concat([p.mask.numpy() for p in parts])
    return arrays


def _write(root: Path, rank: int, rows: list[int], arrays: dict[str, np.ndarray]) -> None:
    """Shard file first (atomic), index line second: a row counts as written once its line is there."""
    name = f"{SHARDS}/r{rank}-{rows[0]:09d}.safetensors"
    sha, size = write_shard(root / name, arrays)
    append_jsonl(
        root / f"index-r{rank}.jsonl", {"shard": name, "rank": rank, "rows": list(rows), "sha256": sha, "bytes": size}
    )


def _finish(root: Path, started: float, world: int, n_rows: int) -> None:
    manifest = load_json(root / MANIFEST)
    shards: dict[str, list[str]] = {}
    rows = 0
    for index in index_files(root):
        for e in read_jsonl(index):
            shards.setdefault(str(e["rank"]), []).append(e["shard"])
            rows += len(e["rows"])
    wall = round(time.time() - started, 3)
    manifest["sessions"][-1]["wall_s"] = wall
    manifest.update(
        status="complete" if rows == n_rows else "incomplete",
        rows=rows,
        world_size=world,
        shards=shards,
        n_shards=sum(len(v) for v in shards.values()),
        completed=_now(),
        wall_s=round(sum(s.get("wall_s", 0) for s in manifest["sessions"]), 3),
    )
    write_json(root / MANIFEST, manifest)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Lock:
    """An exclusive lock on `<store>/.lock` while rank 0 writes (released by the OS if the process dies)."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None

    def acquire(self, root: Path) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; concurrent writers are the user's to avoid
            return
        self.file = open(root / ".lock", "w")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            self.file = None
            raise InternalsError(
                f"another capture is writing to {root}: wait for it to finish, or stop it, then run again"
            ) from None

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
