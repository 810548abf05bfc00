"""Incremental (KV-cache) features equal a full recompute; labels at chunk boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from internals.analyses.cutoff import chunks, features, prompting
from internals.errors import InternalsError

CONTEXT = (
    "The river Lune rises on the fells above Ravenstonedale. It flows south past Sedbergh. "
    "The old bridge at Kirkby Lonsdale was built in the thirteenth century. "
    "Its town hall holds a map of the valley drawn in 1723 by Thomas Jefferys."
)


def test_incremental_equals_full_recompute(tiny_llama):
    lm = tiny_llama
    lay = prompting.layout(lm.tokenizer, "Who drew the map?")
    ev = CONTEXT.index("Thomas")
    ch = chunks.chunk(lm.tokenizer, CONTEXT, (ev, ev + len("Thomas Jefferys")))
    steps = list(features.stream(lm, lay.header, ch.ids, ch.boundaries, kinds=features.FEATURE_KINDS, query=lay.answer))
    assert [s.n_context for s in steps] == ch.boundaries
    assert set(features.FEATURE_KINDS) == {"attn_z", "o_proj_slices", "attn_z_query"}
    for step in (steps[0], steps[4], steps[-1]):
        # attn_z_query: the answer prompt appended to this prefix, z averaged over its positions only
        full = features.prefix_features(
            lm, lay.header + ch.ids[: step.n_context], kinds=features.FEATURE_KINDS, query=lay.answer
        )
        for kind in features.FEATURE_KINDS:
            assert step.features[kind].shape == full[kind].shape == (3, 4, 16)
            np.testing.assert_allclose(step.features[kind], full[kind], atol=1e-4, rtol=0)
        assert step.n_query == len(lay.answer)
    for kind in ("attn_z", "attn_z_query"):
        assert not np.allclose(steps[0].features[kind], steps[-1].features[kind])
    assert not np.allclose(steps[-1].features["attn_z"], steps[-1].features["attn_z_query"])


def test_stream_can_stop_early_and_cache_grows_only_with_what_was_read(tiny_llama):
    lm = tiny_llama
    lay = prompting.layout(lm.tokenizer, "Who drew the map?")
    ch = chunks.chunk(lm.tokenizer, CONTEXT, (0, 5))
    for step in features.stream(lm, lay.header, ch.ids, ch.boundaries, ("attn_z", "attn_z_query"), query=lay.answer):
        assert step.cache.get_seq_length() == len(lay.header) + step.n_context  # the query was removed again
        with prompting.branch(step.cache):
            prompting.forward(lm, lay.assess, step.cache)
        assert step.cache.get_seq_length() == len(lay.header) + step.n_context
        if step.index == 2:
            break


def test_bad_kind_and_empty_context(tiny_llama):
    with pytest.raises(InternalsError, match="unknown feature kind"):
        list(features.stream(tiny_llama, [1], [5, 6, 7], [3], kinds=("resid",)))
    with pytest.raises(InternalsError, match="no tokens"):
        list(features.stream(tiny_llama, [1], [], [1]))
    with pytest.raises(InternalsError, match="attn_z_query needs the query token ids"):
        list(features.stream(tiny_llama, [1], [5, 6, 7], [3], kinds=("attn_z_query",)))
