"""The evaluation prompts and answer parsing of the paper's protocol, for our datasets.

The user messages copy the public `eval.py` word for word, indentation included: lettered
options with "Output format: [Option]" for multiple choice, and "Respond to the given question
... with True or False" for BoolQ, which we word with the record's own two choices (strategyqa:
Yes / No) and without a passage when the record has none. The paper's answer parser is not
public: ours is `parse_choice` below. The second protocol scores each option's text as the
assistant's reply to the same prompt (sum of token log-probabilities), so both share one
prompt forward.

The message is the user turn of the chat template (the paper's prompt) when the tokenizer has
one. A base model (no chat template; template "auto") gets it as `internals.prompts.BASE_TURN`:
the message stripped, then "\\nAnswer:" (it states its own "Question:" and "Output format:
[Option]"), after the tokenizer's BOS. Its reply goes on past the answer ("[B]\\nQuestion: ...")
and often opens with a newline (Gemma 3 270M: "\\n    Yes\\n    No"), so only the reply's first
non-empty line is parsed (`reply_text`); options are scored with the space that follows "Answer:".
"""

from __future__ import annotations

import re
import string

from ...errors import InternalsError
from ...prompts import BASE_TURN, reply_lead, resolve_template, user_turn

LETTERS = string.ascii_uppercase


def is_yes_no(record) -> bool:
    """Two choices that read as yes/no or true/false."""
    return (
        record.choices is not None
        and len(record.choices) == 2
        and {c.strip().lower() for c in record.choices} in ({"yes", "no"}, {"true", "false"})
    )


def user_message(record) -> str:
    """The user turn of the paper's prompt for a multiple-choice or yes/no record."""
    if not record.choices or record.target is None:
        raise InternalsError(
            f"record {record.id} has no choices/target: the voids evaluation needs multiple-choice or yes/no data"
        )
    if len(record.choices) > len(LETTERS):
        raise InternalsError(
            f"record {record.id} has {len(record.choices)} choices: at most {len(LETTERS)} can be lettered"
        )
    if is_yes_no(record):
        a, b = (c.strip() for c in record.choices)
        if record.context:
            return (
                f"\n    Respond to the given question based on the passage with {a} or {b}.\n    Passage:\n    "
                f"{record.context}\n\n    Options:\n    {record.question}\n\n    Output Format:\n    [{a}/{b}]\n    "
            )
        return (
            f"\n    Respond to the given question with {a} or {b}.\n\n    Options:\n    {record.question}\n\n"
            f"    Output Format:\n    [{a}/{b}]\n    "
        )
    formatted = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(record.choices))
    question = record.question if not record.context else f"{record.context}\n{record.question}"
    return (
        f"\n    Question:\n    {question}\n\n    Options:\n    {formatted}\n\n    Output format:\n    [Option]\n\n    "
    )


def turn_template(template: str, tokenizer) -> str:
    """The user-turn template the evaluation uses: "auto" is "chat" when the tokenizer has a chat
    template, else `BASE_TURN` ("{question}\\nAnswer:"); "chat", "raw" or a format string over
    {question} (the message) are themselves (`internals.prompts.user_turn`)."""
    return resolve_template(template, tokenizer, BASE_TURN)


def eval_prompt(tokenizer, record, template: str = "auto") -> list[int]:
    """Token ids of the evaluation prompt: `user_message` as a user turn (see `turn_template`)."""
    return user_turn(tokenizer, user_message(record), turn_template(template, tokenizer))


def chat_prompt(tokenizer, record) -> list[int]:
    """Token ids of the paper's chat prompt (generation prompt appended); raises without a chat template."""
    return eval_prompt(tokenizer, record, "chat")


def reply_text(text: str, template: str) -> str:
    """The part of a reply `parse_choice` reads: all of it after the chat template (the turn's end
    stops it), else its first non-empty line (a base model goes on with the next question)."""
    return text if template == "chat" else text.strip().split("\n", 1)[0]


def option_ids(tokenizer, record, template: str = "chat") -> list[list[int]]:
    """Token ids of each option's text as the start of the reply after a resolved `template`'s
    prompt (with `internals.prompts.reply_lead`'s space after "Answer:"; never empty)."""
    out = []
    lead = reply_lead(template)
    for choice in record.choices:
        ids = list(tokenizer(lead + choice.strip(), add_special_tokens=False)["input_ids"])
        if not ids:
            raise InternalsError(f"record {record.id}: option {choice!r} has no tokens")
        out.append(ids)
    return out


def _word_choice(text: str, choices) -> int | None:
    """The choice whose text occurs first in `text` as a whole word (case-insensitive)."""
    best = None
    for i, c in enumerate(choices):
        m = re.search(rf"(?<![A-Za-z0-9]){re.escape(c.strip().lower())}(?![A-Za-z0-9])", text.lower())
        if m and (best is None or m.start() < best[0] or (m.start() == best[0] and len(c) > len(choices[best[1]]))):
            best = (m.start(), i)
    return None if best is None else best[1]


def parse_choice(text: str, record) -> int | None:
    """The option a reply picks, or None when it picks none.

    Yes/no: the first of the two words. Multiple choice: a bracketed letter "[B]", then "answer
    / option (is) B", then a letter opening the reply ("B" alone, "B.", "(B)", "B)", "B:"; not
    the article in "A thermometer ..."), then the option text the reply contains first.
    """
    choices = record.choices
    if is_yes_no(record):
        return _word_choice(text, choices)
    valid = LETTERS[: len(choices)]
    patterns = (
        rf"\[\s*([{valid}])\s*\]",
        rf"(?i:answer|option)\s*(?i:is)?\s*:?\s*\(?([{valid}])(?![A-Za-z])",
        rf"^\W*\(?([{valid}])(?:[.):\]]|\s*$)",
    )
    for pattern in patterns:
        m = re.search(pattern, text.strip())
        if m:
            return valid.index(m.group(1))
    return _word_choice(text, choices)
