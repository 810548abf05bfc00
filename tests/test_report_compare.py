"""`internals report --model A --model B`: two tiny random models of different families and depths
(llama, 4 blocks; gemma3, 3 blocks) through the CLI; each gets its own report folder and the
comparison page draws both on a relative-depth axis. gemma3's cutoff section is made to fail: the
page shows it and still draws the cutoff map of llama."""

from __future__ import annotations

import html
import json
import re
import subprocess

import pytest

from internals.cli import main
from internals.plots import find_chrome
from internals.report import compare_figures as cf
from internals.report.compare import FIGURES, model_label

pytestmark = pytest.mark.usefixtures("data_env")

LAYERS = {"llama": 4, "gemma3": 3}
SMALL = ["--prompts", "4", "--max-tokens", "12", "--device", "cpu", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, tokenizer_dir):
    """family -> a saved tiny random model; the two differ in family and number of blocks."""
    import torch
    import transformers as tf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tiny = dict(
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=49152,
        max_position_embeddings=512,
    )
    configs = {
        "llama": tf.LlamaConfig(**tiny, num_hidden_layers=LAYERS["llama"]),
        "gemma3": tf.Gemma3TextConfig(**tiny, num_hidden_layers=LAYERS["gemma3"], head_dim=16),
    }
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    dirs = {}
    for family, config in configs.items():
        torch.manual_seed(0)
        path = tmp_path_factory.mktemp("cmp") / family  # the folder name is the model's label
        AutoModelForCausalLM.from_config(config).save_pretrained(path)
        tok.save_pretrained(path)
        dirs[family] = path
    return dirs


def _gold_parity(answer, golds, rule="substring") -> bool:
    """Both classes for FactCheckmate from a random model (as in test_report.py): label by the gold's length."""
    return len(golds[0]) % 2 == 0


@pytest.fixture(scope="module")
def compared(two_models, tmp_path_factory):
    """(exit code, out folder) of the CLI comparing the two tiny models, gemma3's cutoff raising."""
    from _data_env import BIGBENCH_SLICES, FANOUTQA_SLICE
    from internals.report import cutoff_section

    real = cutoff_section.section

    def cutoff_failing_on_gemma(lm, settings):
        if lm.config.model_type.startswith("gemma"):
            raise RuntimeError("cutoff broke on gemma")
        return real(lm, settings)

    out = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
        mp.setenv("INTERNALS_FANOUTQA_FILE", str(FANOUTQA_SLICE))
        mp.setenv("INTERNALS_CACHE", str(tmp_path_factory.mktemp("compare-cache")))
        mp.setattr("internals.analyses.factcheckmate.labels.match", _gold_parity)
        mp.setattr(cutoff_section, "section", cutoff_failing_on_gemma)
        models = [a for family in LAYERS for a in ("--model", str(two_models[family]))]
        rc = main(["report", *models, "--out", str(out), *SMALL])
    return rc, out


def test_each_model_has_its_own_report(compared):
    rc, out = compared
    assert rc == 1  # gemma3's cutoff failed; the run went on
    for family, n_layers in LAYERS.items():
        doc = json.loads((out / family / "report.json").read_text())
        assert doc["manifest"]["model"]["n_layers"] == n_layers
        assert (out / family / "index.html").is_file()
        for name in ("factcheckmate", "voids", "depth"):
            assert doc["sections"][name]["error"] is None and doc["sections"][name]["data"]["n_layers"] == n_layers
    norms = {f: json.loads((out / f / "report.json").read_text())["manifest"]["architecture"]["norms"] for f in LAYERS}
    assert norms == {"llama": "Pre-LN", "gemma3": "pre- and post-norms"}


def test_comparison_page_and_json(compared, capsys):
    rc, out = compared
    page = (out / "index.html").read_text()
    doc = json.loads((out / "compare.json").read_text())
    assert list(doc["models"]) == ["llama", "gemma3"]
    assert doc["models"]["gemma3"]["manifest"]["model"]["model_type"] == "gemma3_text"
    assert doc["models"]["llama"]["page"] == "llama/index.html"
    assert doc["failed"] == {"gemma3": ["cutoff"]}
    assert 'href="llama/index.html"' in page and 'href="gemma3/index.html"' in page
    assert "internals comparison: llama vs gemma3" in page
    for spec in FIGURES:  # every comparison figure is drawn, with its caption
        assert spec.caption in doc["sections"][spec.section]["figures"]
        assert html.escape(spec.caption) in page
    assert len(re.findall(r'<div id="fig-\d+-\d+"', page)) == len(FIGURES)
    # the failed section: an error box in gemma3's column, the map drawn for llama alone
    assert "This section failed: RuntimeError: cutoff broke on gemma" in page
    assert doc["sections"]["cutoff"]["not_drawn"] == {"gemma3": "section failed: RuntimeError: cutoff broke on gemma"}
    assert "(not drawn for gemma3)" in page
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:500]) == 1 and not re.findall(r"<script[^>]*\ssrc=", page)  # offline


