"""The activation store: exact round trip, memory-mapped reads, checksums, resume bookkeeping, config checks."""

from __future__ import annotations

import fcntl
import json

import numpy as np
import pytest
from safetensors import safe_open

from internals import InternalsError, capture
from internals.data import load_dataset
from internals.store import Store, capture_to_store

SITES = "resid_post.* attn_z.1 embed"
OPTS = dict(batch_size=4, shard_rows=8, progress=False)


@pytest.fixture
def wikidata(slices):
    return load_dataset("qa_wikidata")


@pytest.mark.parametrize("reduce", ["mean", "last", "none", "norm"])
def test_round_trip_equals_in_memory_capture(tiny_llama, wikidata, tmp_path, reduce):
    store = capture_to_store(tiny_llama, wikidata, SITES, reduce, tmp_path, **OPTS)
    ref = capture(tiny_llama, [r.question for r in wikidata], SITES, reduce, batch_size=4)
    opened = Store.open(store.path)
    assert opened.path == tmp_path / opened.config_hash and opened.complete
    assert len(opened) == len(wikidata) == 41
    assert opened.rows() == [r.id for r in wikidata]
    assert opened.sites == list(ref)
    for site, value in ref.items():
        got = opened[site]
        assert got.dtype == np.float32 and got.shape == tuple(value.shape), site
        assert np.array_equal(got, value.numpy()), site  # same batches, so bit-identical
    if reduce in ("none", "norm"):
        assert np.array_equal(opened.mask, ref.mask.numpy())
    else:
        assert opened.mask is None
    m = opened.manifest
    assert m["rows"] == 41 and m["n_shards"] == 6 and m["config"]["model"]["fingerprint"] == tiny_llama.fingerprint
    assert m["config"]["dataset"]["fingerprint"] == wikidata.fingerprint
    assert m["config"]["versions"]["torch"] and m["sessions"][0]["rows_at_start"] == 0


def test_stats_store_merges_shard_moments(tiny_llama, wikidata, tmp_path):
    store = Store.open(capture_to_store(tiny_llama, wikidata, "resid_post.1 attn_z.2", "stats", tmp_path, **OPTS).path)
    ref = capture(tiny_llama, [r.question for r in wikidata], "resid_post.1 attn_z.2", "stats", batch_size=4)
    for site, moments in ref.items():
        got = store[site]
        assert got.count == moments.count > 41
        assert np.allclose(got.mean.numpy(), moments.mean.numpy(), rtol=0, atol=1e-12)
        assert np.allclose(got.var.numpy(), moments.var.numpy(), rtol=0, atol=1e-12)


def test_sites_are_memory_mapped(tiny_llama, wikidata, tmp_path):
    one = Store.open(capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path / "a", **OPTS).path)
    assert isinstance(one["resid_post.2"], np.memmap)  # a single in-order shard is returned as its map
    many = Store.open(capture_to_store(tiny_llama, wikidata, SITES, "none", tmp_path / "b", **OPTS).path)
    pieces = list(many.shards("attn_z.1"))
    assert len(pieces) == 6 and all(isinstance(a, np.memmap) for _, a in pieces)
    assert sum(len(rows) for rows, _ in pieces) == 41
    shard = many._parts[1].shard
    with safe_open(str(shard.path), framework="numpy") as f:  # our header parsing agrees with safetensors'
        assert sorted(f.keys()) == sorted(shard.names())
        for name in f.keys():
            assert np.array_equal(f.get_tensor(name), shard.array(name))


def test_corrupt_and_truncated_shards_are_named(tiny_llama, wikidata, tmp_path):
    store = capture_to_store(tiny_llama, wikidata, SITES, "mean", tmp_path, **OPTS)
    shard = store.path / "shards" / "r0-000000016.safetensors"
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(
        InternalsError, match=r"r0-000000016.safetensors fails its sha256 checksum: delete that file"
    ) as err:
        Store.open(store.path)
    assert "\n" not in str(err.value) and "8 rows" in str(err.value)
    assert len(Store.open(store.path, verify=False).rows()) == 41  # verify=False trusts the index
    shard.write_bytes(bytes(data[:100]))
    with pytest.raises(InternalsError, match=r"r0-000000016.safetensors has 100 bytes.*truncated"):
        Store.open(store.path)
    with pytest.raises(InternalsError, match=r"r0-000000016.safetensors is unreadable"):
        Store.open(store.path, verify=False)


def test_deleted_shard_is_recaptured_and_rows_stay_in_order(tiny_llama, wikidata, tmp_path):
    first = Store.open(capture_to_store(tiny_llama, wikidata, SITES, "none", tmp_path, **OPTS).path)
    expected = {s: np.array(first[s]) for s in first.sites}
    (first.path / "shards" / "r0-000000000.safetensors").unlink()
    (first.path / "shards" / "r0-000000024.safetensors").write_bytes(b"junk")  # corrupt: recaptured too
    with pytest.raises(InternalsError, match="is missing"):
        Store.open(first.path)
    again = Store.open(capture_to_store(tiny_llama, wikidata, SITES, "none", tmp_path, **OPTS).path)
    index = [json.loads(line) for line in (again.path / "index-r0.jsonl").read_text().splitlines()]
    assert index[-2]["rows"][0] == 0 and index[-1]["rows"][0] == 24  # rewritten at the end of the index...
    assert again.rows() == [r.id for r in wikidata]  # ...but read back in dataset order
    assert list(again.row_index()) == list(range(41))
    for site, value in expected.items():
        assert np.array_equal(again[site], value), site
    sessions = again.manifest["sessions"]
    assert len(sessions) == 2 and sessions[1]["rows_at_start"] == 41 - 16


