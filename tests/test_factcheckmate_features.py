"""Features per setting (I, I+O, I-n) through capture stores; generation's fused pooling; batched decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals.analyses.factcheckmate.features import pooled_features, setting_span
from internals.analyses.factcheckmate.generate import GenerationSettings, greedy_answers
from internals.capture import capture
from internals.data import load_dataset
from internals.errors import InternalsError
from internals.prompts import render

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


@pytest.fixture
def prompts(tiny_llama):
    return render(load_dataset("qa_wikidata")[:6], "chat", tiny_llama.tokenizer)


def test_setting_names():
    assert setting_span("I") == ("input", False)
    assert setting_span("i+o") == ("all", True)
    assert setting_span("I-3") == ("drop_last:3", False)
    with pytest.raises(InternalsError, match="unknown setting"):
        setting_span("O")


def test_i_minus_zero_equals_i(tiny_llama, prompts):
    i = pooled_features(tiny_llama, prompts, "I", progress=False)
    i0 = pooled_features(tiny_llama, prompts, "I-0", progress=False)
    assert i.layers == i0.layers == [0, 1, 2]
    for layer in i.layers:
        assert np.array_equal(i.layer(layer), i0.layer(layer))
    i2 = pooled_features(tiny_llama, prompts, "I-2", layers="1", progress=False)
    ref = capture(tiny_llama, prompts, "resid_post.1", "mean", span="drop_last:2")["resid_post.1"].numpy()
    assert np.allclose(i2.layer(1), ref, atol=1e-5) and not np.allclose(i2.layer(1), i.layer(1))


def test_i_plus_o_pools_the_answer_too(tiny_llama, prompts):
    answers = ["English", "German", "euro", "Lithuania", "Australia", "Brazil"]
    io = pooled_features(tiny_llama, prompts, "I+O", answers, layers="2", progress=False)
    ref = capture(tiny_llama, list(zip(prompts, answers)), "resid_post.2", "mean", span="all")["resid_post.2"].numpy()
    assert np.allclose(io.layer(2), ref, atol=1e-5)
    with pytest.raises(InternalsError, match="I\\+O needs the model's answer"):
        pooled_features(tiny_llama, prompts, "I+O", progress=False)
    with pytest.raises(InternalsError, match="layer 0 was not captured"):
        io.layer(0)


def test_features_are_cached(tiny_llama, prompts, monkeypatch):
    first = pooled_features(tiny_llama, prompts, "I", layers="0-1", progress=False)
    import internals.store.writer as writer

    monkeypatch.setattr(writer, "capture", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = pooled_features(tiny_llama, prompts, "I", layers="0-1", progress=False)
    assert again.store_path == first.store_path and np.array_equal(again.layer(1), first.layer(1))


@pytest.mark.parametrize("template", ["chat", "raw"])
def test_fused_pooling_equals_capture(tiny_llama, template):
    # chat prompts share a system-turn prefix (run once, KV cache repeated); raw prompts do not
    prompts = render(load_dataset("qa_wikidata")[:7], template, tiny_llama.tokenizer)
    gen = greedy_answers(
        tiny_llama, prompts, GenerationSettings(max_new_tokens=2, batch_size=4), pool_sites="resid_post.*"
    )
    ref = capture(tiny_llama, prompts, "resid_post.*", "mean", span="input")
    for site, value in ref.items():
        assert torch.allclose(gen.pooled[site], value, atol=1e-5), site


def test_batched_decoding_equals_one_at_a_time(tiny_llama):
    prompts = render(load_dataset("qa_wikidata")[:9], "chat", tiny_llama.tokenizer)
    settings = GenerationSettings(max_new_tokens=5, batch_size=4)
    batched = greedy_answers(tiny_llama, prompts, settings)
    single = [
        greedy_answers(tiny_llama, [p], GenerationSettings(max_new_tokens=5, batch_size=1, share_prefix=False))
        for p in prompts
    ]
    assert batched.raw == [s.raw[0] for s in single]
    assert batched.n_tokens == [s.n_tokens[0] for s in single]
    with torch.no_grad():  # and one-at-a-time equals a plain full-recompute greedy loop
        ids = torch.tensor([prompts[0]])
        out = []
        for _ in range(len(single[0].n_tokens) and single[0].n_tokens[0]):
            t = int(tiny_llama.model(input_ids=ids).logits[0, -1].argmax())
            out.append(t)
            ids = torch.cat([ids, torch.tensor([[t]])], 1)
    assert tiny_llama.tokenizer.decode(out, skip_special_tokens=True) == single[0].raw[0]
