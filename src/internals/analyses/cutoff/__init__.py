"""Dynamic context cutoff ("Knowing When to Stop"): attention-head probes that say when a prefix of
the context already answers the question, so reading can stop early.

Flow: contexts (evidence among distractors) -> chunks (prefixes, labels) -> features (per-head
means, one incremental pass) -> probes (per-head logistic regressions, top-k ensemble) ->
infer (stop at the first confident chunk, answer) -> baselines, metrics, figures.
"""
