"""Chunk boundaries, sufficiency labels from evidence spans, long-context construction, bad inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from transformers import AutoTokenizer

from internals.analyses.cutoff import chunks, contexts
from internals.data import Record
from internals.errors import InternalsError


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def test_boundaries_follow_the_papers_rule():
    assert chunks.boundaries(100) == list(range(10, 101, 10))
    # 23 tokens: base 2, the first 3 chunks one longer (chunking_manager.py, "percentage")
    assert chunks.boundaries(23) == [3, 6, 9, 11, 13, 15, 17, 19, 21, 23]
    with pytest.raises(InternalsError, match="cannot be cut"):
        chunks.boundaries(5)


def test_labels_switch_exactly_at_the_chunk_holding_the_evidence_end():
    ends = chunks.boundaries(100)
    assert chunks.labels(ends, 30).tolist() == [False, False] + [True] * 8  # ends at boundary 30: chunk 3 suffices
    assert chunks.labels(ends, 31).tolist() == [False, False, False] + [True] * 7
    assert chunks.labels(ends, 100).tolist() == [False] * 9 + [True]


def test_token_span_from_offsets_at_chunk_boundaries(tok):
    words = [f"word{i}" for i in range(60)]
    context = " ".join(words)
    start = context.index("word37")
    ch = chunks.chunk(tok, context, (start, start + len("word37")))
    first, last = ch.evidence_tokens
    assert "word37" in tok.decode(ch.ids[first:last]).replace(" ", "")
    assert "37" not in tok.decode(ch.ids[:first])
    k = int(np.argmax(ch.labels))
    assert ch.boundaries[k] >= last and (k == 0 or ch.boundaries[k - 1] < last)
    assert ch.labels[k:].all() and not ch.labels[:k].any()


def test_chunk_rejects_missing_empty_and_outside_spans(tok):
    with pytest.raises(InternalsError, match="no evidence span"):
        chunks.chunk(tok, "a passage without evidence " * 5, None)
    with pytest.raises(InternalsError, match="context is empty"):
        chunks.chunk(tok, "   ", (0, 1))
    with pytest.raises(InternalsError, match="not inside the context"):
        chunks.chunk(tok, "short text here " * 5, (70, 90))
    with pytest.raises(InternalsError, match="context is empty"):
        contexts.Example("x", "d", "q?", ("a",), "", (0, 1))
    with pytest.raises(InternalsError, match="not inside the context"):
        contexts.Example("x", "d", "q?", ("a",), "abc", (2, 9))


def _record(i: int, group: str | None = None) -> Record:
    text = f"Passage {i} says that the capital of land {i} is city{i}. " * 3
    start = text.index(f"city{i}")
    return Record(
        f"r{i}",
        f"What is the capital of land {i}?",
        (f"city{i}",),
        text,
        (start, start + len(f"city{i}")),
        meta={"group": group or f"g{i}"},
    )


def test_examples_keep_the_evidence_and_spread_its_depth(tok):
    records = [_record(i) for i in range(40)] + [_record(99, group="g0")]
    examples = contexts.build_examples(records, tok, n=30, target_tokens=250, seed=3, dataset="toy")
    assert len(examples) == 30 and len({e.id for e in examples}) == 30
    for ex in examples:
        rec = next(r for r in records if r.id == ex.id)
        assert ex.context[ex.evidence[0] : ex.evidence[1]] == rec.evidence_text
        assert rec.context in ex.context and ex.meta["passages"] >= 3
        if rec.meta["group"] == "g0":
            assert "land 99 " not in ex.context  # same document group never used as a distractor
    depths = [e.depth for e in examples]
    assert min(depths) < 0.3 and max(depths) > 0.7
    again = contexts.build_examples(records, tok, n=30, target_tokens=250, seed=3, dataset="toy")
    assert [e.context for e in again] == [e.context for e in examples]


def test_examples_need_records_with_evidence(tok):
    bare = [Record(f"q{i}", "Is it?", ("yes",)) for i in range(3)]
    # surprise 3: the error names the fields to add, not the built-in datasets
    with pytest.raises(InternalsError, match="no record with a context, an evidence span") as err:
        contexts.build_examples(bare, tok, n=2, dataset="bare")
    assert "--field context=" in str(err.value) and "evidence_start" in str(err.value)
    assert "disfl_qa" not in str(err.value)
    with pytest.raises(InternalsError, match="cannot seed"):
        contexts.embed(bare[0], [], lambda t: 1, 100, random.Random(0), "bare")


def test_a_test_offset_gives_fresh_examples_with_the_same_seed(tok):
    records = [_record(i) for i in range(60)]
    first = contexts.build_examples(records, tok, n=10, target_tokens=250, seed=3, dataset="toy")
    fresh = contexts.build_examples(records, tok, n=20, target_tokens=250, seed=3, dataset="toy", start=10)
    assert len(fresh) == 20 and not {e.id for e in first} & {e.id for e in fresh}
    assert [e.id for e in contexts.build_examples(records, tok, n=10, target_tokens=250, seed=3, dataset="toy")] == [
        e.id for e in first
    ]  # start 0 keeps the earlier sample
    with pytest.raises(InternalsError, match="cannot skip the first 60"):
        contexts.build_examples(records, tok, n=5, seed=3, dataset="toy", start=60)


def test_saved_configs_compare_on_their_keys_with_defaults_for_older_ones():
    from internals.analyses.cutoff.config import TRAIN_KEYS, CutoffConfig

    cfg = CutoffConfig(kinds=["attn_z"], test_offset=100, main="attn_z")
    older = {k: v for k, v in CutoffConfig(kinds=["attn_z"]).to_dict().items() if k != "test_offset"}
    assert cfg.same_as(older, TRAIN_KEYS)  # the test examples do not change the training
    assert not cfg.same_as(older, ("n_test", "test_offset")) and CutoffConfig(kinds=["attn_z"]).same_as(
        older, ("test_offset",)
    )
    with pytest.raises(InternalsError, match="test_offset must be 0 or more"):
        CutoffConfig(test_offset=-1)
