"""Write the walkthrough's small data files, one per format, with field names that are not ours
(run by hand; the files are committed; docs/your-data.md walks through them, tests/test_walkthrough.py runs it).

    python tests/data/walkthrough/make_walkthrough.py

| file | format | fields (ours = yours) | read by |
|---|---|---|---|
| closed_book.jsonl | JSON lines | question = input, answers = target | probe train / eval |
| long_context.json | a JSON list (the context-cutoff paper's layout) | question = input, evidence = gold_evidence | cutoff train / eval |
| multiple_choice.csv | CSV | question = input, choices = options, target = label | voids eval |
| passages.parquet | Parquet | question = title, context = passage | depth trace |
| prompts_hf/ | HF datasets save_to_disk | question = prompt_text | capture |

Every record is written here from templates (no outside data).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).parent

CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Spain", "Madrid"),
    ("Peru", "Lima"),
    ("Greece", "Athens"),
    ("Norway", "Oslo"),
    ("Kenya", "Nairobi"),
    ("Cuba", "Havana"),
    ("Chile", "Santiago"),
    ("Poland", "Warsaw"),
    ("Ireland", "Dublin"),
    ("Austria", "Vienna"),
    ("Portugal", "Lisbon"),
    ("Russia", "Moscow"),
    ("Germany", "Berlin"),
    ("China", "Beijing"),
    ("Finland", "Helsinki"),
    ("Sweden", "Stockholm"),
    ("Denmark", "Copenhagen"),
    ("Hungary", "Budapest"),
    ("Belgium", "Brussels"),
    ("Thailand", "Bangkok"),
]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "orange", "purple"]


def closed_book() -> list[dict]:
    rows = [{"input": f"What is the capital of {c}?", "target": [city]} for c, city in CAPITALS]
    rows += [{"input": f"Which city is the capital of {c}?", "target": [city]} for c, city in CAPITALS]
    return rows


def long_context() -> list[dict]:
    rows = []
    for i in range(50):
        year = 1800 + 3 * i
        colour = COLOURS[i % len(COLOURS)]
        sentences = [
            f"Town {i} lies on a river that floods most springs.",
            f"Its market square was paved with {colour} stone by the guilds.",
            f"The old harbour of town {i} was dredged in {year} by the river board.",
            f"Ferries to the island opposite town {i} began soon after that.",
            "Visitors today mostly come for the fish market and the bridge.",
        ]
        k = i % 4  # the evidence sentence moves through the passage
        sentences[2], sentences[k] = sentences[k], sentences[2]
        rows.append(
            {
                "input": f"In which year was the harbour of town {i} dredged?",
                "context": " ".join(sentences),
                "answers": [str(year)],
                "gold_evidence": f"dredged in {year}",
            }
        )
    return rows


def multiple_choice() -> list[dict]:
    rows = []
    for i, (country, city) in enumerate(CAPITALS[:12]):
        wrong = [CAPITALS[(i + 5) % len(CAPITALS)][1], CAPITALS[(i + 11) % len(CAPITALS)][1]]
        options = [city, *wrong] if i % 2 else [*wrong, city]
        rows.append(
            {"input": f"The capital of {country} is", "options": "|".join(options), "label": options.index(city)}
        )
    return rows


def passages() -> list[dict]:
    return [
        {"title": f"Town {i}", "passage": row["context"], "words": len(row["context"].split())}
        for i, row in enumerate(long_context()[:30])
    ]


def prompts() -> list[dict]:
    return [{"prompt_text": f"Tell me about the city of {city}.", "source": "template"} for _, city in CAPITALS[:12]]


def main() -> None:
    with (HERE / "closed_book.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in closed_book())
    (HERE / "long_context.json").write_text(json.dumps(long_context(), indent=1) + "\n")
    with (HERE / "multiple_choice.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["input", "options", "label"])
        w.writeheader()
        w.writerows(multiple_choice())
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    pq.write_table(pa.Table.from_pylist(passages()), HERE / "passages.parquet")
    Dataset.from_list(prompts()).save_to_disk(str(HERE / "prompts_hf"))


if __name__ == "__main__":
    main()
