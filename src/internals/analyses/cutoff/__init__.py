"""Dynamic context cutoff ("Knowing When to Stop"): attention-head probes that say when a prefix of
the context already answers the question, so reading can stop early.

Flow: contexts (evidence among distractors) -> chunks (prefixes, labels) -> features (per-head
means, one incremental pass) -> probes (per-head logistic regressions, top-k ensemble) ->
infer (stop at the first confident chunk, answer) -> baselines, evaluation, figures.

    from internals.analyses.cutoff import cutoff, load_cutoff_probes
    probes, card = load_cutoff_probes("probes/cutoff", lm)
    result = cutoff(lm, probes["attn_z"], question, context, threshold=0.95)
"""

from .baselines import PositionBaseline
from .config import CutoffConfig
from .contexts import Example, build_examples
from .evaluation import evaluate_cutoff
from .features import FEATURE_KINDS, prefix_features, stream
from .infer import CutoffResult, Reading, cutoff, read
from .pipeline import load_cutoff_probes, load_examples, results_summary, train_cutoff_probes
from .probes import HeadEnsemble, load_cutoff_probe, save_cutoff_probe

__all__ = [
    "PositionBaseline",
    "results_summary",
    "FEATURE_KINDS",
    "CutoffConfig",
    "CutoffResult",
    "Example",
    "HeadEnsemble",
    "Reading",
    "build_examples",
    "cutoff",
    "evaluate_cutoff",
    "load_examples",
    "load_cutoff_probe",
    "load_cutoff_probes",
    "prefix_features",
    "read",
    "save_cutoff_probe",
    "stream",
    "train_cutoff_probes",
]
