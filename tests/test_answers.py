"""One definition of a correct answer: the extraction and matching rules of internals.answers."""

from __future__ import annotations

import pytest

from internals import InternalsError
from internals.answers import cut_answer, echoes_question, extract, match, normalize, strip_echo


def test_matchers_differ_where_they_should():
    golds = ["Eiffel"]
    assert match("Eiffelton", golds, "substring") and not match("Eiffelton", golds, "whole_word")
    assert not match("Eiffel Tower", golds, "exact") and match("eiffel!", golds, "exact")
    assert match("U.S.", ["US"], "substring") and not match("U.S.", ["US"], "whole_word")  # 'u s' vs 'us'
    for rule in ("substring", "whole_word", "exact"):
        assert not match("", ["x"], rule) and not match("the", ["the"], rule)  # empty after normalising
    with pytest.raises(InternalsError, match="unknown matching rule"):
        match("a", ["a"], "fuzzy")


def test_extraction_rules():
    q = "The capital of France is"
    assert cut_answer(" Paris.\nIt is") == "Paris" and extract("Seattle, Washington") == "Seattle"
    assert extract("The capital of France is Paris.", "paper") == "The capital of France is Paris"
    assert extract("The capital of France is Paris.", "skip_echo", q) == "Paris"
    assert extract("Paris, of course.", "skip_echo", q) == "Paris"  # no echo: unchanged
    assert strip_echo("In Hindu mythology, Vishnu", "In Hindu mythology, who preserves the universe?") == "Vishnu"
    assert echoes_question("The capital of France", q) and not echoes_question("Paris", q)
    assert (
        normalize("The  Eiffel-Tower!") == "eiffeltower" and normalize("The  Eiffel-Tower!", "space") == "eiffel tower"
    )
    with pytest.raises(InternalsError, match="needs the question"):
        extract("x", "skip_echo")
