"""Every bad input at the edge is one line on stderr and exit status 2, and leaves nothing behind."""

from __future__ import annotations

import shutil
import time

import pytest

from internals import InternalsError, capture, load_model
from internals.cli import main


def _one_line(capsys, argv, match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and err.startswith("internals: error:"), err
    assert match in err, err


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--max-tokens", "-3"),
        ("--max-tokens", "0"),
        ("--limit", "0"),
        ("--batch-size", "0"),
        ("--shard-rows", "-1"),
        ("--seed", "-1"),
    ],
)
def test_counts_refused_before_anything_runs(capsys, tmp_path, flag, value):
    out = tmp_path / "stores"
    _one_line(
        capsys,
        ["capture", "--data", "qa_wikidata", "--sites", "resid_post.1", "--out", str(out), flag, value],
        f"{flag} must be >= ",
    )
    assert not out.exists()


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["capture", "--data", "x"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "required" in err


def test_non_utf8_files_name_line_and_byte(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"question": "fine", "answers": ["x"]}\n{"question": "b\xe9d"}\n')
    _one_line(
        capsys,
        ["capture", "--data", str(bad), "--sites", "resid_post.1", "--out", str(tmp_path / "s")],
        "line 2, byte 16: not UTF-8",
    )
    csv = tmp_path / "bad.csv"
    csv.write_bytes(b"question,answers\n\xffbad,x\n")
    _one_line(
        capsys,
        ["capture", "--data", str(csv), "--sites", "resid_post.1", "--out", str(tmp_path / "s")],
        "line 2, byte 1: not UTF-8",
    )


def test_model_dir_without_tokenizer(capsys, tiny_dirs, tmp_path):
    model = tmp_path / "no-tokenizer"
    model.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dirs["llama"] / f, model / f)
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "Who?", "answers": ["x"]}\n')
    out = tmp_path / "stores"
    _one_line(
        capsys,
        ["capture", "--model", str(model), "--data", str(data), "--sites", "resid_post.1", "--out", str(out)],
        "has no tokenizer",
    )
    assert not out.exists()


def test_hub_name_without_network_is_refused_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(InternalsError, match="cannot be reached|local HF cache|could not load") as info:
        load_model("someorg/no-such-model-internals-test")
    assert time.perf_counter() - start < 20
    assert "\n" not in str(info.value)


def test_backend_failures_name_the_backend(tiny_dirs, monkeypatch):
    from transformer_lens.model_bridge import TransformerBridge

    def refuse(*a, **k):
        raise ValueError("Unsupported architecture: TinyThing\nmore detail")

    monkeypatch.setattr(TransformerBridge, "boot_transformers", refuse)
    lm = load_model(tiny_dirs["llama"], device="cpu")
    with pytest.raises(
        InternalsError, match="transformer_lens backend cannot run LlamaForCausalLM: Unsupported"
    ) as info:
        capture(lm, ["a b"], "resid_post.1", backend="transformer_lens")
    assert "\n" not in str(info.value)


def test_version_and_help_for_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip().startswith("internals ")


def test_hub_name_through_the_cli(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "Who?", "answers": ["x"]}\n')
    start = time.perf_counter()
    _one_line(
        capsys,
        [
            "capture",
            "--model",
            "someorg/no-such-model-internals-test",
            "--data",
            str(data),
            "--sites",
            "resid_post.1",
            "--out",
            str(tmp_path / "s"),
        ],
        "someorg/no-such-model-internals-test",
    )
    assert time.perf_counter() - start < 20 and not (tmp_path / "s").exists()
