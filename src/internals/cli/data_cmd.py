"""`internals data list` / `internals data show NAME`: the datasets found by name, and a look at their records."""

from __future__ import annotations

import json

CONTEXT_CHARS = 300


def register(sub) -> None:
    p = sub.add_parser("data", help="list the registered datasets or show a few records of one")
    actions = p.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="name, kind, records (when on disk already) and licence of every dataset")
    ls.add_argument(
        "--all",
        action="store_true",
        help="also every JSON task of the BIG-bench sdist as bigbench:<task>, with its example count "
        "(indexes the sdist once, downloading it first if needed)",
    )
    ls.set_defaults(func=run_list)
    sc = actions.add_parser(
        "schema", help="the fields a dataset file may have, their types and which analyses need them"
    )
    sc.set_defaults(func=run_schema)
    show = actions.add_parser("show", help="print the first records of a dataset (a name or your file)")
    show.add_argument(
        "name",
        help="a dataset name from `internals data list`, or your .jsonl/.json/.csv/.parquet file or saved HF dataset dir",
    )
    show.add_argument("--split", default="all", help="all | train | validation | test (default: all)")
    show.add_argument("--limit", type=int, default=3, help="how many records to print (default: 3)")
    show.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    show.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your file to ours, e.g. --field question=input (repeatable)",
    )
    show.set_defaults(func=run_show)


def run_list(args) -> int:
    from ..data import list_datasets

    rows = [
        (d.name, d.kind, "-" if d.size is None else str(d.size), d.licence)
        for d in list_datasets(all_tasks=getattr(args, "all", False))
    ]
    header = ("name", "kind", "records", "licence")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for r in [header, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print("(records: '-' until the data is downloaded on first load; for bigbench:<task>, the task's examples)")
    return 0


def run_schema(args) -> int:
    from ..data.files import SUFFIXES, schema_table

    print(schema_table())
    print(
        f"(files: {', '.join(SUFFIXES)}, or a datasets save_to_disk directory; map your names with --field ours=yours)"
    )
    return 0


def run_show(args) -> int:
    from ..data import load_dataset
    from ..data.files import parse_field_options

    data = load_dataset(args.name, split=args.split, seed=args.seed, fields=parse_field_options(args.field))
    print(f"{data.name}: {len(data)} records (split {data.split}), fingerprint {data.fingerprint}, from {data.source}")
    for record in data[: max(args.limit, 0)]:
        row = {k: v for k, v in record.to_dict().items() if v not in (None, [], {})}
        if isinstance(row.get("context"), str) and len(row["context"]) > CONTEXT_CHARS:
            row["context"] = row["context"][:CONTEXT_CHARS] + f"... [{len(row['context'])} chars]"
        print(json.dumps(row, ensure_ascii=False, indent=2))
    return 0
