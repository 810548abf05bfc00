"""Data-parallel capture: `torchrun --nproc_per_node 2` on CPU (gloo) gives exactly the single-process store."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from _store_helpers import cli_env, one_thread
from internals import load_model
from internals.data import load_dataset
from internals.store import Store, capture_to_store

# Rank script: first the CLI (which starts and ends its own gloo group), then the Python API
# inside a process group the caller started (which the store must use and leave open).
SCRIPT = """
import json, os, sys
import torch.distributed as td
from internals import load_model
from internals.cli import main
from internals.data import load_dataset
from internals.store import capture_to_store

model, out = sys.argv[1], sys.argv[2]
rc = main(["capture", "--model", model, "--data", "qa_wikidata", "--sites", "resid_post.*", "attn_z.1",
           "--reduce", "none", "--batch-size", "1", "--shard-rows", "4", "--out", out + "/cli", "--quiet"])
assert rc == 0 and not td.is_initialized()
# a fresh rendezvous file: the env:// store still holds the first group's addresses
td.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=int(os.environ["RANK"]),
                      world_size=int(os.environ["WORLD_SIZE"]))
lm = load_model(model, device="cpu")
store = capture_to_store(lm, load_dataset("fanoutqa_sub", limit=30), "resid_post.1 mlp_out.2", "stats",
                         out + "/api", batch_size=1, shard_rows=4, progress=False, limit=30)
# one file per rank: two ranks printing to one pipe can interleave their lines
report = {"rank": td.get_rank(), "still_initialised": td.is_initialized(), "rows": len(store)}
open(f"{out}/report-{td.get_rank()}.json", "w").write(json.dumps(report))
td.destroy_process_group()
"""


def test_two_gloo_ranks_equal_one_process(tiny_dirs, tmp_path, slices):
    script = tmp_path / "rank.py"
    script.write_text(SCRIPT)
    model = str(tiny_dirs["llama"])
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        model,
        str(tmp_path),
    ]
    run = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    reports = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("report-*.json"))]
    assert sorted(r["rank"] for r in reports) == [0, 1]
    assert all(r["still_initialised"] and r["rows"] == 30 for r in reports)

    lm = load_model(model, device="cpu")
    wikidata, sub = load_dataset("qa_wikidata"), load_dataset("fanoutqa_sub", limit=30)
    with one_thread():  # the ranks run on one thread each (torchrun sets OMP_NUM_THREADS=1)
        single = capture_to_store(
            lm,
            wikidata,
            "resid_post.* attn_z.1",
            "none",
            tmp_path / "single",
            batch_size=1,
            shard_rows=4,
            progress=False,
        )
        single_stats = capture_to_store(
            lm,
            sub,
            "resid_post.1 mlp_out.2",
            "stats",
            tmp_path / "single_api",
            batch_size=1,
            shard_rows=4,
            progress=False,
            limit=30,
        )

    parallel = Store.open(tmp_path / "cli")
    m = parallel.manifest
    assert parallel.path.name == single.path.name and m["world_size"] == 2 and m["status"] == "complete"
    assert sorted(m["shards"]) == ["0", "1"] and m["n_shards"] == 6 + 5  # 21 + 20 rows, 4 per shard
    assert {f.name for f in parallel.path.glob("index-r*.jsonl")} == {"index-r0.jsonl", "index-r1.jsonl"}
    assert parallel.rows() == single.rows() == [r.id for r in wikidata]
    assert np.array_equal(parallel.mask, single.mask)
    for site in single.sites:
        assert np.array_equal(parallel[site], single[site]), site

    stats = Store.open(tmp_path / "api")
    for site in single_stats.sites:
        a, b = stats[site], single_stats[site]
        assert a.count == b.count > 30
        assert np.allclose(a.mean.numpy(), b.mean.numpy(), rtol=0, atol=1e-12)
        assert np.allclose(a.var.numpy(), b.var.numpy(), rtol=0, atol=1e-12)
