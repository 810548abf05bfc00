"""Depth tracing: streaming statistics equal numpy's over all states at once; angular distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from internals.analyses.depth.corpus import texts_for
from internals.analyses.depth.results import load_results
from internals.analyses.depth.trace import DepthTrace, angular_distance, pairwise_angular, trace_depth
from internals.capture import capture
from internals.cli import main
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

PROMPTS = [
    "The University of Chicago Library system encompasses six libraries.",
    "Once upon a time",
    "Walt Disney created Mickey Mouse in 1928, together with Ub Iwerks, after losing Oswald.",
    "Paris",
    "The song is perhaps most famously performed by Marilyn Monroe in the 1953 film.",
    "Photosynthesis converts light energy into chemical energy that is stored in sugar.",
    "A B C D E F G",
]


def test_angular_distance_of_a_vector_with_itself_is_0_and_with_its_negation_1():
    torch.manual_seed(0)
    v = torch.randn(5, 64)
    assert torch.allclose(angular_distance(v, v), torch.zeros(5, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(angular_distance(v, -v), torch.ones(5, dtype=torch.float64), atol=1e-6)
    e1, e2 = torch.eye(2)
    assert float(angular_distance(e1, e2)) == pytest.approx(0.5)
    assert float(angular_distance(3 * e1, e1)) == pytest.approx(0.0, abs=1e-7)  # scale-invariant


def test_pairwise_angular_matches_angular_distance():
    torch.manual_seed(1)
    x = torch.randn(3, 6, 16)
    pair = pairwise_angular(x)
    ref = angular_distance(x[:, :, None, :], x[:, None, :, :])
    assert pair.shape == (3, 6, 6)
    assert torch.allclose(pair, ref, atol=1e-6)
    assert torch.allclose(pair, pair.transpose(1, 2))


def _reference(lm, prompts, max_tokens):
    """All states at once (reduce none) and numpy statistics over them."""
    n = lm.n_layers
    acts = capture(lm, prompts, ["resid_pre.0", f"resid_post.0-{n - 1}"], reduce="none", max_tokens=max_tokens)
    mask = acts.mask.numpy().astype(bool)
    states = [acts["resid_pre.0"].double().numpy()] + [acts[f"resid_post.{l}"].double().numpy() for l in range(n)]
    first = mask.argmax(1)
    rest = mask.copy()
    rest[np.arange(len(mask)), first] = False
    last = mask.shape[1] - 1 - mask[:, ::-1].argmax(1)
    out = {"variance": [], "pooled": [], "rest": [], "prompt": [], "influence": []}
    for x in states:
        rows = x[mask]
        out["variance"].append(np.var(rows, axis=0).mean())
        out["pooled"].append(np.var(rows))
        out["rest"].append(np.var(x[rest], axis=0).mean())
        out["prompt"].append([np.var(x[i][mask[i]], axis=0).mean() for i in range(len(prompts))])
    for a, b in zip(states[:-1], states[1:]):
        ra, rb = a[mask], b[mask]
        cos = (ra * rb).sum(1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1))
        out["influence"].append(np.mean(1 - cos))
    lasts = np.stack([x[np.arange(len(prompts)), last] for x in states], 1)  # [n, L+1, d]
    u = lasts / np.linalg.norm(lasts, axis=-1, keepdims=True)
    out["angular"] = (np.arccos(np.clip(u @ u.transpose(0, 2, 1), -1, 1)) / np.pi).mean(0)
    return out


def test_streaming_statistics_equal_numpy_on_the_same_data(tiny_llama):
    ref = _reference(tiny_llama, PROMPTS, max_tokens=12)
    t = trace_depth(tiny_llama, PROMPTS, max_tokens=12, batch_size=2, chunk_size=3)  # 3 chunks, uneven
    assert t.n_prompts == len(PROMPTS) and t.variance.shape == (tiny_llama.n_layers + 1,)
    np.testing.assert_allclose(t.variance, ref["variance"], rtol=1e-7)
    np.testing.assert_allclose(t.variance_pooled, ref["pooled"], rtol=1e-7)
    np.testing.assert_allclose(t.variance_rest, ref["rest"], rtol=1e-7)
    np.testing.assert_allclose(t.prompt_variance, np.array(ref["prompt"]).T, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(t.influence, ref["influence"], rtol=1e-7)
    np.testing.assert_allclose(t.angular, ref["angular"], atol=1e-6)


def test_chunking_does_not_change_the_result(tiny_llama):
    a = trace_depth(tiny_llama, PROMPTS, max_tokens=10, chunk_size=len(PROMPTS))
    b = trace_depth(tiny_llama, PROMPTS, max_tokens=10, chunk_size=2, batch_size=1)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-7)
    np.testing.assert_allclose(a.angular, b.angular, atol=1e-9)


def test_angular_by_gap_layout_and_round_trip(tiny_llama):
    t = trace_depth(tiny_llama, PROMPTS[:3], max_tokens=8)
    by_gap = t.angular_by_gap()
    size = tiny_llama.n_layers
    assert by_gap.shape == (size, size)
    assert by_gap[0, size - 1] == t.angular[0, size]  # from layer 0 to layer L
    assert np.isnan(by_gap[size - 1, 1])  # layer L-1 + 2 is past the end
    assert np.allclose(np.diag(t.angular), 0, atol=1e-6)
    back = DepthTrace.from_dict(t.to_dict())
    np.testing.assert_array_equal(back.variance, t.variance)
    assert back.growth() == t.growth()


def test_trace_needs_prompts(tiny_llama):
    with pytest.raises(InternalsError, match="no prompts"):
        trace_depth(tiny_llama, [])
    with pytest.raises(InternalsError, match="chunk_size"):
        trace_depth(tiny_llama, PROMPTS, chunk_size=0)


@pytest.fixture()
def slices(monkeypatch):
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(Path(__file__).parent / "data" / "bigbench"))


def test_texts_for_corpus_dataset_and_text_file(slices, tmp_path):
    prompts, held, entry = texts_for("corpus", 5, 2)
    assert len(prompts) == 5 and len(held) == 2 and not set(prompts) & set(held) and entry["name"] == "corpus"
    prompts, held, entry = texts_for("disfl_qa", 50, 50)
    assert len(prompts) == len(set(prompts)) and held and not set(prompts) & set(held) and entry["name"] == "disfl_qa"
    lines = [f"line number {i} of a small text file" for i in range(40)]
    (tmp_path / "t.txt").write_text("\n".join(lines))
    prompts, held, entry = texts_for(str(tmp_path / "t.txt"), 100, 100)
    assert sorted(prompts + held) == sorted(lines) and held and entry["n_lines"] == 40
    with pytest.raises(InternalsError, match="not found"):
        texts_for(str(tmp_path / "missing.txt"), 5, 0)


def test_trace_cli_with_twin_ablation_and_figures(slices, tiny_dirs, tmp_path, capsys):
    out = tmp_path / "trace.json"
    code = main(
        [
            "depth",
            "trace",
            "--model",
            str(tiny_dirs["llama"]),
            "--n",
            "6",
            "--max-tokens",
            "16",
            "--twin",
            "--seed",
            "7",
            "--ablation-texts",
            "2",
            "--ablation-tokens",
            "16",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--figures",
            str(tmp_path / "assets"),
            "--no-progress",
        ]
    )
    assert code == 0
    doc = load_results(out)
    traces = doc["results"]["traces"]
    assert len(traces) == 2 and any("random init" in k for k in traces)
    a, b = (DepthTrace.from_dict(t) for t in traces.values())
    assert a.n_prompts == b.n_prompts == 6 and not np.allclose(a.variance, b.variance)
    assert len(doc["results"]["ablation"]["delta"]) == 3
    assert doc["manifest"]["data"]["n_prompts"] == 6 and doc["manifest"]["seed"] == 7
    written = {p.name for p in (tmp_path / "assets").iterdir()}
    assert {"depth_variance.png", "depth_variance.pdf", "depth_ablation.png"} <= written
    assert any(n.startswith("depth_angular_") for n in written)
    assert main(["depth", "trace", "--n", "0"]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err
