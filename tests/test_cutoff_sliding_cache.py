"""The cutoff's KV-cache branch on a sliding-window model read past its window (Gemma 3): rolling an
answer back must leave the cache as if the answer had never been appended."""

from __future__ import annotations

import torch

from internals.analyses.cutoff import prompting
from internals.models import wrap


def _tiny_gemma3(window: int):
    import transformers as tf

    from conftest import TINY

    torch.manual_seed(0)
    config = tf.Gemma3TextConfig(**{**TINY, "vocab_size": 512}, head_dim=16, sliding_window=window)
    config.layer_types = ["sliding_attention", "full_attention", "sliding_attention"]
    return tf.AutoModelForCausalLM.from_config(config).eval()


def test_branch_rolls_back_a_sliding_window_cache_read_past_its_window(tokenizer_dir):
    from transformers import AutoTokenizer

    lm = wrap(_tiny_gemma3(window=8), AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    ids = torch.randint(5, 500, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    cache = prompting.new_cache(lm)
    for start in range(0, 30, 10):  # read 30 tokens chunk by chunk: past the window of 8
        prompting.forward(lm, ids[start : start + 10], cache)
    with prompting.branch(cache):  # an answer appended and rolled back (this raised before the fix)
        prompting.forward(lm, ids[30:36], cache)
    assert cache.get_seq_length() == 30
    after = prompting.forward(lm, ids[36:40], cache)
    fresh = prompting.new_cache(lm)
    want = prompting.forward(lm, ids[:30] + ids[36:40], fresh)
    torch.testing.assert_close(after, want, atol=1e-4, rtol=1e-4)
