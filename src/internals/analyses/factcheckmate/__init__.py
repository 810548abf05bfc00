"""FactCheckmate: preemptive hallucination detection from hidden states, and mitigation by steering.

Detection reproduces the paper's public code (labels, mean-pooled input states, the MLP head);
the per-layer sweep, the logistic baseline, cross-dataset transfer and the steering mitigation
(our own design; the paper's is not public) are additions. See docs in each module:

    labels.py    greedy answers (cached) and labels by internals.answers' `substring` rule
    generate.py  batched greedy decoding, left-padded, shared-prefix KV cache, fused pooling
    features.py  settings I / I+O / I-n -> mean-pooled resid_post of every layer (cached store)
    sweep.py     train + evaluate per layer, best layer chosen on validation
    steer.py     steering vector, detector, mitigated generation, overhead timings
    pipeline.py  TOML config -> probe dir (what `internals probe` runs)
    figures.py   the per-layer sweep figure
"""

from .features import Features, pooled_features, setting_span
from .generate import GenerationSettings, greedy_answers
from .labels import Labels, label_dataset
from .pipeline import ProbeConfig, evaluate_probe, predict, prepare, train_factcheckmate_probe
from .steer import Detector, factcheckmate_answers, steering, steering_vector
from .sweep import Split, probe_metrics, split_indices, sweep

__all__ = [
    "prepare",
    "Detector",
    "Features",
    "GenerationSettings",
    "Labels",
    "ProbeConfig",
    "Split",
    "evaluate_probe",
    "factcheckmate_answers",
    "greedy_answers",
    "label_dataset",
    "pooled_features",
    "predict",
    "probe_metrics",
    "setting_span",
    "split_indices",
    "steering",
    "steering_vector",
    "sweep",
    "train_factcheckmate_probe",
]
