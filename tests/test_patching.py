"""Activation patching: pairs align token by token; the batched restorations (grouped, with the blocks
below skipped and the head run on the last token) equal one `edits.patch` capture per restoration;
the CLI writes results, figures and resumes; bad input is one line."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from internals import capture, edits, patch
from internals.analyses.patching import (
    CATEGORIES,
    PatchConfig,
    build_pairs,
    by_category,
    category_positions,
    last_logprobs,
    load_results,
    parse_relation,
    trace_pair,
)
from internals.analyses.patching.figures import make_figures
from internals.analyses.patching.trace import rows_of, window_layers
from internals.cli import main
from internals.data import load_dataset
from internals.errors import InternalsError
from internals.plots import PNG_SCALE, find_chrome
from internals.stats import bootstrap_mean

pytestmark = pytest.mark.usefixtures("data_env", "torch_one_thread")  # the committed slices, a fresh cache

needs_chrome = pytest.mark.skipif(find_chrome() is None, reason="Chromium not installed: apt-get install -y chromium")


@pytest.fixture
def pairs(tiny_llama):
    """Pairs from the committed qa_wikidata slice; the random model is never right, so keep_wrong."""
    return build_pairs(tiny_llama, list(load_dataset("qa_wikidata")), 3, seed=0, min_gap=0.0, correct_only=False)


def test_parse_relation_takes_the_lower_case_relation():
    assert parse_relation("The currency of Andorra is") == ("currency", "Andorra")
    assert parse_relation("The country of citizenship of Ben Chifley is") == ("country of citizenship", "Ben Chifley")
    assert parse_relation("The color of the flag of Togo is") == ("color of the flag", "Togo")
    assert parse_relation("The country of Bank of America is") == ("country", "Bank of America")
    assert parse_relation("Brasília is capital of") is None
    assert parse_relation("The capital is") is None


def test_pairs_align_token_by_token(pairs, tiny_llama):
    assert len(pairs.pairs) == 3 and pairs.stats["n_pairs"] == 3 and pairs.stats["n_parsed"] > 20
    for p in pairs.pairs:
        assert len(p.clean_ids) == len(p.corrupt_ids)
        assert p.clean_ids[: p.start] == p.corrupt_ids[: p.start] and p.clean_ids[p.stop :] == p.corrupt_ids[p.stop :]
        assert p.clean_ids[p.start : p.stop] != p.corrupt_ids[p.start : p.stop]
        assert p.subject != p.corrupt_subject and p.clean.endswith(f"of {p.subject} is")
        assert tiny_llama.tokenizer.decode(list(p.clean_ids[p.start : p.stop])).strip() == p.subject
        assert p.p_clean - p.p_corrupt > 0
    again = build_pairs(tiny_llama, list(load_dataset("qa_wikidata")), 3, seed=0, min_gap=0.0, correct_only=False)
    assert again.pairs == pairs.pairs


def test_readout_is_the_logits_site(tiny_llama):
    prompts = ["The currency of Andorra is", "The capital of Uruguay is a city"]
    ref = capture(tiny_llama, prompts, "logits", reduce="last")["logits"]
    assert torch.allclose(last_logprobs(tiny_llama, prompts), torch.log_softmax(ref, -1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("window,chunk", [(1, 1), (3, 2), (1, 10)])  # chunk < layers: the skip + resid_pre path
def test_batched_restorations_equal_one_patch_each(pairs, tiny_llama, window, chunk, monkeypatch):
    from internals.analyses.patching import trace

    monkeypatch.setattr(trace, "LAYER_CHUNK", chunk)
    pair = pairs.pairs[0]
    config = PatchConfig(window=window, batch_size=7)  # several capture batches per group
    got = trace_pair(tiny_llama, pair, config)
    n, n_pos = tiny_llama.n_layers, pair.n_tokens - pair.start
    source = capture(tiny_llama, [list(pair.clean_ids)], "resid_post.* attn_out.* mlp_out.*", reduce="none")
    for site in config.sites:
        assert np.asarray(got["p"][site]).shape == (n, n_pos)
        w = window if site != "resid_post" else 1
        for layer in range(n):
            layers = window_layers(layer, n, w)
            spec = f"{site}.{layers.start}-{layers.stop - 1}"
            for pos in range(pair.start, pair.n_tokens):
                logits = patch(tiny_llama, [list(pair.corrupt_ids)], source, spec, positions=[pos])
                want = torch.softmax(logits, -1)[0, pair.target]
                assert got["p"][site][layer][pos - pair.start] == pytest.approx(float(want), rel=1e-5, abs=0)
    clean = torch.softmax(capture(tiny_llama, [list(pair.clean_ids)], "logits", reduce="last")["logits"], -1)[
        0, pair.target
    ]
    assert got["p_clean"] == pytest.approx(float(clean), rel=1e-5, abs=0)


def test_last_layer_restorations_give_clean_at_the_last_token_and_corrupt_elsewhere(pairs, tiny_llama):
    pair, last = pairs.pairs[1], tiny_llama.n_layers - 1
    got = trace_pair(tiny_llama, pair, PatchConfig(sites=("resid_post",)))
    row = got["p"]["resid_post"][last]
    assert row[-1] == pytest.approx(got["p_clean"], rel=1e-5, abs=0)
    assert row[:-1] == pytest.approx([got["p_corrupt"]] * (len(row) - 1), rel=1e-5, abs=0)  # nothing reads them later
    assert abs(got["p_clean"] / got["p_corrupt"] - 1) > 1e-3  # so the two checks tell the runs apart
    assert len(rows_of(pair, tiny_llama.n_layers, PatchConfig())) == 3 * tiny_llama.n_layers * (
        pair.n_tokens - pair.start
    )


def test_categories_and_bootstrap():
    assert category_positions(4, 7, 9) == [[4], [5], [6], [7], [8]]
    assert category_positions(4, 5, 6) == [[4], [], [4], [], [5]]  # one-token subject: first = last
    v = np.arange(2 * 5, dtype=float).reshape(2, 5)  # [layers, positions 3..7]
    got = by_category(v, 3, 6, 8)
    assert got.shape == (len(CATEGORIES), 2) and np.allclose(got[:, 0], [0, 1, 2, 3, 4])
    one = by_category(v[:, :2], 3, 4, 5)
    assert np.isnan(one[1]).all() and np.isnan(one[3]).all() and np.allclose(one[0], one[2])
    r = bootstrap_mean(np.ones((10, 2)), n_boot=50)
    assert np.allclose(r["mean"], 1) and np.allclose(r["lo"], 1) and np.allclose(r["hi"], 1)
    with pytest.raises(InternalsError):
        bootstrap_mean(np.ones((0, 2)))


def test_patch_api_equals_capture_with_a_patch_edit(tiny_llama):
    clean = capture(tiny_llama, ["The capital of France is"], "resid_post.1", reduce="none")
    got = patch(tiny_llama, "The capital of Spain is", clean, "resid_post.1", positions=[3])
    ref = capture(
        tiny_llama,
        ["The capital of Spain is"],
        "logits",
        reduce="last",
        edits=edits.patch("resid_post.1", clean, positions=[3]),
    )["logits"]
    assert got.shape == (1, 49152) and torch.equal(got, ref)


def test_cli_writes_results_figures_and_resumes(tiny_dirs, tmp_path, capsys, monkeypatch):
    out, figs = tmp_path / "patching.json", tmp_path / "figs"
    argv = [
        "patch",
        "--model",
        str(tiny_dirs["llama"]),
        "--n",
        "2",
        "--keep-wrong",
        "--min-gap",
        "0",
        "--device",
        "cpu",
        "--bootstrap",
        "100",
        "--out",
        str(out),
        "--figures",
        str(figs) if find_chrome() else "none",
        "--no-progress",
    ]
    from internals.analyses.patching import runs

    real, calls = runs.trace_pair, []

    def one_then_stop(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(runs, "trace_pair", one_then_stop)
    assert main(argv) == 130  # interrupted after one pair: the checkpoint holds it
    partial = tmp_path / "patching.partial.jsonl"
    assert partial.is_file() and len(partial.read_text().splitlines()) == 3  # identity, pairs, one pair
    calls.clear()
    monkeypatch.setattr(runs, "trace_pair", lambda *args: calls.append(1) or real(*args))
    assert main(argv) == 0
    assert len(calls) == 1 and not partial.exists()  # the second pair only
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert summary["n_pairs"] == 2 and set(k for k in summary if k.startswith("peak_")) == {
        f"peak_{k}{s}" for k in ("", "subject_") for s in ("resid_post", "attn_out", "mlp_out")
    }
    doc = load_results(out)
    m, res = doc["manifest"], doc["results"]
    assert m["models"] and m["data"]["name"] == "qa_wikidata" and m["data"]["n_pairs"] == 2 and m["seed"] == 0
    assert m["config"]["n_boot"] == 100 and "torch" in m["versions"]
    s = res["summary"]["mlp_out"]
    assert np.asarray(s["recovery"]["mean"]).shape == (len(CATEGORIES), 3) and s["n"][0] == 2
    assert len(res["pairs"]) == 2 and np.asarray(res["pairs"][0]["p"]["attn_out"]).shape[0] == 3
    assert set(make_figures(doc)) == {"patching_resid_post", "patching_attn_out", "patching_mlp_out"}
    if find_chrome():
        png = (figs / "patching_mlp_out.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and abs(struct.unpack(">II", png[16:24])[0] - 687 * PNG_SCALE) <= 1
        assert (figs / "patching_mlp_out.pdf").read_bytes().startswith(b"%PDF-")


def _one_line(capsys, argv, match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: transformers' loading bars
    assert code == 2 and err.startswith("internals: error:") and match in err, err


def test_bad_input_is_one_line(tiny_dirs, tmp_path, capsys):
    model = [
        "--model",
        str(tiny_dirs["llama"]),
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "r.json"),
        "--figures",
        "none",
    ]
    _one_line(capsys, ["patch", *model, "--n", "0"], "--n must be >= 1")
    _one_line(capsys, ["patch", *model, "--sites", "resid_post", "embed"], "unknown or repeated patching site 'embed'")
    _one_line(capsys, ["patch", *model, "--window", "0"], "window must be >= 1")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Who wrote Hamlet?", "answers": ["Shakespeare"]}\n')
    _one_line(capsys, ["patch", *model, "--data", str(questions), "--no-progress"], "no record parses as")
    _one_line(capsys, ["patch", *model, "--n", "2", "--no-progress"], "no clean/corrupted pair found")  # never right
    assert not (tmp_path / "r.json").exists()
