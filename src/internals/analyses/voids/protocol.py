"""The evaluation prompts and answer parsing of the paper's protocol, for our datasets.

The chat prompts copy the public `eval.py` word for word, indentation included: lettered
options with "Output format: [Option]" for multiple choice, and "Respond to the given question
... with True or False" for BoolQ, which we word with the record's own two choices (strategyqa:
Yes / No) and without a passage when the record has none. The paper's answer parser is not
public: ours is `parse_choice` below. The second protocol scores each option's text as the
assistant's reply to the same prompt (sum of token log-probabilities), so both share one
prompt forward.
"""

from __future__ import annotations

import re
import string

from ...errors import InternalsError

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


def chat_prompt(tokenizer, record) -> list[int]:
    """Token ids of the chat prompt (generation prompt appended)."""
    if not getattr(tokenizer, "chat_template", None):
        raise InternalsError("the voids evaluation uses the paper's chat prompt: this tokenizer has no chat template")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_message(record)}], tokenize=False, add_generation_prompt=True
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def option_ids(tokenizer, record) -> list[list[int]]:
    """Token ids of each option's text as the start of the assistant's reply (never empty)."""
    out = []
    for choice in record.choices:
        ids = list(tokenizer(choice.strip(), add_special_tokens=False)["input_ids"])
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
