"""Activation patching: restore one (layer, position) of a corrupted run from the clean run and
measure how much of the clean answer's probability comes back (causal tracing with subject
replacement).

    >>> from internals.analyses.patching import build_pairs, trace_pair, patching_run
    >>> pairs = build_pairs(lm, load_dataset("qa_wikidata"), n=100)     # clean/corrupted, equal lengths
    >>> t = trace_pair(lm, pairs.pairs[0])                                # t["p"]["mlp_out"] [layers][positions]
    >>> doc = patching_run(lm, "qa_wikidata", n=100)                      # + bootstrap summary, manifest
"""

from .api import patch
from .pairs import Pair, PairSet, build_pairs, parse_relation
from .results import CATEGORIES, by_category, category_positions, load_results, save_results, summarise_patching
from .runs import patching_run
from .trace import SITES, PatchConfig, last_logprobs, readout, recovery, trace_pair

__all__ = [
    "CATEGORIES",
    "Pair",
    "PairSet",
    "PatchConfig",
    "SITES",
    "build_pairs",
    "by_category",
    "category_positions",
    "last_logprobs",
    "load_results",
    "parse_relation",
    "patch",
    "patching_run",
    "readout",
    "recovery",
    "save_results",
    "summarise_patching",
    "trace_pair",
]
