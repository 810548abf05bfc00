"""Mitigation: steer the residual stream when the detector fires. OUR OWN DESIGN, not the paper's.

FactCheckmate's mitigation code is not public (their README names scripts/nsr_mse.py, which the
repository does not contain). What we build, following METHODS.md section 1:

- steering vector v = mean pooled state of the factual training questions minus that of the
  hallucinated ones, at the probed layer (`steering_vector`);
- `factcheckmate_answers`: generate as usual while the capture layer's hooks pool the prompt's
  states at the probed layer in the same forward (detection costs the probe, not a forward);
  for the prompts the probe flags (P(hallucination) >= threshold), generate again with
  alpha * v added to the output of that block at every position, prompt and generated tokens
  (`steering`: the edit `edits.add("resid_post.<layer>", v, scale=alpha)`, undone on exit). Unflagged prompts keep their plain answers.
  `steer_layer` (ours, a named option): steer at another block than the probed one. The default
  (None) steers at the probed layer, as the issue's design says. On SmolLM2-135M, steering the
  late probed layer (24 of 30) barely moves the factual rate, while early blocks (4-10) raise it;
  benchmarks/factcheckmate.py picks (layer, alpha) on validation and reports both.
- `timings`: wall-clock per question, batch 1, of plain generation, generation with fused
  detection, detection as a separate capture pass, and steered generation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...capture import attach, edits
from ...capture.edits import Edit
from ...capture.inputs import Prompt
from ...errors import InternalsError
from .generate import Generation, GenerationSettings, greedy_answers


def steering_vector(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """v [d] = mean of X [n, d] over factual rows (y == 0) minus the mean over hallucinated rows."""
    if not (np.any(y == 0) and np.any(y == 1)):
        raise InternalsError("a steering vector needs factual and hallucinated examples")
    return (X[y == 0].mean(0) - X[y == 1].mean(0)).astype(np.float32)


def steering_edit(layer: int, vector, alpha: float) -> Edit:
    """The steering edit: alpha * vector added to `resid_post.<layer>` at every position."""
    return edits.add(f"resid_post.{layer}", np.asarray(vector, dtype=np.float32), scale=alpha)


@contextmanager
def steering(model: torch.nn.Module, layer: int, vector, alpha: float) -> Iterator[None]:
    """Within the context, the output of decoder block `layer` gets alpha * vector added at every
    position (`steering_edit`, attached through the capture layer); undone on exit, also on error."""
    with attach(model, steering_edit(layer, vector, alpha)):
        yield


@dataclass
class Detector:
    """A fitted probe reading the pooled `resid_post.<layer>` states; fires at P(hallucination) >= threshold."""

    probe: Any  # a fitted sklearn classifier (classes_, predict_proba)
    layer: int
    threshold: float = 0.5

    @property
    def site(self) -> str:
        return f"resid_post.{self.layer}"

    def scores(self, pooled: np.ndarray) -> np.ndarray:
        """P(hallucination) [n] for pooled states [n, d]."""
        column = list(self.probe.classes_).index(1)
        return self.probe.predict_proba(np.asarray(pooled, dtype=np.float32))[:, column]


@dataclass
class Mitigated:
    """Per prompt: `answers` after mitigation, `plain` answers, P(hallucination) `scores`, `flagged`."""

    answers: list[str]
    plain: list[str]
    scores: np.ndarray
    flagged: np.ndarray


def factcheckmate_answers(
    lm,
    prompts: Sequence[Prompt],
    detector: Detector,
    vector,
    alpha: float,
    settings: GenerationSettings = GenerationSettings(),
    *,
    steer_layer: int | None = None,
    progress: bool = False,
) -> Mitigated:
    """Detect in the generation's own forward; regenerate the flagged prompts with steering.

    `vector` must be the steering vector of the block steered: `steer_layer`, or the probed layer
    when it is None.
    """
    first: Generation = greedy_answers(
        lm, prompts, settings, pool_sites=detector.site, progress=progress, desc="generate+detect"
    )
    scores = detector.scores(first.pooled[detector.site].numpy())
    flagged = scores >= detector.threshold
    answers = list(first.text)
    chosen = np.flatnonzero(flagged)
    if len(chosen):
        with steering(lm.model, detector.layer if steer_layer is None else steer_layer, vector, alpha):
            steered = greedy_answers(lm, [prompts[int(i)] for i in chosen], settings, progress=progress, desc="steered")
        for k, i in enumerate(chosen):
            answers[i] = steered.text[k]
    return Mitigated(answers, list(first.text), scores, flagged)


def timings(
    lm,
    prompts: Sequence[Prompt],
    detector: Detector,
    vector,
    alpha: float,
    settings: GenerationSettings = GenerationSettings(),
    span: str = "input",
    repeats: int = 2,
    steer_layer: int | None = None,
) -> dict:
    """Wall-clock seconds per question (batch 1) of each path, and the overheads as fractions of plain.

    plain: greedy generation; fused: generation with the probe's site pooled in its forward and
    the probe applied (what `factcheckmate_answers` does first); separate: a capture pass up to
    the probed layer plus the probe (detection without touching generation); steered:
    generation under the steering hook (the intervention's cost for a flagged question).
    Each path runs `repeats` times per question, interleaved, and the fastest run counts (the
    usual defence against a shared, noisy machine).
    """
    from ...capture import capture

    one = GenerationSettings(settings.max_new_tokens, settings.stop, 1, False)

    def plain(p):
        greedy_answers(lm, [p], one)

    def fused(p):
        g = greedy_answers(lm, [p], one, pool_sites=detector.site)
        detector.scores(g.pooled[detector.site].numpy())

    def separate(p):
        acts = capture(lm, [p], detector.site, "mean", span=span, batch_size=1)
        detector.scores(acts[detector.site].numpy())

    def steered(p):
        with steering(lm.model, detector.layer if steer_layer is None else steer_layer, vector, alpha):
            greedy_answers(lm, [p], one)

    paths = {"plain": plain, "fused": fused, "separate": separate, "steered": steered}
    totals = dict.fromkeys(paths, 0.0)
    for p in prompts:
        best = dict.fromkeys(paths, float("inf"))
        for _ in range(repeats):
            for name, fn in paths.items():
                t = time.perf_counter()
                fn(p)
                best[name] = min(best[name], time.perf_counter() - t)
        for name in paths:
            totals[name] += best[name]
    per = {k: v / len(prompts) for k, v in totals.items()}
    return {
        "seconds_per_question": per,
        "n_questions": len(prompts),
        "repeats": repeats,
        "detection_overhead": (per["fused"] - per["plain"]) / per["plain"],
        "detection_overhead_separate_pass": per["separate"] / per["plain"],
        "intervention_overhead": per["steered"] / per["plain"],
    }
