"""Turn dataset records into the prompts a capture runs on.

A template is one of:

- ``"raw"``: the record's question text as it is (a plain prompt passes through unchanged);
- ``"chat"``: the question as a user turn in the tokenizer's chat template, with the generation
  prompt appended (returned as token ids, so no second BOS is added when they are encoded);
- any other string: a `str.format` template over the record's fields, e.g.
  ``"Q: {question}\\nA:"`` or ``"{context}\\n\\n{question}"``. Fields: id, question, answers,
  answer (the first alias, or ""), context, choices, options (the choices lettered A., B., ... one a
  line), target, meta, and each key of meta (task_prefix for BIG-bench tasks that have one).
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

TEMPLATES = 'raw | chat | a format string such as "Q: {question}\\nA:"'


def render(items: Sequence[Any], template: str, tokenizer: Any) -> list[Prompt]:
    """The prompt for each item (a Record, or a plain prompt: str, token ids, (input, output) pair)."""
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise InternalsError("this model's tokenizer has no chat template: use --template raw or a format string")
    if template not in ("raw", "chat"):
        _check_format(template)
    return [_one(item, template, tokenizer) for item in items]


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
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
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
