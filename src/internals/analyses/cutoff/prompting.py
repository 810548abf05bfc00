"""Prompt pieces around a streamed context, and what the model says from a KV cache.

The reading prompt puts the question first, so the heads can tell whether the prefix read so
far answers it (the paper's `prepare_sufficiency_input`: query, then context):

    header  = <chat start> user: "Question: {q}\\n\\nContext:\\n"      (then the context, chunk by chunk)
    answer  = "\\n\\nQuestion: {q}\\n" ANSWER_INSTRUCTION <end of turn> assistant:
    assess  = "\\n\\nIs the context so far sufficient to answer the question? Answer Yes or No." <end> assistant:

`answer` and `assess` are appended to the cache at a chunk boundary and removed again
(`branch`), so asking never re-encodes the prefix. With `answer` the passage comes before the
question the model answers (passage first, then question, which a 135M model needs: see
SOURCES.md). `fresh_answer_ids` builds the plain passage-then-question prompt instead, for
`answer_from="fresh"` (re-encodes the prefix).

The user turn is the chat template's when the tokenizer has one (template "auto"); a base model
gets `internals.prompts.BASE_TURN`: the tokenizer's BOS, the same user text, then "\\nAnswer:"
(`CutoffConfig.template` overrides it). Its answer then reads " Paris\\nQuestion: ...": `greedy`
stops at the newline, and the Yes/No of the self-assessment are the tokens of " Yes" / " No".
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ...prompts import BASE_TURN, reply_lead, resolve_template, start_ids, turn_text

ANSWER_INSTRUCTION = "Answer in as few words as possible, using words from the context."
ASSESS_QUESTION = "Is the context so far sufficient to answer the question? Answer Yes or No."
_MARK = "\u2063CONTEXT\u2063"


@dataclass(frozen=True)
class Layout:
    """Token ids of the pieces around the context for one question.

    header: [n] before the context; answer / assess: [m] after it; yes / no: the first token of
    " Yes"-style answers ("Yes", "No") whose logits the self-assessment compares.
    """

    header: list[int]
    answer: list[int]
    assess: list[int]
    yes: int
    no: int


def turn_template(template: str, tokenizer) -> str:
    """The user-turn template the reading prompt uses: "auto" is "chat" when the tokenizer has a
    chat template, else `BASE_TURN`; others are themselves (`internals.prompts.user_turn`)."""
    return resolve_template(template, tokenizer, BASE_TURN)


def _wrap(tokenizer, user: str, template: str) -> tuple[str, str]:
    """The user-turn text before and after the marker in `user`, for a resolved `template`."""
    before, _, after = turn_text(tokenizer, user, template).partition(_MARK)
    return before, after


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def layout(tokenizer, question: str, template: str = "auto") -> Layout:
    """The reading prompt's pieces for `question` (the user turn of `turn_template(template)`)."""
    template = turn_template(template, tokenizer)
    head, tail = _wrap(
        tokenizer,
        f"Question: {question}\n\nContext:\n{_MARK}\n\nQuestion: {question}\n{ANSWER_INSTRUCTION}",
        template,
    )
    _, assess_tail = _wrap(tokenizer, f"Question: {question}\n\nContext:\n{_MARK}\n\n{ASSESS_QUESTION}", template)
    lead = reply_lead(template)
    yes, no = _ids(tokenizer, lead + "Yes")[0], _ids(tokenizer, lead + "No")[0]
    return Layout(
        start_ids(tokenizer, template) + _ids(tokenizer, head),
        _ids(tokenizer, tail),
        _ids(tokenizer, assess_tail),
        yes,
        no,
    )


def fresh_answer_ids(tokenizer, question: str, context_ids: list[int], template: str = "auto") -> list[int]:
    """The passage-then-question prompt over a context prefix (token ids; see `layout`)."""
    template = turn_template(template, tokenizer)
    head, tail = _wrap(tokenizer, f"{_MARK}\n\nQuestion: {question}\n{ANSWER_INSTRUCTION}", template)
    return start_ids(tokenizer, template) + _ids(tokenizer, head) + list(context_ids) + _ids(tokenizer, tail)


def forward(lm, ids: list[int], cache) -> torch.Tensor:
    """Run `ids` on top of `cache` (which grows); returns the last position's logits [vocab]."""
    x = torch.tensor([ids], dtype=torch.long, device=lm.device)
    with torch.no_grad():
        out = lm.model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1)
    return out.logits[0, -1].float()


def new_cache(lm):
    """An empty KV cache for `lm` that `branch` can roll back. A sliding-window layer (Gemma 2 / 3,
    Mistral) drops the keys that fall out of its window and then cannot be cropped back once the
    context is longer than the window; recording the past keeps them until `branch` crops (the
    attention each forward computes is the same either way)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=lm.model.config)
    cache.activate_past_recording()
    return cache


@contextmanager
def branch(cache):
    """Whatever is appended to `cache` inside the block is removed on exit (the prefix stays)."""
    length = cache.get_seq_length()
    try:
        yield cache
    finally:
        extra = cache.get_seq_length() - length
        if extra > 0:
            cache.crop(-extra)


class Answer(str):
    """A generated answer: the text itself, and whether the token limit cut it (`truncated`), which
    `internals.answers.match` needs so that a cut-off prefix of a gold answer is not counted."""

    truncated: bool

    def __new__(cls, text: str, truncated: bool = False) -> Answer:
        out = super().__new__(cls, text)
        out.truncated = truncated
        return out


def greedy(lm, cache, suffix: list[int], max_new_tokens: int = 16) -> Answer:
    """Greedy continuation after appending `suffix` to `cache`; stops at end of turn or a newline.
    The answer is `truncated` when `max_new_tokens` ran out first."""
    tok = lm.tokenizer
    stops = {
        t
        for t in (tok.eos_token_id, getattr(tok, "convert_tokens_to_ids", lambda _: None)("<|im_end|>"))
        if t is not None
    }
    out: list[int] = []
    logits = forward(lm, suffix, cache)
    truncated = True
    for _ in range(max_new_tokens):
        nxt = int(logits.argmax())
        if nxt in stops:
            truncated = False
            break
        out.append(nxt)
        if "\n" in tok.decode([nxt]) and out[:-1]:
            truncated = False
            break
        logits = forward(lm, [nxt], cache)
    return Answer(tok.decode(out, skip_special_tokens=True).strip(), truncated)


def yes_probability(lm, cache, lay: Layout) -> float:
    """P(Yes) from the Yes/No logits after the self-assessment question (softmax over the two)."""
    logits = forward(lm, lay.assess, cache)
    pair = torch.stack([logits[lay.yes], logits[lay.no]])
    return float(torch.softmax(pair, 0)[0])
