"""Turn dataset records into the prompts a capture runs on.

A template is one of:

- ``"auto"``: ``"chat"`` when the tokenizer has a chat template, else `BASE_TEMPLATE`
  (``"Question: {question}\\nAnswer:"``, for a base model such as Gemma 3 270M);
  `resolve_template` says which, and what an analysis records in its manifest;
- ``"raw"``: the record's question text as it is (a plain prompt passes through unchanged);
- ``"chat"``: the question as a user turn in the tokenizer's chat template, with the generation
  prompt appended (returned as token ids, so no second BOS is added when they are encoded);
- any other string: a `str.format` template over the record's fields, e.g.
  ``"Q: {question}\\nA:"`` or ``"{context}\\n\\n{question}"``. Fields: id, question, answers,
  answer (the first alias, or ""), context, choices, options (the choices lettered A., B., ... one a
  line), target, meta, and each key of meta (task_prefix for BIG-bench tasks that have one).

A format string renders to text, which is encoded as any text prompt is (with the tokenizer's BOS).
A base model goes on after its answer ("Answer: Shakespeare\\nQuestion: ..."): the analyses' own
stop rules (a newline, "." or ",", the first line) end the answer there.

Analyses that build a structured user message (the voids evaluation's lettered options, the
cutoff's reading prompt) make it a user turn with `user_turn`: the chat template with its
generation prompt, or for a base model `BASE_TURN` (``"{question}\\nAnswer:"``: the message
states its own question) after the tokenizer's BOS.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from typing import Any

from .capture.inputs import Prompt
from .errors import InternalsError

TEMPLATES = 'auto | raw | chat | a format string such as "Q: {question}\\nA:"'
# what "auto" gives a tokenizer without a chat template (a base model): the question, then "Answer:"
BASE_TEMPLATE = "Question: {question}\nAnswer:"
# ... and for a user message that already states its question (see `user_turn`)
BASE_TURN = "{question}\nAnswer:"


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer has a chat template (an instruction-tuned model; a base model has none)."""
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_template(template: str, tokenizer: Any, base: str = BASE_TEMPLATE) -> str:
    """The template `template` stands for with this tokenizer: "auto" is "chat" when the tokenizer
    has a chat template, else `base`; any other template is itself. Manifests record this value."""
    if template == "auto":
        return "chat" if has_chat_template(tokenizer) else base
    return template


def render(items: Sequence[Any], template: str, tokenizer: Any) -> list[Prompt]:
    """The prompt for each item (a Record, or a plain prompt: str, token ids, (input, output) pair)."""
    template = resolve_template(template, tokenizer)
    _check_template(template, tokenizer)
    return [_one(item, template, tokenizer) for item in items]


def render_ids(items: Sequence[Any], template: str, tokenizer: Any) -> list[list[int]]:
    """`render`, each prompt as token ids (text encoded with the tokenizer's special tokens, as a
    capture encodes it); for plain prompts or records, not (input, output) pairs."""
    out = []
    for p in render(items, template, tokenizer):
        if isinstance(p, tuple):
            raise InternalsError("render_ids takes text prompts or records, not (input, output) pairs")
        out.append(list(tokenizer(p)["input_ids"]) if isinstance(p, str) else [int(t) for t in p])
    return out


def user_turn(tokenizer: Any, content: str, template: str = "auto") -> list[int]:
    """Token ids [n] of `content` as the user's turn, ready for the reply to follow.

    template: "auto" (resolved with base `BASE_TURN`), "chat" (the chat template, generation
    prompt appended), "raw" (the content as it is) or a format string whose {question} is the
    content (stripped). Outside the chat template the ids start as the tokenizer starts a text
    (`start_ids`: its BOS for most models).
    """
    template = resolve_template(template, tokenizer, BASE_TURN)
    text = turn_text(tokenizer, content, template)
    return start_ids(tokenizer, template) + _text_ids(tokenizer, text)


def turn_text(tokenizer: Any, content: str, template: str) -> str:
    """`content` as the user's turn, as text, for a resolved `template` (see `user_turn`); the chat
    template's text carries its own special tokens, the others have none (see `start_ids`)."""
    _check_template(template, tokenizer)
    if template == "chat":
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
    if template == "raw":
        return content
    try:
        return template.format(question=content.strip())
    except (KeyError, IndexError):
        raise InternalsError(
            f"template {template!r} wraps a whole message: its one field is {{question}}, e.g. {BASE_TURN!r}"
        ) from None


def start_ids(tokenizer: Any, template: str) -> list[int]:
    """The ids before a prompt's text: none for the chat template (its text has them), else what
    the tokenizer puts before any text (Gemma's `<bos>`; nothing for SmolLM2's tokenizer)."""
    return [] if template == "chat" else list(tokenizer("", add_special_tokens=True)["input_ids"])


def reply_lead(template: str) -> str:
    """What the reply's first word starts with after a resolved `template`'s prompt: nothing after
    the chat template's generation prompt or a template ending in whitespace, else a space
    ("Answer:" is followed by " Yes", one token, not "Yes")."""
    return "" if template == "chat" or template[-1:].isspace() else " "


def _text_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _check_template(template: str, tokenizer: Any) -> None:
    if template == "chat" and not has_chat_template(tokenizer):
        raise InternalsError(
            "this model's tokenizer has no chat template (a base model): use --template auto, raw or a format string"
        )
    if template not in ("raw", "chat"):
        _check_format(template)


def prompts_sha256(prompts: Sequence[Prompt]) -> str:
    """sha256 of the prompts as canonical JSON: identifies exactly what a capture ran on."""
    digest = hashlib.sha256()
    for p in prompts:
        digest.update(json.dumps(p, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _one(item: Any, template: str, tokenizer: Any) -> Prompt:
    record = is_dataclass(item) and hasattr(item, "question")
    if template == "raw":
        return item.question if record else item
    if not record and not isinstance(item, str):
        raise InternalsError(f"template {template!r} needs text prompts or dataset records, got {type(item).__name__}")
    question = item.question if record else item
    if template == "chat":
        return _text_ids(tokenizer, turn_text(tokenizer, question, "chat"))
    values = _fields(item) if record else {"question": item}
    try:
        return template.format(**values)
    except KeyError as err:
        raise InternalsError(
            f"template field {{{err.args[0]}}} is not a field of the records: use one of {', '.join(sorted(values))}"
        ) from None


def _fields(record: Any) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    answers = values.get("answers") or ()
    values["answer"] = answers[0] if answers else ""
    choices = values.get("choices") or ()
    values["options"] = "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(choices))
    meta = values.get("meta") or {}
    return {**{k: v for k, v in meta.items() if isinstance(k, str)}, **values}


def _check_format(template: str) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise InternalsError(f"bad template {template!r}: {err}; use {TEMPLATES}") from None
    if not names:
        raise InternalsError(f"template {template!r} has no field such as {{question}}: use {TEMPLATES}")


def check_closed_book(items: Sequence[Any], template: str, name: str = "this dataset") -> None:
    """Refuse multiple-choice records asked as closed-book questions whose options the prompt hides
    ("Which of the following ..." with nothing following): the template must show `{options}` or
    `{choices}`, or the data must be question-answer records."""
    with_choices = sum(1 for r in items if getattr(r, "choices", None))
    if with_choices and not any(f"{{{f}}}" in template for f in ("options", "choices")):
        raise InternalsError(
            f"{name} is multiple choice ({with_choices} of {len(items)} records have choices): asked "
            f"closed-book with template {template!r} its options would be hidden; use a template that "
            'shows them, e.g. "{question}\\n{options}\\nAnswer:", or a question-answer dataset'
        )
