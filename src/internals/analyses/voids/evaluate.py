"""Zero-shot accuracy with and without skipping the voids, over an alpha sweep, two protocols.

- ``generate`` (the paper's): the chat prompt with lettered options, greedy reply (the public
  code samples at temperature 0.6, top-p 0.9; we decode greedily so runs repeat exactly),
  the option parsed from the reply; an unparsed reply counts as wrong.
- ``loglik``: the option whose text has the highest summed log-probability as the reply.

A model without a chat template (a base model) gets the same message in the base wrapping
(`protocol.turn_template`; `EvalConfig.template` overrides it); the manifest records the
template used ("chat" or the format string).

Every question runs the full model and, per alpha, the kinds asked for (see `skip`). Results
are written per question (JSON lines, so an interrupted run resumes) and summarised per
(dataset, protocol, configuration) with the share of (token, block) pairs used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...errors import InternalsError
from .decode import stop_ids
from .lac import check_alpha
from .protocol import eval_prompt, option_ids, parse_choice, reply_text, turn_template
from .runs import Run, drop_run, shared_runs, skip_runs
from .skip import PHASES, SkipConfig

PROTOCOLS = ("generate", "loglik")
EVAL_KINDS = ("paper", "drop", "skip")


@dataclass(frozen=True)
class EvalConfig:
    """alphas: the sweep (each in (0, 1]); kinds: any of paper, drop, skip (the full model always
    runs); drop_phases: where `drop` acts (pp, rg, both; one run each); drop_alphas: alphas for
    `drop` (default: all); prompt_share: the `skip` kind's rule; max_new_tokens: reply length;
    shuffle: shuffle each record's choices (seeded) before lettering them; template: the user
    turn, "auto" (the chat template when the model has one, else "{question}\\nAnswer:"),
    "chat", "raw" or a format string over {question} (`protocol.turn_template`)."""

    alphas: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
    kinds: tuple[str, ...] = EVAL_KINDS
    drop_phases: tuple[str, ...] = ("both",)
    drop_alphas: tuple[float, ...] | None = None
    skip_alphas: tuple[float, ...] | None = None
    prompt_share: float = 0.5
    max_new_tokens: int = 8
    shuffle: bool = True
    seed: int = 0
    template: str = "auto"

    def __post_init__(self):
        if not self.alphas:
            raise InternalsError("give at least one alpha")
        for a in (*self.alphas, *(self.drop_alphas or ()), *(self.skip_alphas or ())):
            check_alpha(a)
        for k in self.kinds:
            if k not in EVAL_KINDS:
                raise InternalsError(f"unknown kind {k!r}: use any of {', '.join(EVAL_KINDS)}")
        for p in self.drop_phases:
            if p not in PHASES:
                raise InternalsError(f"unknown phases {p!r}: use any of {', '.join(PHASES)}")
        if self.max_new_tokens < 1:
            raise InternalsError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        SkipConfig("skip", self.alphas[0], phases="rg", prompt_share=self.prompt_share)  # checks the share

    def to_dict(self) -> dict:
        return asdict(self)


def question_runs(lm, record, cfg: EvalConfig) -> list[Run]:
    """Every configuration on one record (choices already in the order shown)."""
    tok = lm.tokenizer
    template = turn_template(cfg.template, tok)
    prompt, options, stops = eval_prompt(tok, record, template), option_ids(tok, record, template), stop_ids(lm)
    alphas = list(cfg.alphas)
    skip_alphas = list(cfg.skip_alphas or alphas) if "skip" in cfg.kinds else []
    paper_alphas = alphas if "paper" in cfg.kinds else []
    shared, context = shared_runs(
        lm, prompt, options, sorted(set(paper_alphas + skip_alphas)), cfg.max_new_tokens, stops
    )
    runs = [r for r in shared.values() if r.config.kind == "none" or r.config.alpha in paper_alphas]
    if skip_alphas:
        runs += skip_runs(lm, context, options, skip_alphas, cfg.prompt_share, cfg.max_new_tokens, stops).values()
    if "drop" in cfg.kinds:
        for phases in cfg.drop_phases:
            for alpha in cfg.drop_alphas or alphas:
                runs.append(drop_run(lm, prompt, options, SkipConfig("drop", alpha, phases), cfg.max_new_tokens, stops))
    return runs


def question_result(lm, record, cfg: EvalConfig) -> dict:
    """One JSON-ready line: the record's id, target and every run's reply, picks and pair counts."""
    if cfg.shuffle:
        record = record.shuffled_choices(cfg.seed)
    out = []
    template = turn_template(cfg.template, lm.tokenizer)
    for run in question_runs(lm, record, cfg):
        text = lm.tokenizer.decode(run.tokens, skip_special_tokens=True)
        pick = parse_choice(reply_text(text, template), record)
        best = int(np.argmax(run.scores))
        out.append(
            {
                "label": run.config.label,
                **run.config.to_dict(),
                "reply": text,
                "pick_generate": pick,
                "pick_loglik": best,
                "scores": [round(s, 4) for s in run.scores],
                "pp": [run.pp_used, run.pp_pairs],
                "gen": [run.gen_used, run.gen_pairs],
                "opt": [run.opt_used, run.opt_pairs],
                "skipped_blocks": run.skipped_blocks,
            }
        )
    return {"id": record.id, "target": record.target, "n_choices": len(record.choices), "runs": out}


def summarise_voids(lines: list[dict], dataset: str) -> list[dict]:
    """Accuracy and layer use per (protocol, configuration) over a dataset's question lines.

    used: share of (token, block) pairs used over prompt + reply (generate) or prompt +
    options (loglik); pp_used / rg_used: the same per phase. layers_skipped = 1 - used.
    agree_full: share of questions where the configuration picks what the full model picks
    (an unparsed reply is a pick of None).
    """
    groups: dict[str, list[tuple[dict, int]]] = {}
    full: dict[str, list] = {p: [] for p in PROTOCOLS}
    for line in lines:
        for run in line["runs"]:
            groups.setdefault(run["label"], []).append((run, line["target"]))
        base = next((r for r in line["runs"] if r["kind"] == "none"), None)
        for p in PROTOCOLS:
            full[p].append(None if base is None else base[f"pick_{p}"])
    rows = []
    for label, items in groups.items():
        first = items[0][0]
        for protocol in PROTOCOLS:
            tail = "gen" if protocol == "generate" else "opt"
            picks = [r[f"pick_{protocol}"] for r, _ in items]
            correct = [p == t for p, (_, t) in zip(picks, items)]
            pp_u, pp_n = (sum(r["pp"][i] for r, _ in items) for i in (0, 1))
            rg_u, rg_n = (sum(r[tail][i] for r, _ in items) for i in (0, 1))
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": protocol,
                    "label": label,
                    "kind": first["kind"],
                    "alpha": None if first["kind"] == "none" else first["alpha"],
                    "phases": first["phases"],
                    "n": len(items),
                    "accuracy": float(np.mean(correct)),
                    "parsed": float(np.mean([p is not None for p in picks])),
                    "agree_full": float(np.mean([p == f for p, f in zip(picks, full[protocol])])),
                    "used": (pp_u + rg_u) / max(pp_n + rg_n, 1),
                    "pp_used": pp_u / max(pp_n, 1),
                    "rg_used": rg_u / max(rg_n, 1) if rg_n else None,
                    "layers_skipped": 1 - (pp_u + rg_u) / max(pp_n + rg_n, 1),
                }
            )
    return rows


def paired(lines: list[dict], label: str, protocol: str) -> dict:
    """The configuration `label` against the full model on the same questions: wins (it is right,
    the full model wrong), losses (the reverse) and the two-sided exact McNemar p-value."""
    from ...stats import mcnemar

    new, old = [], []
    for line in lines:
        runs = {r["label"]: r for r in line["runs"]}
        full = next(r for r in line["runs"] if r["kind"] == "none")
        if label not in runs:
            raise InternalsError(f"no configuration {label!r} in these results")
        new.append(runs[label][f"pick_{protocol}"] == line["target"])
        old.append(full[f"pick_{protocol}"] == line["target"])
    return mcnemar(new, old)


def skipped_interval(
    lines: list[dict], label: str, protocol: str, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> list[float]:
    """95% percentile-bootstrap interval over questions of the configuration `label`'s
    `layers_skipped` under `protocol` (as in `summarise_voids`: one minus the (token, block) pairs used
    over prompt + reply or options, pooled over the questions drawn)."""
    from ...stats import ratio_interval

    tail = "gen" if protocol == "generate" else "opt"
    found = [next((r for r in line["runs"] if r["label"] == label), None) for line in lines]
    runs = [r for r in found if r is not None]
    if not runs or len(runs) < len(found):
        raise InternalsError(f"no configuration {label!r} on every question of these results")
    used = [r["pp"][0] + r[tail][0] for r in runs]
    pairs = [r["pp"][1] + r[tail][1] for r in runs]
    lo, hi = ratio_interval(used, pairs, n_boot, level, seed)
    return [1 - hi, 1 - lo]


def evaluate_voids(
    lm, datasets: list, cfg: EvalConfig, out: str | Path, *, manifest: dict | None = None, progress: bool = True
) -> list[dict]:
    """Run `cfg` over each dataset (a `Dataset` of multiple-choice or yes/no records), writing
    `<out>/<dataset>.jsonl` (one line per question, resumed when present), `manifest.json` and
    `summary.json` (both record the user-turn template used); returns the summary rows."""
    from ...store.files import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        **(manifest or {}),
        "config": cfg.to_dict(),
        "template": turn_template(cfg.template, lm.tokenizer),
        "datasets": [{"name": d.name, "split": d.split, "fingerprint": d.fingerprint, "n": len(d)} for d in datasets],
    }
    _check_resume(out / "manifest.json", meta)
    write_json(out / "manifest.json", meta)
    rows = []
    for data in datasets:
        path = out / f"{data.name}.jsonl"
        done = _read_lines(path)
        seen = {line["id"] for line in done}
        with path.open("a", encoding="utf-8") as f:
            for record in tqdm(
                [r for r in data if r.id not in seen],
                desc=f"voids eval {data.name}",
                unit="q",
                disable=not progress,
                initial=len(seen),
                total=len(data),
            ):
                line = question_result(lm, record, cfg)
                f.write(json.dumps(line) + "\n")
                f.flush()
                done.append(line)
        rows += summarise_voids(done, data.name)
    write_json(out / "summary.json", {"manifest": meta, "rows": rows})
    return rows


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines, raw_lines = [], path.read_text(encoding="utf-8").splitlines()
    for raw in raw_lines:
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            break  # a line cut short by a killed run: it is redone
    if len(lines) < len(raw_lines):
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return lines


def _check_resume(path: Path, meta: dict) -> None:
    if not path.exists():
        return
    old = json.loads(path.read_text())
    new = json.loads(json.dumps(meta, default=str))  # tuples as lists, as they were saved
    # results from before the template was a setting were made with the chat prompt: compare what
    # was used, not how it was asked for
    old.setdefault("template", "chat")
    for m in (old, new):
        m.get("config", {}).pop("template", None)
    if any(old.get(k) != new.get(k) for k in ("config", "datasets", "model", "template")):
        raise InternalsError(
            f"{path.parent} holds results of another model, data or config: give a new --out directory"
        )