def test_torn_index_line_and_orphan_shard_are_cleaned_up(tiny_llama, wikidata, tmp_path):
    store = capture_to_store(tiny_llama, wikidata[:16], SITES, "mean", tmp_path, **OPTS)
    index = store.path / "index-r0.jsonl"
    lines = index.read_text().splitlines(keepends=True)
    index.write_text(lines[0] + lines[1][:40])  # a crash mid-append: the second shard's line is torn
    orphan = store.path / "shards" / "r0-000000008.safetensors"
    assert orphan.exists()
    partial = Store.open(store.path, verify=True)  # still "complete" in the manifest; torn tail ignored
    assert len(partial) == 8
    again = Store.open(capture_to_store(tiny_llama, wikidata[:16], SITES, "mean", tmp_path, **OPTS).path)
    assert len(again) == 16 and list(again.row_index()) == list(range(16))
    assert index.read_text().count("\n") == 2


def test_incomplete_store_needs_allow_incomplete(tiny_llama, wikidata, tmp_path):
    store = capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, **OPTS)
    manifest = json.loads((store.path / "manifest.json").read_text())
    # as a killed run leaves it: the manifest written at its start says 0 rows; the index says 8
    (store.path / "manifest.json").write_text(json.dumps(manifest | {"status": "running", "rows": 0, "n_rows": 16}))
    with pytest.raises(
        InternalsError, match="incomplete: 8 of 16 rows are on disk .*run the same capture command again"
    ):
        Store.open(store.path)
    assert len(Store.open(store.path, allow_incomplete=True)) == 8


def test_config_mismatch_is_refused(tiny_llama, wikidata, tmp_path):
    store = capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, **OPTS)
    with pytest.raises(InternalsError, match="is a store of another capture"):  # --out pointing into a store
        capture_to_store(tiny_llama, wikidata[:8], SITES, "last", store.path, **OPTS)
    manifest = json.loads((store.path / "manifest.json").read_text())
    (store.path / "manifest.json").write_text(json.dumps(manifest | {"config_hash": "0" * 16}))
    with pytest.raises(InternalsError, match="another config"):
        capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, **OPTS)
    other = capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, template="Q: {question}\nA:", **OPTS)
    assert other.path.name != store.path.name
    assert Store.open(other.path).manifest["config"]["template"] == "Q: {question}\nA:"


def test_a_second_writer_is_refused(tiny_llama, wikidata, tmp_path):
    store = capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, **OPTS)
    with open(store.path / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InternalsError, match="another capture is writing"):
            capture_to_store(tiny_llama, wikidata[:8], SITES, "mean", tmp_path, **OPTS)


def test_plain_prompts_use_positions_as_row_ids(tiny_llama, tmp_path):
    prompts = ["Hi", "The capital of France is", "Water boils at"]
    store = capture_to_store(tiny_llama, prompts, "resid_post.0", "mean", tmp_path, progress=False)
    assert store.rows() == [0, 1, 2] and store.manifest["config"]["dataset"]["name"] is None
    ref = capture(tiny_llama, prompts, "resid_post.0", "mean")
    assert np.array_equal(store["resid_post.0"], ref["resid_post.0"].numpy())


def test_bad_input_is_one_clear_line(tiny_llama, wikidata, tmp_path):
    cases = [
        (dict(data=[], sites=SITES), "no prompts given"),
        (dict(data=wikidata[:0], sites=SITES), "dataset 'qa_wikidata' has no records"),
        (dict(data=wikidata[:4], sites="resid_post.7"), "layer 7 out of range"),
        (dict(data=wikidata[:4], sites="resid_middle.1"), "unknown site"),
        (dict(data=wikidata[:4], sites=SITES, template="Q: {query}"), r"template field \{query\}"),
        (dict(data=wikidata[:4], sites=SITES, span="middle"), "unknown span"),
    ]
    for kwargs, message in cases:
        data, sites = kwargs.pop("data"), kwargs.pop("sites")
        with pytest.raises(InternalsError, match=message) as err:
            capture_to_store(tiny_llama, data, sites, "mean", tmp_path, progress=False, **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(InternalsError, match="not a store"):
        Store.open(tmp_path)
    with pytest.raises(InternalsError, match="site 'mlp_out.0' is not in store"):
        Store.open(capture_to_store(tiny_llama, wikidata[:4], "embed", "mean", tmp_path / "s", progress=False).path)[
            "mlp_out.0"
        ]
