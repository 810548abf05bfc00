"""Mitigation: the steering hook, detection fused into generation, and an untouched path when it does not fire."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals.analyses.factcheckmate.generate import GenerationSettings, greedy_answers
from internals.analyses.factcheckmate.steer import Detector, factcheckmate_answers, steering, steering_vector, timings
from internals.data import load_dataset
from internals.heads import logistic_probe
from internals.prompts import render

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

SETTINGS = GenerationSettings(max_new_tokens=4, batch_size=4)


@pytest.fixture
def prompts(tiny_llama):
    return render(load_dataset("qa_wikidata")[:6], "chat", tiny_llama.tokenizer)


def _detector(threshold: float, layer: int = 1) -> Detector:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 64)), np.arange(40) % 2
    return Detector(logistic_probe().fit(X, y), layer, threshold)


def test_steering_vector_is_difference_of_class_means():
    X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    y = np.array([0, 0, 1, 1])  # 0 factual, 1 hallucinated
    assert np.allclose(steering_vector(X, y), [2.0, -3.0])


def test_steering_hook_shifts_the_block_and_is_removed(tiny_llama):
    ids = torch.tensor([[1, 2, 3, 4]])
    block = tiny_llama.model.model.layers[1]
    # hooks other code left on the shared model (e.g. transformers' output capturing) stay; ours must go
    others = dict(block._forward_hooks)
    seen = []
    handle = block.register_forward_hook(lambda m, a, o: seen.append((o[0] if isinstance(o, tuple) else o).clone()))
    try:
        with torch.no_grad():
            base = tiny_llama.model(input_ids=ids).logits
            v = np.ones(64, dtype=np.float32)
            with steering(tiny_llama.model, 1, v, alpha=0.5):
                steered = tiny_llama.model(input_ids=ids).logits
            after = tiny_llama.model(input_ids=ids).logits
    finally:
        handle.remove()
    # the steering hook was registered after ours, so ours saw the unshifted output both times
    assert torch.equal(seen[0], seen[1])
    assert not torch.allclose(base, steered) and torch.equal(base, after)
    assert dict(block._forward_hooks) == others
    with pytest.raises(RuntimeError):
        with steering(tiny_llama.model, 1, v, alpha=1.0):
            raise RuntimeError("body failed")
    assert dict(block._forward_hooks) == others


def test_outputs_unchanged_when_the_detector_does_not_fire(tiny_llama, prompts):
    plain = greedy_answers(tiny_llama, prompts, SETTINGS)
    v = np.full(64, 50.0, dtype=np.float32)  # a huge shift: any steering would change the answers
    out = factcheckmate_answers(tiny_llama, prompts, _detector(threshold=1.01), v, alpha=10.0, settings=SETTINGS)
    assert not out.flagged.any() and out.answers == plain.text == out.plain
    assert out.scores.shape == (len(prompts),) and np.all((out.scores >= 0) & (out.scores <= 1))


def test_flagged_prompts_are_regenerated_with_steering(tiny_llama, prompts):
    plain = greedy_answers(tiny_llama, prompts, SETTINGS)
    v = np.full(64, 50.0, dtype=np.float32)
    always = factcheckmate_answers(tiny_llama, prompts, _detector(threshold=0.0), v, alpha=10.0, settings=SETTINGS)
    assert always.flagged.all() and always.plain == plain.text and always.answers != plain.text
    with steering(tiny_llama.model, 1, v, alpha=10.0):
        direct = greedy_answers(tiny_llama, prompts, SETTINGS)
    assert always.answers == direct.text
    zero = factcheckmate_answers(tiny_llama, prompts, _detector(threshold=0.0), v, alpha=0.0, settings=SETTINGS)
    assert zero.answers == plain.text  # alpha 0: steering adds nothing


def test_steer_layer_steers_another_block_than_the_probed_one(tiny_llama, prompts, monkeypatch):
    from internals.analyses.factcheckmate import steer

    used, real = [], steer.steering
    monkeypatch.setattr(steer, "steering", lambda model, layer, *a: used.append(layer) or real(model, layer, *a))
    v = np.full(64, 50.0, dtype=np.float32)
    plain = greedy_answers(tiny_llama, prompts, SETTINGS)
    out = factcheckmate_answers(
        tiny_llama, prompts, _detector(threshold=0.0, layer=1), v, alpha=10.0, settings=SETTINGS, steer_layer=0
    )
    assert used == [0] and out.plain == plain.text  # detection still reads the probed layer (1)
    with real(tiny_llama.model, 0, v, alpha=10.0):
        at_0 = greedy_answers(tiny_llama, prompts, SETTINGS)
    assert out.answers == at_0.text != plain.text
    factcheckmate_answers(tiny_llama, prompts, _detector(threshold=0.0, layer=1), v, alpha=10.0, settings=SETTINGS)
    assert used == [0, 1]  # the default steers the probed layer


def test_timings_report_each_path(tiny_llama, prompts):
    t = timings(
        tiny_llama,
        prompts[:2],
        _detector(0.5),
        np.zeros(64, np.float32),
        1.0,
        GenerationSettings(max_new_tokens=2),
        repeats=1,
    )
    assert set(t["seconds_per_question"]) == {"plain", "fused", "separate", "steered"}
    assert all(s > 0 for s in t["seconds_per_question"].values()) and t["n_questions"] == 2
    assert {"detection_overhead", "detection_overhead_separate_pass", "intervention_overhead"} <= set(t)
