"""The decoder families the site grammar claims, as tiny random configs (the test's own list).

`tests/test_families.py` checks each one (load-time validation passes, the three backends agree
on every site and on edits), and the family table of docs/models.md and the list in README.md are
rendered from this list: `python benchmarks/make_tables.py --write` (or `python tests/families.py`)
rewrites them; tests/test_results_tables.py fails when they drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

V = 49152
D = dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128, vocab_size=V)

# family -> (transformers config class, kwargs, block kind, note)
FAMILIES = {
    "llama": ("LlamaConfig", dict(D, num_key_value_heads=2), "sequential, Pre-LN", "SmolLM2 is one"),
    "qwen2": ("Qwen2Config", dict(D, num_key_value_heads=2), "sequential, Pre-LN", ""),
    "qwen3": ("Qwen3Config", dict(D, num_key_value_heads=2, head_dim=16), "sequential, Pre-LN", "q/k norms"),
    "mistral": ("MistralConfig", dict(D, num_key_value_heads=2), "sequential, Pre-LN", ""),
    "mixtral": (
        "MixtralConfig",
        dict(D, num_key_value_heads=2, num_local_experts=4),
        "sequential, Pre-LN",
        "mixture of experts",
    ),
    "gemma2": (
        "Gemma2Config",
        dict(D, num_key_value_heads=2, head_dim=16),
        "sequential, pre- and post-norms",
        "logit soft-capping",
    ),
    "gemma3": (
        "Gemma3TextConfig",
        dict(D, num_key_value_heads=2, head_dim=16),
        "sequential, pre- and post-norms",
        "scaled embeddings",
    ),
    "olmo": ("OlmoConfig", dict(D, pad_token_id=0), "sequential, Pre-LN", "non-parametric norms"),
    "olmo2": (
        "Olmo2Config",
        dict(D, pad_token_id=0),
        "sequential, post-norms only",
        "attn_in / mlp_in are the modules' inputs",
    ),
    "granite": ("GraniteConfig", D, "sequential, Pre-LN", "residual_multiplier"),
    "phi3": ("Phi3Config", dict(D, pad_token_id=0), "sequential, Pre-LN", ""),
    "stablelm": ("StableLmConfig", dict(D, num_key_value_heads=4, partial_rotary_factor=0.5), "sequential, Pre-LN", ""),
    "gpt2": (
        "GPT2Config",
        dict(n_embd=64, n_layer=3, n_head=4, vocab_size=V, n_positions=512),
        "sequential, Pre-LN",
        "learned positions: embed excludes them",
    ),
    "opt": (
        "OPTConfig",
        dict(
            hidden_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            ffn_dim=128,
            vocab_size=V,
            word_embed_proj_dim=64,
            max_position_embeddings=512,
        ),
        "sequential, Pre-LN",
        "no MLP module: mlp_out is fc2; learned positions",
    ),
    "bloom": (
        "BloomConfig",
        dict(hidden_size=64, n_layer=3, n_head=4, vocab_size=V),
        "sequential, Pre-LN",
        "residual added inside modules: attn_out / mlp_out read from the projections; embed after its LayerNorm",
    ),
    "gpt_neox": ("GPTNeoXConfig", D, "parallel (use_parallel_residual)", ""),
    "gpt_neox_sequential": ("GPTNeoXConfig", dict(D, use_parallel_residual=False), "sequential, Pre-LN", ""),
    "gptj": (
        "GPTJConfig",
        dict(n_embd=64, n_layer=3, n_head=4, vocab_size=V, rotary_dim=8, n_positions=512),
        "parallel, one norm",
        "mlp_in is the MLP's input",
    ),
    "falcon": (
        "FalconConfig",
        dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, vocab_size=V, parallel_attn=True),
        "parallel, one norm",
        "",
    ),
    "phi": ("PhiConfig", D, "parallel, one norm", ""),
    "cohere": ("CohereConfig", D, "parallel, one norm", ""),
}
ROOT = Path(__file__).resolve().parent.parent


def config(family: str):
    import transformers

    cls, kwargs, _, _ = FAMILIES[family]
    return getattr(transformers, cls)(**kwargs)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_tables

    for line in make_tables.drift(ROOT, write=True):
        print(f"rewrote {line}", file=sys.stderr)
