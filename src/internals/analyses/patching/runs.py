"""Activation patching end to end: pairs from a dataset, every restoration of every pair, the
summary, as one results document (`results.py`). Resumable: with a `checkpoint` file, the pairs
and each finished pair's restorations are appended as JSON lines, and a rerun with the same
settings and model continues after the last finished pair.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ...errors import InternalsError
from .pairs import Pair, PairSet, build_pairs, parse_relation
from .results import ANALYSIS, CATEGORIES, summarise_patching
from .trace import PatchConfig, trace_pair


def load_records(data):
    """(records, dataset entry for the manifest) from a dataset name, a .jsonl/.csv path, a Dataset
    or a list of Records; InternalsError when none is a "The <relation> of <subject> is" completion."""
    if isinstance(data, (str, Path)):
        from ...data import load_dataset

        data = load_dataset(str(data))
    records = list(data)
    if not any(r.answers and parse_relation(r.question) for r in records):
        raise InternalsError(
            "no record parses as 'The <relation> of <subject> is' with an answer: "
            "patching needs qa_wikidata-style completions (e.g. --data qa_wikidata)"
        )
    return records, {"name": getattr(data, "name", "records"), "source": getattr(data, "source", None)}


class Checkpoint:
    """JSON lines: an identity, the pairs, then one line per finished pair; reused only when the
    identity (model fingerprint and every setting that changes a number) is the same."""

    def __init__(self, path: str | Path | None, identity: dict):
        self.path, self.identity = (Path(path) if path else None), json.loads(json.dumps(identity))  # as read back
        self.pairs: PairSet | None = None
        self.done: dict[int, dict] = {}
        if self.path is not None and self.path.is_file():
            self._read()

    def _read(self) -> None:
        assert self.path is not None  # only called with a checkpoint file
        lines = [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
        if not lines or lines[0].get("identity") != self.identity:
            return  # another run's: start again (it is overwritten)
        for line in lines[1:]:
            if "pairs" in line:
                self.pairs = PairSet([Pair.from_dict(p) for p in line["pairs"]], line["stats"])
            elif "index" in line:
                self.done[line["index"]] = line["trace"]

    def start(self, pairs: PairSet) -> None:
        if self.path is None or self.pairs is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w") as f:
            f.write(json.dumps({"identity": self.identity}) + "\n")
            f.write(json.dumps({"pairs": [p.to_dict() for p in pairs.pairs], "stats": pairs.stats}) + "\n")

    def add(self, index: int, trace: dict) -> None:
        self.done[index] = trace
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"index": index, "trace": trace}) + "\n")


def patching_run(
    lm,
    data="qa_wikidata",
    *,
    n: int = 100,
    config: PatchConfig = PatchConfig(),
    seed: int = 0,
    min_gap: float = 0.1,
    correct_only: bool = True,
    n_boot: int = 1000,
    checkpoint=None,
    progress: bool = True,
) -> dict:
    """Build `n` pairs from `data` (a dataset name, a .jsonl/.csv path, a Dataset or Records),
    restore every (site, layer, position) of each, and summarise.

    Returns {"analysis", "manifest", "results"} for `results.save_results` and
    `figures.make_figures`; results["pairs"] holds each pair with p_clean, p_corrupt and
    p[site] `[layers][positions from the subject's first token]`, results["summary"] the
    bootstrap means per site `[categories][layers]`."""
    from ..depth.results import manifest  # the project's manifest: models, data, config, seed, versions, time

    if n < 1:
        raise InternalsError(f"n must be >= 1 pairs, got {n}")
    if not 0 <= min_gap < 1:
        raise InternalsError(f"min_gap must be in [0, 1), got {min_gap}")
    records, data_entry = load_records(data)
    identity = {
        "model": lm.fingerprint,
        "data": data_entry["name"],
        "n_records": len(records),
        "n": n,
        "seed": seed,
        "min_gap": min_gap,
        "correct_only": correct_only,
        "config": asdict(config),
    }
    identity["config"].pop("batch_size")  # rows per forward change no number
    ckpt = Checkpoint(checkpoint, identity)
    started = time.perf_counter()
    pairs = ckpt.pairs or build_pairs(
        lm, records, n, seed=seed, min_gap=min_gap, correct_only=correct_only, progress=progress
    )
    ckpt.start(pairs)
    paired = time.perf_counter()
    for i, pair in enumerate(tqdm(pairs.pairs, desc="patch", unit="pair", disable=not progress)):
        if i not in ckpt.done:
            ckpt.add(i, trace_pair(lm, pair, config))
    traces = [ckpt.done[i] for i in range(len(pairs.pairs))]
    # this call's seconds (a resumed run counts only what it did)
    seconds = {"pairs": paired - started, "patching": time.perf_counter() - paired}
    summary = summarise_patching(pairs.pairs, traces, config.sites, n_boot=n_boot, seed=seed)
    results = {
        "sites": list(config.sites),
        "n_layers": lm.n_layers,
        "categories": list(CATEGORIES),
        "window": config.window,
        "n_pairs": len(pairs.pairs),
        "seconds": seconds,
        "summary": summary,
        "p_clean_mean": sum(t["p_clean"] for t in traces) / len(traces),
        "p_corrupt_mean": sum(t["p_corrupt"] for t in traces) / len(traces),
        "pairs": [{**p.to_dict(), **t} for p, t in zip(pairs.pairs, traces)],
    }
    config_entry = {
        **asdict(config),
        "n": n,
        "min_gap": min_gap,
        "correct_only": correct_only,
        "n_boot": n_boot,
        "template": "raw prompt, no chat template",
        "threads": torch.get_num_threads(),
    }
    entry = manifest(
        models={lm.name: lm.describe()}, data={**data_entry, **pairs.stats}, config=config_entry, seed=seed
    )
    return {"analysis": ANALYSIS, "manifest": entry, "results": results}