def test_figures_put_both_models_on_relative_depth(compared):
    _, out = compared
    docs = {f: json.loads((out / f / "report.json").read_text()) for f in LAYERS}
    data = {name: {f: d["sections"][name]["data"] for f, d in docs.items()} for name in ("factcheckmate", "voids")}
    data["depth"] = {f: d["sections"]["depth"]["data"] for f, d in docs.items()}
    variance = cf.depth_variance(data["depth"])
    lines = {t.name: t for t in variance.data if t.name}
    assert set(lines) == {"llama", "gemma3", "llama, all tokens", "gemma3, all tokens", "llama band", "gemma3 band"}
    assert list(lines["llama"].x) == [0, 0.25, 0.5, 0.75, 1] and len(lines["gemma3"].x) == 4
    assert variance.layout.yaxis.type == "log"
    sweep = cf.factcheckmate_sweep(data["factcheckmate"])
    names = {t.name for t in sweep.data}
    assert {"llama, MLP", "gemma3, MLP", "gemma3, LogReg"} <= names
    assert max(max(t.x) for t in sweep.data) == 1.0  # resid_post of the last block: relative depth 1
    voids = cf.void_share(data["voids"])
    assert {"llama, prompt", "gemma3, generation"} <= {t.name for t in voids.data}
    assert [round(x, 4) for x in next(t.x for t in voids.data if t.name == "gemma3, prompt")] == [0.1667, 0.5, 0.8333]
    llama_cutoff = {"llama": docs["llama"]["sections"]["cutoff"]["data"]}
    maps = cf.head_f1_maps({**llama_cutoff, "llama again": llama_cutoff["llama"]}, "attn_z")
    assert len(maps.data) == 2 and maps.data[0].z.shape == (LAYERS["llama"], 4)


@pytest.mark.skipif(find_chrome() is None, reason="Chromium not installed: apt-get install -y chromium")
def test_comparison_figures_render_in_chromium(compared, tmp_path):
    _, out = compared
    cmd = [
        find_chrome(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        (out / "index.html").resolve().as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    divs = re.findall(r'<div id="(fig-\d+-\d+)"(.*?)<figcaption', dom, flags=re.S)
    assert len(divs) == len(FIGURES)
    for div_id, chunk in divs:
        assert 'class="main-svg"' in chunk, f"{div_id}: no plot svg"
        drawn = re.findall(r'<path[^>]* d="M[^"]{8,}', chunk) or re.findall(r'<g class="hm"><image', chunk)
        assert drawn, f"{div_id}: nothing drawn"


def test_compare_existing_folders_runs_no_model(compared, tmp_path, monkeypatch, capsys):
    _, out = compared

    def no_model(*args, **kwargs):
        raise AssertionError("--compare must not load a model")

    monkeypatch.setattr("internals.models.load_model", no_model)
    rc = main(["report", "--compare", str(out / "llama"), str(out / "gemma3"), "--out", str(tmp_path / "again")])
    assert rc == 1 and "gemma3: FAILED: cutoff" in capsys.readouterr().err
    doc = json.loads((tmp_path / "again" / "compare.json").read_text())
    assert list(doc["models"]) == ["llama", "gemma3"]
    assert doc["models"]["llama"]["page"].endswith("llama/index.html")
    assert main(["report", "--compare", str(out / "llama"), "--out", str(out / "llama")]) == 2
    assert "is one of the compared report folders" in capsys.readouterr().err
    assert main(["report", "--compare", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("internals: error: no report.json in") and "\n" not in err
    with pytest.raises(SystemExit) as exit_:  # one or the other
        main(["report", "--compare", str(out / "llama"), "--model", "x"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_model_that_does_not_load_is_shown(two_models, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    rc = main(["report", "--model", str(two_models["llama"]), "--model", str(missing), "--out", str(tmp_path / "o")]
              + ["--sections", "depth", *SMALL])  # fmt: skip
    assert rc == 1
    doc = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert doc["failed"] == {"no-such-model": ["model did not load or run"]}
    assert doc["models"]["no-such-model"]["error"]
    page = (tmp_path / "o" / "index.html").read_text()
    assert "no-such-model has no report:" in page and "fig-1-0" in page  # llama's depth figures still drawn


def test_model_labels():
    assert model_label("google/gemma-3-270m") == "gemma-3-270m"
    assert model_label("/tmp/ckpt/") == "ckpt" and model_label(None) == "default"
    assert model_label("gemma3-270m") == "gemma3-270m"
