"""Dynamic context cutoff ("Knowing When to Stop"): attention-head probes that say when a prefix of
the context already answers the question, so reading can stop early.

Flow: contexts (evidence among distractors) -> chunks (prefixes, labels) -> features (per-head
means, one incremental pass) -> probes (per-head logistic regressions, top-k ensemble) ->
infer (stop at the first confident chunk, answer) -> baselines, evaluation, figures.

    from internals.analyses.cutoff import cutoff, load_probes
    probes, card = load_probes("probes/cutoff", lm)
    result = cutoff(lm, probes["attn_z"], question, context, threshold=0.95)
"""

from .config import CutoffConfig
from .contexts import Example, build_examples
from .evaluation import evaluate
from .features import KINDS, prefix_features, stream
from .infer import CutoffResult, Reading, cutoff, read
from .pipeline import load_examples, load_probes, train
from .probes import HeadEnsemble, load_probe, save_probe

__all__ = [
    "KINDS",
    "CutoffConfig",
    "CutoffResult",
    "Example",
    "HeadEnsemble",
    "Reading",
    "build_examples",
    "cutoff",
    "evaluate",
    "load_examples",
    "load_probe",
    "load_probes",
    "prefix_features",
    "read",
    "save_probe",
    "stream",
    "train",
]
