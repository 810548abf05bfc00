"""A capture killed mid-run (SIGKILL) and started again ends with exactly the rows of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np

from _store_helpers import cli_command, cli_env, one_thread, run_cli
from internals import load_model
from internals.data import load_dataset
from internals.store import Store, capture_to_store

SITES = ["resid_post.*", "attn_z.1"]
ARGS = ["--data", "qa_wikidata", "--sites", *SITES, "--reduce", "none", "--batch-size", "1", "--shard-rows", "3"]


def _shards_indexed(out) -> int:
    return sum(len(p.read_text().splitlines()) for p in out.glob("*/index-r*.jsonl"))


def test_killed_capture_resumes_without_losing_or_repeating_rows(tiny_dirs, tmp_path, slices):
    model = str(tiny_dirs["llama"])
    out = tmp_path / "killed"
    cmd = cli_command("capture", "--model", model, *ARGS, "--out", str(out))
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while _shards_indexed(out) == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # the moment the first shard has landed
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"capture ended by itself before the kill: {err[-500:]}"
    (root,) = out.iterdir()
    manifest = json.loads((root / "manifest.json").read_text())
    written = _shards_indexed(out)
    assert manifest["status"] == "running" and 1 <= written < 14, written  # 41 rows / 3 = 14 shards

    resumed = run_cli("capture", "--model", model, *ARGS, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {3 * written} of 41 rows already there" in resumed.stderr
    assert resumed.stdout.splitlines()[0] == str(root)

    data = load_dataset("qa_wikidata")
    lm = load_model(model, device="cpu")
    with one_thread():
        whole = capture_to_store(
            lm, data, SITES, "none", tmp_path / "whole", batch_size=1, shard_rows=3, progress=False
        )
    store = Store.open(root)
    assert root.name == whole.path.name  # the same config hash
    assert store.rows() == whole.rows() == [r.id for r in data]
    assert list(store.row_index()) == list(range(41))  # no row lost, none twice
    assert np.array_equal(store.mask, whole.mask)
    for site in whole.sites:
        assert np.array_equal(store[site], whole[site]), site
    sessions = store.manifest["sessions"]
    assert [s["rows_at_start"] for s in sessions] == [0, 3 * written] and store.manifest["status"] == "complete"
    assert not [p for p in (root / "shards").iterdir() if ".tmp" in p.name]
