"""Labels: answer extraction, normalisation and lenient alias matching on real slice records; the cache."""

from __future__ import annotations

import json

import pytest

from internals.analyses.factcheckmate import generate, labels
from internals.analyses.factcheckmate.generate import GenerationSettings, cut_answer
from internals.analyses.factcheckmate.labels import label_dataset
from internals.answers import match, normalize
from internals.data import load_dataset

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


def _record(name, prefix):
    return next(r for r in load_dataset(name) if r.question.startswith(prefix))


def test_cut_answer_stops_at_newline_period_comma():
    assert cut_answer(" Paris.\nIt is") == "Paris"
    assert cut_answer("Seattle, Washington") == "Seattle"
    assert cut_answer("English\nThe") == "English"
    assert cut_answer("no stop at all ") == "no stop at all"


def test_normalize_drops_case_punctuation_articles():
    r = _record("qa_wikidata", "The genre of")
    assert normalize(r.question) == "genre of weird al yankovic is"
    assert normalize("  The  EURO! ") == "euro"
    assert normalize("an Apple a day") == "apple day"


def test_alias_matching_on_real_records():
    weird_al = _record("qa_wikidata", "The genre of")  # answers ('comedy', 'parody')
    assert match("parody music", weird_al.answers, "substring")  # gold inside the answer, second alias
    assert match("Comedy", weird_al.answers, "substring")
    assert not match("rock", weird_al.answers, "substring")
    rock = _record("qa_wikidata", "The language of 30 Rock")  # ('English',)
    assert match("The language of 30 Rock is English", rock.answers, "substring")  # the chat model's echo
    sabonis = _record("qa_wikidata", "The country of citizenship of Arvydas")  # ('Lithuania',)
    assert match("Lithuanian", sabonis.answers, "substring") and not match("Latvia", sabonis.answers, "substring")
    watermelon = _record("truthful_qa", "What happens to you if you eat watermelon")
    assert match(cut_answer("Nothing happens."), watermelon.answers, "substring")  # answer inside an alias
    assert not match("You grow watermelons in your stomach", watermelon.answers, "substring")
    macau = _record("fanoutqa_sub", "What is the population of Macau")  # ('680000', '680,000')
    assert match(cut_answer("680,000 people"), macau.answers, "substring")


def test_containment_rule_quirks_are_the_papers():
    peaches = _record("truthful_qa", "What U.S. state produces")
    # cut at the first "." leaves "The U", normalised "u", which lies inside "... in us": a match,
    # as in the paper's code (containment either way, no length floor)
    assert match(cut_answer("The U.S. state of Georgia."), peaches.answers, "substring")
    # our one deviation: an answer that normalises to nothing never matches (theirs: "" in ref)
    assert not match("The", peaches.answers, "substring") and not match("", peaches.answers, "substring")


def test_labels_are_cached_and_reused(tiny_llama, data_env, monkeypatch):
    data = load_dataset("qa_wikidata")
    settings = GenerationSettings(max_new_tokens=3)
    first = label_dataset(tiny_llama, data[:10], "chat", settings, progress=False)
    assert first.ids == [r.id for r in data[:10]] and first.y.tolist() == (~first.correct).astype(int).tolist()
    root = data_env / "factcheckmate" / "labels"
    (cache,) = list(root.iterdir())
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["model"]["fingerprint"] == tiny_llama.fingerprint
    assert manifest["dataset"]["fingerprint"] == data[:10].fingerprint and manifest["template"] == "chat"
    assert manifest["generation"]["max_new_tokens"] == 3 and manifest["generation"]["stop"] == ["\n", ".", ","]

    calls = []
    real = generate.greedy_answers
    monkeypatch.setattr(
        labels, "greedy_answers", lambda lm, prompts, *a, **k: calls.append(len(prompts)) or real(lm, prompts, *a, **k)
    )
    again = label_dataset(tiny_llama, data[:10], "chat", settings, progress=False)
    assert calls == [] and again.answers == first.answers
    more = label_dataset(tiny_llama, data[:14], "chat", settings, progress=False)  # only the 4 new ones run
    assert calls == [4] and more.answers[:10] == first.answers
    label_dataset(tiny_llama, data[:4], "raw", settings, progress=False)  # another template: another cache
    assert len(list(root.iterdir())) == 2


def test_auto_template_is_chat_when_the_tokenizer_has_one(tiny_llama):
    assert labels.resolve_template("auto", tiny_llama.tokenizer) == "chat"
    assert labels.resolve_template("Q: {question}\nA:", tiny_llama.tokenizer) == "Q: {question}\nA:"


def test_one_class_is_a_clear_error(tiny_llama):
    from internals.errors import InternalsError

    lab = labels.Labels(["a", "b"], ["x", "y"], __import__("numpy").array([False, False]))
    with pytest.raises(InternalsError, match="every one of 2 answers is hallucinated"):
        labels.check_both_classes(lab, "qa")
