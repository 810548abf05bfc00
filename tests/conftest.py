"""Shared fixtures: tiny random models of real architectures, saved as HF checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=49152,
    max_position_embeddings=512,
)


def tiny_config(family: str):
    import transformers as tf

    if family == "llama":
        return tf.LlamaConfig(**TINY)
    if family == "qwen2":
        return tf.Qwen2Config(**TINY)
    if family == "mistral":
        return tf.MistralConfig(**TINY)
    if family == "gemma2":
        return tf.Gemma2Config(**TINY, head_dim=16)
    if family == "gemma3":
        return tf.Gemma3TextConfig(**TINY, head_dim=16)
    if family == "gpt2":
        return tf.GPT2Config(n_embd=64, n_layer=3, n_head=4, vocab_size=49152, n_positions=512)
    raise ValueError(family)


FAMILIES = ("llama", "qwen2", "mistral", "gemma2", "gemma3", "gpt2")


@pytest.fixture(scope="session")
def tokenizer_dir():
    """The embedded model's tokenizer (converted once into the user cache)."""
    from internals.models import default_model_dir

    return default_model_dir()


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, tokenizer_dir):
    """family -> directory of a saved tiny random model (seeded) with the SmolLM2 tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    dirs = {}
    for family in FAMILIES:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(tiny_config(family))
        path = tmp_path_factory.mktemp(f"tiny-{family}")
        model.save_pretrained(path)
        tok.save_pretrained(path)
        dirs[family] = path
    return dirs


@pytest.fixture(scope="session")
def tiny_llama(tiny_dirs):
    from internals import load_model

    return load_model(tiny_dirs["llama"], device="cpu", attn_implementation="eager")


@pytest.fixture(scope="session")
def gemma():
    """The bundled Gemma 3 270M (base model), eager attention, on the CPU."""
    from internals import load_model

    return load_model("gemma3-270m", device="cpu", attn_implementation="eager")


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Slices instead of downloads, and a fresh empty user cache; returns the cache dir.

    A module applies it to all its tests with ``pytestmark = pytest.mark.usefixtures("data_env")``."""
    from _data_env import BIGBENCH_SLICES, FANOUTQA_SLICE

    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
    monkeypatch.setenv("INTERNALS_FANOUTQA_FILE", str(FANOUTQA_SLICE))
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the data loaders at the committed slices (the user cache, with the converted model, stays)."""
    from _store_helpers import SLICES

    for k, v in SLICES.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Torch on one thread for a whole module (`pytestmark = pytest.mark.usefixtures("torch_one_thread")`):
    tiny models run fastest so on a shared 2-core machine, and CPU float rounding depends on the
    thread count (the CLI subprocesses run with OMP_NUM_THREADS=1)."""
    from _store_helpers import one_thread

    with one_thread():
        yield
