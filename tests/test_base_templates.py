"""Templates for a base model: "auto" is the chat template when the tokenizer has one, else the
question/answer template, in render, the voids prompt, the cutoff prompt and FactCheckmate labels;
what was used is recorded; an explicit template wins."""

from __future__ import annotations

import json

import pytest

from internals.analyses.cutoff import prompting
from internals.analyses.cutoff.config import TRAIN_KEYS, CutoffConfig
from internals.analyses.factcheckmate.generate import GenerationSettings
from internals.analyses.factcheckmate.labels import label_dataset
from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids
from internals.analyses.voids.protocol import (
    chat_prompt,
    eval_prompt,
    option_ids,
    parse_choice,
    reply_text,
    turn_template,
    user_message,
)
from internals.data import Record, load_dataset
from internals.errors import InternalsError
from internals.prompts import (
    BASE_TEMPLATE,
    BASE_TURN,
    render,
    render_ids,
    resolve_template,
    start_ids,
    user_turn,
)
from internals.store import capture_to_store

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

MC = Record("q1", "What does a thermometer measure?", choices=("humidity", "temperature", "pressure"), target=1)
QA = Record("q2", "Who wrote Hamlet?", answers=("Shakespeare",))


@pytest.fixture(scope="module")
def base_lm(tiny_dirs):
    """The tiny Llama with its tokenizer's chat template taken away: a base model."""
    from internals import load_model

    lm = load_model(tiny_dirs["llama"], device="cpu", attn_implementation="eager")
    lm.tokenizer.chat_template = None
    return lm


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_auto_resolves_by_the_chat_template(tiny_llama, base_lm):
    assert resolve_template("auto", tiny_llama.tokenizer) == "chat"
    assert resolve_template("auto", base_lm.tokenizer) == BASE_TEMPLATE == "Question: {question}\nAnswer:"
    assert resolve_template("auto", base_lm.tokenizer, BASE_TURN) == "{question}\nAnswer:"
    for explicit in ("chat", "raw", "Q: {question}\nA:"):
        assert resolve_template(explicit, base_lm.tokenizer) == explicit


def test_render_auto(tiny_llama, base_lm):
    assert render([QA, "Who painted Guernica?"], "auto", base_lm.tokenizer) == [
        "Question: Who wrote Hamlet?\nAnswer:",
        "Question: Who painted Guernica?\nAnswer:",
    ]
    assert render([QA], "auto", tiny_llama.tokenizer) == render([QA], "chat", tiny_llama.tokenizer)
    assert render([QA], "Q: {question}\nA:", base_lm.tokenizer) == ["Q: Who wrote Hamlet?\nA:"]  # an override
    assert render_ids([QA], "auto", base_lm.tokenizer) == [
        base_lm.tokenizer("Question: Who wrote Hamlet?\nAnswer:")["input_ids"]
    ]
    with pytest.raises(InternalsError, match="no chat template.*auto"):
        render([QA], "chat", base_lm.tokenizer)


def test_user_turn(tiny_llama, base_lm):
    tok = base_lm.tokenizer
    assert user_turn(tok, "\n  Question: Who?\n  ") == start_ids(tok, BASE_TURN) + _ids(tok, "Question: Who?\nAnswer:")
    assert user_turn(tok, "Who?", "Q: {question}\nA:") == _ids(tok, "Q: Who?\nA:")
    chat = tiny_llama.tokenizer
    text = chat.apply_chat_template([{"role": "user", "content": "Who?"}], tokenize=False, add_generation_prompt=True)
    assert user_turn(chat, "Who?") == _ids(chat, text)


def test_voids_prompt_and_reply_for_a_base_model(tiny_llama, base_lm):
    tok = base_lm.tokenizer
    assert turn_template("auto", tok) == BASE_TURN and turn_template("auto", tiny_llama.tokenizer) == "chat"
    prompt = tok.decode(eval_prompt(tok, MC))
    assert prompt == user_message(MC).strip() + "\nAnswer:" and prompt.startswith("Question:")
    assert eval_prompt(tiny_llama.tokenizer, MC) == chat_prompt(tiny_llama.tokenizer, MC)  # unchanged with chat
    with pytest.raises(InternalsError, match="no chat template"):
        chat_prompt(tok, MC)
    assert option_ids(tok, MC, BASE_TURN)[0] == _ids(tok, " humidity")  # after "Answer:" comes a space
    assert option_ids(tok, MC, "chat")[0] == _ids(tok, "humidity")
    reply = "\n    [B]\nQuestion: A. pressure"  # a base model goes on with the next question
    assert reply_text(reply, BASE_TURN) == "[B]" and parse_choice(reply_text(reply, BASE_TURN), MC) == 1
    assert parse_choice(reply_text("\n    A\n    B\n    C", BASE_TURN), MC) == 0
    assert reply_text(reply, "chat") == reply


def test_voids_eval_records_the_template(tiny_llama, base_lm, tmp_path):
    data = [Record(f"q{i}", "What does a thermometer measure?", choices=MC.choices, target=1) for i in range(2)]

    class Data(list):
        name, split, fingerprint = "mini", "all", "f"

    def run(lm, out, **cfg):
        evaluate_voids(lm, [Data(data)], EvalConfig(alphas=(0.5,), kinds=("paper",), max_new_tokens=2, **cfg), out)
        return json.loads((out / "manifest.json").read_text())

    assert run(base_lm, tmp_path / "base")["template"] == BASE_TURN
    assert run(base_lm, tmp_path / "override", template="Q: {question}\nA:")["template"] == "Q: {question}\nA:"
    old = run(tiny_llama, tmp_path / "chat")
    assert old["template"] == "chat" and old["config"]["template"] == "auto"
    del old["template"], old["config"]["template"]  # a manifest from before templates were recorded
    (tmp_path / "chat" / "manifest.json").write_text(json.dumps(old))
    run(tiny_llama, tmp_path / "chat")  # still resumes: it was made with the chat prompt
    with pytest.raises(InternalsError, match="another model, data or config"):
        run(base_lm, tmp_path / "base", template="Q: {question}\nA:")


def test_cutoff_prompt_for_a_base_model(tiny_llama, base_lm):
    tok = base_lm.tokenizer
    lay = prompting.layout(tok, "Who wrote Hamlet?")
    assert tok.decode(lay.header) == "Question: Who wrote Hamlet?\n\nContext:\n"
    assert tok.decode(lay.answer).endswith("Answer in as few words as possible, using words from the context.\nAnswer:")
    assert tok.decode(lay.assess).endswith("Answer Yes or No.\nAnswer:")
    assert (lay.yes, lay.no) == (_ids(tok, " Yes")[0], _ids(tok, " No")[0])
    fresh = tok.decode(prompting.fresh_answer_ids(tok, "Who?", _ids(tok, "A play.")))
    assert fresh.startswith("A play.\n\nQuestion: Who?") and fresh.endswith("\nAnswer:")
    chat = prompting.layout(tiny_llama.tokenizer, "Who wrote Hamlet?")
    assert chat.yes == _ids(tok, "Yes")[0]
    assert prompting.layout(tiny_llama.tokenizer, "Who wrote Hamlet?", "chat") == chat
    override = prompting.layout(tok, "Who wrote Hamlet?", "{question}\nShort answer:")
    assert tok.decode(override.answer).endswith("\nShort answer:")
    with pytest.raises(InternalsError, match="no chat template"):
        prompting.layout(tok, "Who?", "chat")
    assert CutoffConfig().template == "auto" and "template" in TRAIN_KEYS


def test_factcheckmate_labels_record_the_base_template(base_lm, data_env):
    data = load_dataset("qa_wikidata")[:3]
    labels = label_dataset(base_lm, data, "auto", GenerationSettings(max_new_tokens=2), progress=False)
    assert labels.manifest["template"] == BASE_TEMPLATE
    override = label_dataset(base_lm, data, "Q: {question}\nA:", GenerationSettings(max_new_tokens=2), progress=False)
    assert override.manifest["template"] == "Q: {question}\nA:"


def test_capture_records_what_auto_resolved_to(tiny_llama, base_lm, tmp_path, slices):
    data = load_dataset("qa_wikidata")[:2]
    store = capture_to_store(base_lm, data, "resid_post.0", "mean", tmp_path, template="auto", progress=False)
    assert store.manifest["config"]["template"] == BASE_TEMPLATE
    chat = capture_to_store(tiny_llama, data, "resid_post.0", "mean", tmp_path, template="auto", progress=False)
    assert chat.manifest["config"]["template"] == "chat"
    again = capture_to_store(tiny_llama, data, "resid_post.0", "mean", tmp_path, template="chat", progress=False)
    assert again.path == chat.path  # "auto" and "chat" are one store


def test_voids_report_section_traces_a_base_model(base_lm, data_env):
    from internals.report.section import ReportSettings
    from internals.report.voids_section import section

    settings = ReportSettings(prompts=2, max_tokens=2, progress=False, device="cpu")
    manifest = section(base_lm, settings).manifest
    assert manifest["trace"]["template"] == BASE_TEMPLATE and manifest["eval"]["template"] == BASE_TURN


@pytest.mark.gemma
def test_gemma_base_prompts_start_with_its_bos():
    from transformers import AutoTokenizer

    from internals.models import bundled_model_dir

    tok = AutoTokenizer.from_pretrained(str(bundled_model_dir("gemma3-270m")))
    bos = tok.bos_token_id
    assert render_ids([QA], "auto", tok)[0] == [bos, *_ids(tok, "Question: Who wrote Hamlet?\nAnswer:")]
    assert eval_prompt(tok, MC)[0] == bos and eval_prompt(tok, MC).count(bos) == 1
    lay = prompting.layout(tok, "Who wrote Hamlet?")
    assert lay.header[0] == bos and lay.yes == _ids(tok, " Yes")[0]
