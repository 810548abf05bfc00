"""The marked regions of README.md and docs/*.md, each rendered from committed result files.

A page marks a region `<!-- results: NAME -->` ... `<!-- /results -->`; `REGIONS[NAME]()` returns
its markdown. `python benchmarks/make_tables.py --write` rewrites every region in place and
`--check` reports the ones that differ (tests/test_results_tables.py runs the check).
Every number in a region is read from `benchmarks/results/*.json` or `probes/*/card.json`;
intervals the files do not hold are computed here from what they do hold (Wilson intervals from
counts, a normal interval of balanced accuracy from per-class rates, a bootstrap over prompts).
The papers' numbers (`PAPERS`) are quoted from the papers, as /work/shared/METHODS.md lists them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from internals.stats import wilson_interval

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def load(name: str) -> dict:
    """One committed result file, by its name under benchmarks/results/."""
    return json.loads((RESULTS / name).read_text())


def card(probe: str) -> dict:
    """The card of a committed probe (probes/<probe>/card.json)."""
    return json.loads((ROOT / "probes" / probe / "card.json").read_text())["card"]


def count(rate: float, n: int) -> int:
    """The integer count behind a rate the file stores (refuses a rate no count gives)."""
    k = round(rate * n)
    if abs(k / n - rate) > 1e-6:
        raise ValueError(f"rate {rate} is not a count out of {n}")
    return k


def balanced_accuracy_interval(m: dict) -> tuple[float, float, int, int]:
    """Normal 95% interval of balanced accuracy from a metrics dict (balanced_accuracy, accuracy,
    n, n_hallucinated): the per-class recalls are solved from those two rates, and the interval is
    0.5 * sqrt(r1 (1 - r1) / n1 + r0 (1 - r0) / n0) * 1.96 either side. Returns (lo, hi, n1, n0)."""
    n, n1 = m["n"], m["n_hallucinated"]
    n0 = n - n1
    b, a = m["balanced_accuracy"], m["accuracy"]
    r1 = (a * n - 2 * b * n0) / (n1 - n0)  # n1 r1 + n0 r0 = a n, r1 + r0 = 2 b
    r0 = 2 * b - r1
    count(r1, n1), count(r0, n0)  # both must be counts: the solve is exact
    se = 0.5 * math.sqrt(r1 * (1 - r1) / n1 + r0 * (1 - r0) / n0)
    return b - 1.96 * se, b + 1.96 * se, n1, n0


def _ci(lo: float, hi: float, digits: int = 3) -> str:
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _x(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}x"


def _rows(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---- capture and edits -------------------------------------------------------------------------


def capture_overhead_cpu() -> str:
    from make_tables import capture_overhead

    return capture_overhead(load("capture_overhead_cpu.json")).strip()


def edit_cost_cpu(name: str = "edit_cost_cpu.json") -> str:
    from make_tables import edit_cost

    return edit_cost(load(name)).strip()


def headline_capture() -> str:
    d = load("capture_overhead_cpu.json")
    reps = {r: c["repeats"] for r, c in d["manifest"]["regimes"].items()}
    worst = max((r for r in d["regimes"] if r != "stop"), key=lambda r: d["regimes"][r]["hooks"])
    return (
        f"Capturing every layer's residual stream through the hooks backend costs **{_x(d['hooks_worst'])}** "
        f"{_ci(*d['hooks_worst_ci'])} a plain forward in its worst regime ({worst}; median of {reps[worst]} "
        f"interleaved repeats of the paired ratio with its bootstrap interval over repeats, "
        f"{d['manifest']['model']['name']}, {d['manifest']['threads']} CPU thread), and stopping after the middle "
        f"block costs {_x(d['mid_layer_stop'])} {_ci(*d['mid_layer_stop_ci'])} a full forward."
    )


def headline_edits() -> str:
    d = load("edit_cost_cpu.json")
    reps = {r: c["repeats"] for r, c in d["manifest"]["regimes"].items()}
    worst = max(d["regimes"], key=lambda r: d["regimes"][r]["steer_hooks"] or 0)
    return (
        f"A one-site steering edit through the hooks backend costs **{_x(d['steer_hooks_worst'])}** "
        f"{_ci(*d['steer_hooks_worst_ci'])} a plain forward in its worst regime ({worst}; median of {reps[worst]} "
        f"interleaved repeats of the paired ratio with its bootstrap interval over repeats, "
        f"{d['manifest']['model']['name']}, {d['manifest']['threads']} CPU thread)."
    )


# ---- FactCheckmate -----------------------------------------------------------------------------

HEADS = {"mlp": "`mlp` (the paper's)", "mlp_scaled": "`mlp_scaled` (ours, saved)", "logistic": "logistic (ours)"}


def factcheckmate() -> str:
    d = load("factcheckmate.json")["detection"]
    rows = []
    for ds, res in d.items():
        data = res["data"]
        for i, head in enumerate(HEADS):
            t = res[head]["test"]
            lo, hi, _, _ = balanced_accuracy_interval(t)
            name = (
                f"{ds} ({data['n']:,}, {data['hallucination_rate']:.1%} hallucinated; test {t['n']})" if not i else ds
            )
            rows.append(
                [
                    name,
                    HEADS[head],
                    str(res[head]["layer"]),
                    f"{t['balanced_accuracy']:.3f} {_ci(lo, hi)}",
                    f"{t['auroc']:.3f}",
                    f"{t['f1']:.3f}",
                ]
            )
    return _rows(["dataset", "head", "layer", "balanced accuracy [95% CI]", "AUROC", "F1 (macro)"], rows)


SETTINGS = {
    "qa_wikidata": "`I`: the whole chat prompt",
    "qa_wikidata_i6": "`I-6`: without the template's last 6 tokens",
    "qa_wikidata_io": "`I+O`: prompt and the model's answer (not preemptive)",
}


def factcheckmate_settings() -> str:
    rows = []
    for probe, label in SETTINGS.items():
        m = card(probe)["metrics"]
        rows.append([label] + [f"{m[h]['test']['balanced_accuracy']:.3f} / {m[h]['test']['auroc']:.3f}" for h in HEADS])
    return _rows(["setting (probe)", *HEADS.values()], rows)


def factcheckmate_mitigation() -> str:
    t = load("factcheckmate.json")["mitigation"]
    test, c = t["test"], t["test"]["flagged_counts"]
    lo, hi = wilson_interval(c["after"], test["n_flagged"])
    return (
        f"Steering layer {t['steer_layer']} at alpha {t['best_alpha']:g} (picked on {t['validation']['n_used']} "
        f"flagged validation questions) raises the factual rate of the {test['n_flagged']} flagged test questions "
        f"from {test['flagged_before']:.3f} to **{test['flagged_after']:.3f}** {_ci(lo, hi)} ({c['before']} -> "
        f"{c['after']} questions: {c['wins']} won, {c['losses']} lost, McNemar p = {c['p_value']:.4f}); steering the "
        f"probed layer {t['layer']} gives {test['flagged_after_at_probed_layer']:.3f}. Detection fused into "
        f"generation costs {t['timings']['detection_overhead']:+.1%} (a separate pass "
        f"{t['timings']['detection_overhead_separate_pass']:+.0%})."
    )


def headline_factcheckmate() -> str:
    d = load("factcheckmate.json")
    t = d["detection"]["qa_wikidata"]["mlp_scaled"]
    lo, hi, n1, n0 = balanced_accuracy_interval(t["test"])
    m = d["detection"]["qa_wikidata"]["mlp"]["test"]
    m_ci = balanced_accuracy_interval(m)[:2]
    ev = card("qa_wikidata")["evidence"]
    rc, sc = ev["random_model_control"]["balanced_accuracy"], ev["label_shuffle_control"]["balanced_accuracy"]
    tr = load("probe_transfer.json")
    off = [c["balanced_accuracy"]["value"] for k, c in tr["transfer"]["qa_wikidata"].items() if k != "qa_wikidata"]
    lo_t, hi_t = min(off), max(off)
    return (
        f"On qa_wikidata the `mlp_scaled` probe at layer {t['layer']} tells, before the model answers, whether it "
        f"will hallucinate with balanced accuracy **{t['test']['balanced_accuracy']:.3f}** {_ci(lo, hi)} "
        f"(n = {t['test']['n']} test questions, {n1} hallucinated and {n0} not; normal interval from the per-class "
        f"recalls); the paper's MLP on raw features reaches {m['balanced_accuracy']:.3f} {_ci(*m_ci)}. "
        f"Not shown to be about the model: the same pipeline on the random-init twin's features scores "
        f"{rc['value']:.3f} {_ci(rc['low'], rc['high'])} on the same test questions (the card's random-model control; "
        f"the intervals overlap; label-shuffle control {sc['value']:.3f} {_ci(sc['low'], sc['high'])}, the 2.5-97.5 percentiles "
        f"over {len(sc['draws'])} shuffles), and the head scores "
        f"{lo_t:.2f}-{hi_t:.2f} on other closed-book sets (transfer table)."
    )


def _ba_cell(cell: dict) -> str:
    if "skipped" in cell:
        return "-"  # the reason is in the controls table (no probe) or the prose (one class among the rows)
    ba = cell["balanced_accuracy"]
    return f"{ba['value']:.2f} {_ci(ba['low'], ba['high'], 2)} (n={cell['n']})"


def probe_transfer(name: str = "probe_transfer.json") -> str:
    d = load(name)
    names = list(d["sets"])
    rows = [[n, str(v["n"]), f"{v['hallucination_rate']:.3f}", str(v["split"]["test"])] for n, v in d["sets"].items()]
    out = _rows(["set", "questions", "hallucination rate", "test split"], rows) + "\n\n"
    rows = [[s] + [_ba_cell(d["transfer"][s][t]) for t in names] for s in names]
    rows.append(["leave-one-dataset-out"] + [_ba_cell(d["leave_one_out"][t]) for t in names])
    out += _rows(["trained on \\ tested on"] + names, rows) + "\n\n"
    rows = []
    for s, v in d["sources"].items():
        if "skipped" in v:
            rows.append([s, "-", "-", "-", "-", v["skipped"]])
            continue
        real = d["transfer"][s][s]
        ctrl, shuf = v["random_model_control"]["balanced_accuracy"], v["label_shuffle_control"]["balanced_accuracy"]
        beats = "skipped" not in real and real["balanced_accuracy"]["low"] > ctrl["high"]
        rows.append(
            [
                s,
                str(v["layer"]),
                _ba_cell(real),
                f"{ctrl['value']:.2f} {_ci(ctrl['low'], ctrl['high'], 2)}",
                f"{shuf['value']:.2f} {_ci(shuf['low'], shuf['high'], 2)}",
                "yes" if beats else "no",
            ]
        )
    shuffles = [v["label_shuffle_control"] for v in d["sources"].values() if "skipped" not in v]
    k = {c.get("n_permutations") for c in shuffles}
    note = (
        f"\n\nLabel-shuffle control: mean [2.5th, 97.5th percentile] over {k.pop()} permutations of the labels of "
        "every row the fit sees (train and validation)."
        if len(k) == 1 and None not in k
        else "\n\nLabel-shuffle control: ONE permutation of the training labels, the real validation labels kept "
        "(the version before the fix; its bootstrap interval over test rows): rerun the script."
    )
    return (
        out
        + _rows(
            [
                "source",
                "layer",
                "probe (own test split)",
                "random-model control",
                "label-shuffle control",
                "beats the random model",
            ],
            rows,
        )
        + note
    )


def answer_rules(name: str = "answer_rules.json") -> str:
    d = load(name)
    rules = ["+".join(r) for r in d["manifest"]["config"]["rules"]]
    rows = []
    for ds, r in d["results"].items():
        cells = []
        for rule in rules:
            x = r["rules"][rule]
            changed = f"; {x['labels_changed_vs_paper']} changed" if x["labels_changed_vs_paper"] else ""
            cells.append(f"{x['hallucination_rate']:.3f} {_ci(x['low'], x['high'])}{changed}")
        rows.append([f"{ds} ({r['n']}; echo only {r['echo_only']})", *cells])
    return _rows(["dataset (questions; echo-only answers)", *(f"`{r}`" for r in rules)], rows)


# ---- context cutoff ----------------------------------------------------------------------------

DATASETS = {"contextual_parametric_knowledge_conflicts": "cpkc", "disfl_qa": "disfl_qa"}


def _cutoff_cells(doc: dict, method: str, fields: tuple[str, ...], mean: bool = True) -> list[str]:
    cells, sums = [], [0.0] * len(fields)
    for ds in DATASETS:
        m = doc["tables"][ds]["methods"][method]
        vals = [m[f] for f in fields]
        sums = [s + v for s, v in zip(sums, vals)]
        cells.append(" / ".join(_fmt(f, v) for f, v in zip(fields, vals)))
    means = [s / len(DATASETS) for s in sums]
    cells.append(" / ".join(_fmt(f, v) for f, v in zip(fields, means)) if mean else "")
    return cells


def _fmt(field: str, v: float) -> str:
    return f"{v:.3f}" if field == "accuracy" else f"{v:.3f}x"


def _f1_cells(doc: dict, keys: list[str], mean: bool = False) -> list[str]:
    cells = [" / ".join(f"{doc['tables'][ds]['f1'][k]:.3f}" for k in keys) for ds in DATASETS]
    means = [sum(doc["tables"][ds]["f1"][k] for ds in DATASETS) / len(DATASETS) for k in keys]
    return cells + [" / ".join(f"{v:.3f}" for v in means) if mean else ""]


def _full_row(doc: dict) -> list[str]:
    return ["accuracy, full context", *_cutoff_cells(doc, "full", ("accuracy",))]


def cutoff_main() -> str:
    d = load("context_cutoff.json")
    ta = ("token_reduction", "accuracy")
    rows = [
        _full_row(d),
        ["head ensemble (`attn_z`) at P >= 0.95", *_cutoff_cells(d, "probe:attn_z@0.95", ta)],
        ["head ensemble at 0.8 (picked on validation)", *_cutoff_cells(d, "probe:attn_z@0.8", ta)],
        ["head ensemble at 0.5", *_cutoff_cells(d, "probe:attn_z@0.5", ta)],
        ["logistic stage (`attn_z+logistic`) at 0.95", *_cutoff_cells(d, "probe:attn_z+logistic@0.95", ta)],
        ["logistic stage at 0.5 (picked on validation answers)", *_cutoff_cells(d, "probe:attn_z+logistic@0.5", ta)],
        ["logistic stage at 0.99", *_cutoff_cells(d, "probe:attn_z+logistic@0.99", ta)],
        ["o_proj slices, head ensemble at 0.95", *_cutoff_cells(d, "probe:o_proj_slices@0.95", ta)],
        ["o_proj slices + logistic stage at 0.95", *_cutoff_cells(d, "probe:o_proj_slices+logistic@0.95", ta)],
        ["oracle (stop at the first sufficient chunk)", *_cutoff_cells(d, "oracle", ta)],
        [
            "prefix F1: head ensemble attn_z / o_proj slices",
            *_f1_cells(d, ["probe:attn_z", "probe:o_proj_slices"], True),
        ],
        [
            "prefix F1: logistic stage attn_z / o_proj slices",
            *_f1_cells(d, ["probe:attn_z+logistic", "probe:o_proj_slices+logistic"]),
        ],
        ["prefix F1: position only / self-assessment", *_f1_cells(d, ["position", "self_assessment"], True)],
    ]
    return _rows(["token reduction / accuracy", *DATASETS.values(), "mean"], rows)


TPA = ("token_reduction", "processed_reduction", "accuracy")


def _val_pick(doc: dict, probe: str) -> str:
    """What the validation answers said at the threshold they picked for `probe`."""
    v = doc["validation_picked_by_probe"][probe]
    got = v["validation"]["sweep"][str(v["threshold"])]
    return (
        f"picked on validation answers: {got['token_reduction']:.3f}x / {got['accuracy']:.3f} vs full "
        f"{v['validation']['accuracy_full']:.4g} there"
    )


def cutoff_query() -> str:
    d = load("context_cutoff_query.json")
    rows = [
        _full_row(d),
        [
            "head ensemble (`attn_z_query`, the config's main) at 0.95",
            *_cutoff_cells(d, "probe:attn_z_query@0.95", TPA),
        ],
        [f"head ensemble at 0.5 ({_val_pick(d, 'attn_z_query')})", *_cutoff_cells(d, "probe:attn_z_query@0.5", TPA)],
        [
            "head ensemble at 0.8 (picked on validation stop precision)",
            *_cutoff_cells(d, "probe:attn_z_query@0.8", TPA),
        ],
        [
            "logistic stage (`attn_z_query+logistic`) at 0.95",
            *_cutoff_cells(d, "probe:attn_z_query+logistic@0.95", TPA),
        ],
        [
            f"logistic stage at 0.5 ({_val_pick(d, 'attn_z_query+logistic')})",
            *_cutoff_cells(d, "probe:attn_z_query+logistic@0.5", TPA),
        ],
        [
            "prefix F1: head ensemble / logistic / position",
            *_f1_cells(d, ["probe:attn_z_query", "probe:attn_z_query+logistic", "position"], True),
        ],
    ]
    return _rows(["reduction / processed / accuracy", *DATASETS.values(), "mean"], rows)


def cutoff_confirm() -> str:
    d = load("context_cutoff_query_confirm.json")
    rows = [
        _full_row(d),
        [
            "**logistic stage at 0.95 (declared in advance)**",
            *_cutoff_cells(d, "probe:attn_z_query+logistic@0.95", TPA),
        ],
        [
            "its token reduction, 95% bootstrap interval over examples",
            *_reduction_ci_cells(d),
        ],
        [
            "fixed truncation at the rule's validation token budget ("
            + ", ".join(f"{d['tables'][ds]['methods']['fixed_truncation']['mean_chunks']:g}" for ds in DATASETS)
            + f" of {d['manifest']['config']['n_chunks']} chunks)",
            *_cutoff_cells(d, "fixed_truncation", TPA),
        ],
        [
            "logistic stage at 0.5 (picked on validation answers)",
            *_cutoff_cells(d, "probe:attn_z_query+logistic@0.5", TPA),
        ],
        ["head ensemble at 0.95", *_cutoff_cells(d, "probe:attn_z_query@0.95", TPA)],
        ["head ensemble at 0.5 (its validation pick)", *_cutoff_cells(d, "probe:attn_z_query@0.5", TPA)],
        ["oracle (stop at the first sufficient chunk)", *_cutoff_cells(d, "oracle", TPA)],
        [
            "prefix F1: logistic stage / head ensemble / position only",
            *_f1_cells(d, ["probe:attn_z_query+logistic", "probe:attn_z_query", "position"]),
        ],
    ]
    n = sum(d["tables"][ds]["n_examples"] for ds in DATASETS)
    return _rows(
        [f"`attn_z_query`, {n} fresh test examples: reduction / processed / accuracy", *DATASETS.values(), "mean"], rows
    )


def _reduction_ci_cells(d: dict) -> list[str]:
    """The headline rule's token reduction interval per dataset and on the mean (`token_reduction_ci`)."""
    ci = d["token_reduction_ci"]
    return [*(_ci(*ci["per_dataset"][ds]) for ds in DATASETS), _ci(ci["lo"], ci["hi"])]


def cutoff_confirm_gemma() -> str:
    """The second model's declared confirmation run (probes/<model>/cutoff_confirm.toml)."""
    d = load(f"context_cutoff_confirm.{SECOND_MODEL}.json")
    ta = ("token_reduction", "accuracy")
    cal, picked = d["calibrated"]["threshold"], d["validation_picked"]["threshold"]
    rows = [
        _full_row(d),
        ["**head ensemble (`attn_z`) at 0.95 (declared in advance)**", *_cutoff_cells(d, "probe:attn_z@0.95", ta)],
        ["its token reduction, 95% bootstrap interval over examples", *_reduction_ci_cells(d)],
        [
            f"head ensemble at {cal:g} (picked on validation stop precision)",
            *_cutoff_cells(d, f"probe:attn_z@{cal:g}", ta),
        ],
        [
            f"head ensemble at {picked:g} (picked on validation answers)",
            *_cutoff_cells(d, f"probe:attn_z@{picked:g}", ta),
        ],
        ["logistic stage (`attn_z+logistic`) at 0.95", *_cutoff_cells(d, "probe:attn_z+logistic@0.95", ta)],
        ["o_proj slices, head ensemble at 0.95", *_cutoff_cells(d, "probe:o_proj_slices@0.95", ta)],
        ["fixed truncation at the rule's validation token budget", *_cutoff_cells(d, "fixed_truncation", ta)],
        ["oracle (stop at the first sufficient chunk)", *_cutoff_cells(d, "oracle", ta)],
        [
            "prefix F1: head ensemble / logistic stage / o_proj slices / position only",
            *_f1_cells(d, ["probe:attn_z", "probe:attn_z+logistic", "probe:o_proj_slices", "position"], True),
        ],
    ]
    n = sum(d["tables"][ds]["n_examples"] for ds in DATASETS)
    return _rows([f"`attn_z`, {n} fresh test examples: reduction / accuracy", *DATASETS.values(), "mean"], rows)


def headline_cutoff() -> str:
    d = load("context_cutoff_query_confirm.json")
    c = d["calibrated"]
    n = c["vs_full"]["n"]
    k = count(c["accuracy"], n)
    lo, hi = wilson_interval(k, n)
    r = c["token_reduction_ci"]
    return (
        f"Our `attn_z_query` probe, with its rule declared before the run, reads **{c['token_reduction']:.3f}x** "
        f"{_ci(r['lo'], r['hi'])} fewer context tokens at accuracy **{c['accuracy']:.3f}** {_ci(lo, hi)} against the "
        f"full context's {d['accuracy_full']:.3f} {_ci(*wilson_interval(count(d['accuracy_full'], n), n))} "
        f"(n = {n} fresh test questions; bootstrap interval over questions for "
        f"the reduction, Wilson for accuracy; {c['vs_full']['wins']} won, {c['vs_full']['losses']} lost, McNemar "
        f"p = {c['vs_full']['p_value']:.3f})."
    )


# ---- voids -------------------------------------------------------------------------------------


def voids_share() -> str:
    t = load("voids.json")["trace"]
    a = t["alphas"]
    rows = [
        [
            f"{ph.upper()} ({t['tokens'][ph]:,} tokens)",
            *(f"{v[ph]['void_share']:.3f} {_ci(*v[ph]['void_share_ci'])}" for v in a.values()),
        ]
        for ph in ("pp", "rg")
    ]
    return _rows([f"void share [95% CI over prompts], alpha ({t['n_prompts']} prompts)", *a], rows)


def voids_timing() -> str:
    t = load("voids.json")["timing"]
    rows = [
        [r["label"], f"{r['seconds_per_step']:.3f}", f"{r['blocks_skipped']:.1%}", str(r["steps"])] for r in t["rows"]
    ]
    head = f"decode ({t['manifest']['limit']} {t['manifest']['dataset']} prompts)"
    return _rows([head, "seconds per step", "reply blocks not run or dropped", "timed steps"], rows)


def voids_confirm(name: str = "voids_confirm.json") -> str:
    d = load(name)
    c = d["declared"]
    rows = []
    for name, v in d["sets"].items():
        rows.append(
            [
                name,
                str(v["n"]),
                f"{v['accuracy_full']:.3f} {_ci(*v['accuracy_full_ci'])}",
                f"{v['accuracy_skip']:.3f} {_ci(*v['accuracy_skip_ci'])}",
                _skipped(v),
                f"{v['wins']} / {v['losses']}",
                f"{v['mcnemar_p']:.3g}",
                v["verdict"],
            ]
        )
    head = (
        f"Declared before scoring: `{c['kind']}` at alpha {c['alpha']}, phases {c['phases']}, protocol {c['protocol']}, "
        f"{c['n_per_set']} fresh questions per set. The claim holds on **{d['holds_on']} of {d['of']}** sets "
        '("at least as accurate": point accuracy >= the full model\'s and not significantly lower, McNemar; '
        '"better" needs p < 0.05).\n\n'
    )
    return head + _rows(
        [
            "set",
            "n",
            "full model [95% CI]",
            "skipping [95% CI]",
            "pairs skipped [95% CI]",
            "wins / losses",
            "McNemar p",
            "verdict",
        ],
        rows,
    )


def headline_voids() -> str:
    d, c = load("voids.json"), load("voids_confirm.json")
    k = count(d["accuracy_skip"], d["n"])
    lo, hi = wilson_interval(k, d["n"])
    p = d["paired"]
    return (
        f"The paper's skipping at alpha {d['alpha']} skips {_skipped(d)} of (token, block) pairs (bootstrap "
        f"interval over questions) on "
        f"{d['dataset']} (option log-likelihood) with accuracy **{d['accuracy_skip']:.3f}** {_ci(lo, hi)} against the "
        f"full model's {d['accuracy_full']:.3f} {_ci(*wilson_interval(count(d['accuracy_full'], d['n']), d['n']))} "
        f"(n = {d['n']} questions, Wilson intervals; {p['wins']} won, "
        f"{p['losses']} lost, McNemar p = {p['p_value']:.2f}: not a significant gain). At alpha 0.8, "
        f"{_share(d)} of prompt (token, block) pairs are voids (bootstrap interval over the "
        f"{d['trace']['n_prompts']} traced prompts). "
        f"Declared in advance and run on {c['declared']['n_per_set']} fresh questions of each of {c['of']} other sets, "
        f"the same configuration has point accuracy at least the full model's and is not significantly lower "
        f"(McNemar) on {c['holds_on']} of {c['of']}, significantly better on "
        f"{sum(v['verdict'] == 'better' for v in c['sets'].values())}, with accuracies near chance."
    )


# ---- depth -------------------------------------------------------------------------------------


def depth_pretrain() -> str:
    d, p = load("depth.json"), load("depth_pretrain.json")["manifest"]
    c = p["config"]
    head = (
        f"pre-training ({d['device']}, {d['params'] / 1e6:.1f}M params, {c['n_layers']} layers, d {c['d_model']}, "
        f"{d['steps']} steps of {c['batch_size']}x{c['seq_len']} tokens)"
    )
    return _rows(
        [head, "Pre-LN", "LNS"],
        [
            [f"validation perplexity at step {d['steps']}", f"{d['ppl_preln']:.1f}", f"{d['ppl_lns']:.1f}"],
            [
                "variance last / first block",
                f"{d['variance_last_over_first_preln']:.2f}",
                f"{d['variance_last_over_first_lns']:.2f}",
            ],
        ],
    )


def _seed_test(t: dict) -> str:
    """A declared seed-replicate test: the geometric-mean ratio LNS / Pre-LN, its 95% t interval,
    on how many seeds LNS is lower, the paired t p and the verdict."""
    return (
        f"{t['ratio']:.3f} {_ci(t['lo'], t['hi'])} (lower on {t['lower']} of {t['n']} seeds, paired t "
        f"{_p(t['p_value'])}): **{t['verdict']}**"
    )


def depth_seeds() -> str:
    """The pre-training comparison's declared seed replicates (benchmarks/depth_seeds.py)."""
    d = load("depth_pretrain_seeds.json")
    seeds = [("0 (exploratory, not in the test)", d["exploratory_seed0"])] + [
        (s, d["per_seed"][s]) for s in map(str, d["declared"]["seeds"])
    ]
    rows = [
        [str(s), f"{m['ppl_preln']:.1f}", f"{m['ppl_lns']:.1f}", f"{m['growth_preln']:.2f}", f"{m['growth_lns']:.2f}"]
        for s, m in seeds
    ]
    table = _rows(
        ["seed", "perplexity Pre-LN", "perplexity LNS", "variance growth Pre-LN", "variance growth LNS"], rows
    )
    t = d["tests"]
    tests = _rows(
        ["declared claim", "LNS / Pre-LN [95% CI]"],
        [[t[k]["claim"], _seed_test(t[k])] for k in ("perplexity", "growth")],
    )
    return table + "\n\n" + tests


def _per_prompt_ratio(trace: dict) -> dict:
    import numpy as np

    from internals.stats import bootstrap_mean

    pv = np.asarray(trace["prompt_variance"], dtype=float)
    return bootstrap_mean(pv[:, -1] / pv[:, 1])


def depth_variance() -> str:
    t = load("depth_trace.json")["results"]["traces"]
    rows = []
    for name, tr in t.items():
        b = _per_prompt_ratio(tr)
        rows.append(
            [
                name,
                f"{tr['variance'][-1] / tr['variance'][1]:.1f}",
                f"{float(b['mean']):.1f} {_ci(float(b['lo']), float(b['hi']), 1)}",
                f"{tr['n_prompts']:,} / {tr['n_tokens']:,}",
            ]
        )
    return _rows(
        ["model", "variance last / first block, all tokens", "within each passage, mean [95% CI]", "passages / tokens"],
        rows,
    )


def depth_trace_summary() -> str:
    t = load("depth_trace.json")["results"]
    names = list(t["traces"])
    tr, twin = t["traces"][names[0]], t["traces"][names[1]]
    v = tr["variance"]
    jump = max(range(1, len(v) - 1), key=lambda i: v[i + 1] / v[i])  # x_i -> x_{i+1} is block i
    a = t["ablation"]
    big = sorted(range(len(a["delta"])), key=lambda i: -a["delta"][i])[:6]
    rest = [a["delta"][i] for i in range(len(a["delta"])) if i not in big]
    return (
        f"Trace over {tr['n_prompts']:,} passages (first {tr['max_tokens']} tokens, {tr['n_tokens']:,} tokens), "
        f"variance after the last block over variance after the first block: {names[0]} "
        f"**{v[-1] / v[1]:.0f}** ({tr['variance_rest'][-1] / tr['variance_rest'][1]:.0f} without each prompt's first "
        f"token: block {jump} blows up the first token's residual stream, all-token variance {v[jump]:.1f} -> "
        f"{v[jump + 1]:,.0f}, until the last blocks shrink it); its random-init twin "
        f"**{twin['variance'][-1] / twin['variance'][1]:.0f}**. Skipping one block on {a['n_texts']} held-out "
        f"passages (baseline {a['baseline']:.2f} nats) costs most for blocks "
        + ", ".join(f"{a['blocks'][i]} ({a['delta'][i]:+.2f})" for i in big)
        + f", and {min(rest):+.2f} to {max(rest):+.2f} nats for every other block."
    )


def headline_depth() -> str:
    tr = load("depth_trace.json")["results"]["traces"]
    name = next(iter(tr))
    b = _per_prompt_ratio(tr[name])
    d, t = load("depth.json"), load("depth_pretrain_seeds.json")["tests"]
    return (
        f"Within a passage, {name}'s residual-stream variance after the last block is "
        f"**{float(b['mean']):.0f}x** {_ci(float(b['lo']), float(b['hi']), 0)} that after the first (mean over "
        f"n = {tr[name]['n_prompts']:,} passages, bootstrap interval; {d['variance_last_over_first_smollm2']:.0f}x "
        f"over all tokens pooled); "
        f"in a small model pre-trained from scratch, LayerNorm Scaling brings that ratio from "
        f"{d['variance_last_over_first_preln']:.2f}x to {d['variance_last_over_first_lns']:.2f}x and the validation "
        f"perplexity after {d['steps']} steps from {d['ppl_preln']:.1f} to {d['ppl_lns']:.1f} (seed 0, the exploratory "
        f"run). Over {t['perplexity']['n']} further seeds declared in advance, LNS / Pre-LN perplexity is "
        f"{_seed_test(t['perplexity'])}; variance growth {_seed_test(t['growth'])}."
    )


# ---- patching ----------------------------------------------------------------------------------


def _best(summary: dict, categories: list[str], n: list[int], site: str) -> list[list[str]]:
    rows = []
    rec = summary[site]["recovery"]
    for i, cat in enumerate(categories):
        means = rec["mean"][i]
        if not n[i] or all(v is None for v in means):
            continue
        layer = max(range(len(means)), key=lambda j: -math.inf if means[j] is None else means[j])
        rows.append(
            [site, cat, str(n[i]), str(layer), f"{means[layer]:.3f} {_ci(rec['lo'][i][layer], rec['hi'][i][layer])}"]
        )
    return rows


def patching_summary(
    files: tuple[tuple[str, str], ...] = (("patching.json", ""), ("patching_window10.json", ", window 10")),
) -> str:
    rows = []
    for name, suffix in files:
        r = load(name)["results"]
        for site in r["sites"]:
            n = r["summary"][site]["n"]
            for row in _best(r["summary"], r["categories"], n, site):
                row[0] += suffix
                rows.append(row)
    return _rows(["site", "category", "n", "best layer", "mean recovery [95% CI]"], rows)


def headline_patching() -> str:
    r = load("patching.json")["results"]
    pk = r["summary"]["attn_out"]["peak"]
    return (
        f"Restoring the attention output at the last token of layer {pk['layer']} recovers **{pk['mean']:.3f}** "
        f"{_ci(pk['lo'], pk['hi'])} of the clean answer's probability (n = {r['n_pairs']} qa_wikidata pairs, "
        f"bootstrap interval over pairs)."
    )


# ---- models ------------------------------------------------------------------------------------


def _families() -> dict:
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from families import FAMILIES

    return FAMILIES


def families() -> str:
    f = _families()
    return _rows(
        ["family", "HF config", "block", "notes"],
        [[name, f"`{cls}`", kind, note] for name, (cls, _, kind, note) in f.items()],
    )


def families_list() -> str:
    return ", ".join(_families()) + f" ({len(_families())} families)."


# ---- the papers beside ours --------------------------------------------------------------------

PAPERS = {
    "factcheckmate": "> 70% preemptive detection accuracy (Llama-2-7B on NQ 71.8, Mistral-7B 72.5; their README)",
    "cutoff": "1.33x token reduction with +1.3% accuracy, six QA sets, 1B-70B models",
    "voids": "Qwen2.5-7B-Instruct MMLU 69.24 -> 71.29 with ~30% of layers; Mistral-7B GPQA 13.88 -> 18.36 with ~70%",
    "depth": "Table 1 perplexity Pre-LN -> LNS: 130M 26.73 -> 25.76, 1B 17.02 -> 15.71 (20k steps x 512 sequences)",
    "patching": "GPT-2 XL / GPT-J: MLP outputs at the last subject token in middle layers; attention at the last token late",
}


def reproducing() -> str:
    f = load("factcheckmate.json")["detection"]["qa_wikidata"]
    c = load("context_cutoff_query_confirm.json")["calibrated"]
    c0 = load("context_cutoff.json")
    r, r0 = c["token_reduction_ci"], c0["token_reduction_ci"]
    v, d = load("voids.json"), load("depth.json")
    seeds = load("depth_pretrain_seeds.json")
    w = load("patching_window10.json")["results"]
    mlp = _best(w["summary"], w["categories"], w["summary"]["mlp_out"]["n"], "mlp_out")
    mlp_last_subject = next(r for r in mlp if r[1] == "last subject token")
    attn = load("patching.json")["results"]["summary"]["attn_out"]["peak"]
    rows = [
        [
            "FactCheckmate",
            PAPERS["factcheckmate"],
            f"qa_wikidata balanced accuracy: paper's MLP {f['mlp']['test']['balanced_accuracy']:.3f} "
            f"{_ci(*balanced_accuracy_interval(f['mlp']['test'])[:2])}, `mlp_scaled` "
            f"{f['mlp_scaled']['test']['balanced_accuracy']:.3f} {_ci(*balanced_accuracy_interval(f['mlp_scaled']['test'])[:2])}",
            "`python benchmarks/factcheckmate.py`",
        ],
        [
            "Context cutoff",
            PAPERS["cutoff"],
            f"prefix-mean probe {c0['token_reduction']:.3f}x {_ci(r0['lo'], r0['hi'])} at accuracy "
            f"{c0['accuracy_cutoff']:.3f} (full {c0['accuracy_full']:.3f}); `attn_z_query` {c['token_reduction']:.3f}x "
            f"{_ci(r['lo'], r['hi'])} at {c['accuracy']:.3f} (full "
            f"{load('context_cutoff_query_confirm.json')['accuracy_full']:.3f})",
            "`python benchmarks/context_cutoff.py [--config probes/cutoff_query_confirm.toml]`",
        ],
        [
            "Voids (LAC)",
            PAPERS["voids"],
            f"{v['dataset']} {v['accuracy_full']:.3f} -> {v['accuracy_skip']:.3f} with {_skipped(v)} of "
            f"pairs skipped (n = {v['n']}, McNemar p = {v['paired']['p_value']:.2f})",
            "`python benchmarks/voids.py`",
        ],
        [
            "Curse of Depth (LNS)",
            PAPERS["depth"],
            f"{d['params'] / 1e6:.1f}M params, {d['steps']} steps: {d['ppl_preln']:.1f} -> {d['ppl_lns']:.1f} (seed 0); "
            f"{len(seeds['declared']['seeds'])} declared seeds, LNS / Pre-LN {_seed_test(seeds['tests']['perplexity'])}",
            "`python benchmarks/depth.py --threads 1`, `python benchmarks/depth_seeds.py --threads 1`",
        ],
        [
            "Causal tracing (ROME)",
            PAPERS["patching"],
            f"mlp_out (window 10) at the last subject token peaks at layer {mlp_last_subject[3]}: "
            f"{mlp_last_subject[4]}; attn_out at the last token, layer {attn['layer']}: {attn['mean']:.3f} "
            f"{_ci(attn['lo'], attn['hi'])}",
            "`python benchmarks/patching.py`",
        ],
    ]
    return _rows(["analysis", "paper", "ours (SmolLM2-135M-Instruct)", "command"], rows)


# ---- two models --------------------------------------------------------------------------------

SECOND_MODEL = "gemma3-270m"


def _both(stem: str) -> list[dict | None]:
    """The default model's results file `<stem>.json` and the second model's `<stem>.<model>.json`
    (None where that run is not committed)."""
    out: list[dict | None] = []
    for name in (f"{stem}.json", f"{stem}.{SECOND_MODEL}.json"):
        path = RESULTS / name
        out.append(json.loads(path.read_text()) if path.exists() else None)
    return out


def _cell(doc: dict | None, fn: Callable[[dict], str]) -> str:
    return "not run" if doc is None else fn(doc)


def _tci(d: dict, key: str) -> str:
    """' [lo, hi]' of a time ratio's bootstrap interval; '' for a file made before intervals were kept."""
    return f" {_ci(*d[key])}" if d.get(key) else ""


def _capture_cell(d: dict) -> str:
    timed = [r for r in d["regimes"] if r != "stop"]
    return (
        f"{_x(d['hooks_worst'])}{_tci(d, 'hooks_worst_ci')} (worst of {', '.join(timed)}; median over repeats"
        f"{', bootstrap interval' if 'hooks_worst_ci' in d else ', no interval in this file'}); stop at the middle "
        f"block: {_x(d['mid_layer_stop'])}{_tci(d, 'mid_layer_stop_ci')}"
    )


def _fcm_cell(d: dict) -> str:
    t = d["detection"]["qa_wikidata"]["mlp_scaled"]
    lo, hi, n1, n0 = balanced_accuracy_interval(t["test"])
    n_layers = d["manifest"]["model"]["n_layers"]
    rate = d["detection"]["qa_wikidata"]["data"]["hallucination_rate"]
    probe = Path(d["manifest"]["configs"]["qa_wikidata"]["out"]) / "qa_wikidata"
    control = ""
    rc = card(str(probe.relative_to("probes")) if probe.parts[0] == "probes" else probe.name).get("evidence", {})
    rc = rc.get("random_model_control")
    if rc:
        ba = rc["balanced_accuracy"]
        verdict = "beaten" if rc["probe_beats_it"] else "not beaten beyond the intervals"
        control = f"; random-model control {ba['value']:.3f} {_ci(ba['low'], ba['high'])}: {verdict}"
    return (
        f"{t['test']['balanced_accuracy']:.3f} {_ci(lo, hi)} at layer {t['layer']} of {n_layers} "
        f"(n = {t['test']['n']}; {rate:.0%} of answers hallucinated{control})"
    )


def _mitigation_cell(d: dict) -> str:
    t = d["mitigation"]
    test, c = t["test"], t["test"]["flagged_counts"]
    lo, hi = wilson_interval(c["after"], test["n_flagged"])
    return (
        f"flagged test questions factual {test['flagged_before']:.3f} -> {test['flagged_after']:.3f} {_ci(lo, hi)} "
        f"(n = {test['n_flagged']}; steering layer {t['steer_layer']}, alpha {t['best_alpha']:g}, picked on "
        f"{t['validation']['n_used']} validation questions; {c['wins']} won, {c['losses']} lost, McNemar "
        f"{_p(c['p_value'])})"
    )


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _cutoff_cell(d: dict) -> str:
    v = d["vs_full"]
    r = d["token_reduction_ci"]
    return (
        f"{d['token_reduction']:.3f}x {_ci(r['lo'], r['hi'])} fewer tokens, accuracy {d['accuracy_cutoff']:.3f} vs "
        f"{d['accuracy_full']:.3f} "
        f"(n = {v['n']}; {v['wins']} won, {v['losses']} lost, McNemar p = {v['p_value']:.2f}); probe F1 "
        f"{d['f1_probe']:.3f} vs position-only {d['f1_position']:.3f}"
    )


def _share(d: dict, alpha: str = "0.8") -> str:
    """The prompt-token void share at `alpha` with its bootstrap interval over prompts, in percent."""
    t = d["trace"]["alphas"][alpha]["pp"]
    lo, hi = t["void_share_ci"]
    return f"{t['void_share']:.1%} [{lo:.1%}, {hi:.1%}]"


def _skipped(d: dict, digits: int = 1) -> str:
    """The share of (token, block) pairs a configuration skipped, with its bootstrap interval over
    questions, in percent."""
    lo, hi = d["layers_skipped_ci"]
    return f"{d['layers_skipped']:.{digits}%} [{lo:.{digits}%}, {hi:.{digits}%}]"


def _voids_cell(d: dict) -> str:
    p = d["paired"]
    lo, hi = wilson_interval(count(d["accuracy_skip"], d["n"]), d["n"])
    return (
        f"{_share(d)} of prompt pairs are voids at alpha 0.8 ({d['trace']['n_prompts']} prompts); best skip "
        f"({d['label']}, {d['dataset']}, {d['protocol']}): {_skipped(d)} skipped, accuracy "
        f"{d['accuracy_skip']:.3f} {_ci(lo, hi)} vs {d['accuracy_full']:.3f} (n = {d['n']}; McNemar p = "
        f"{p['p_value']:.2f})"
    )


def _depth_cell(d: dict) -> str:
    traces = d["results"]["traces"]
    name = next(n for n in traces if "random" not in n)
    twin = next(n for n in traces if "random" in n)
    b, bt = _per_prompt_ratio(traces[name]), _per_prompt_ratio(traces[twin])
    return (
        f"{float(b['mean']):.0f}x {_ci(float(b['lo']), float(b['hi']), 0)} (random-init twin "
        f"{float(bt['mean']):.1f}x; n = {traces[name]['n_prompts']:,} passages)"
    )


def _transfer_cell(d: dict) -> str:
    own = d["transfer"]["qa_wikidata"]["qa_wikidata"]
    others = {k: c for k, c in d["transfer"]["qa_wikidata"].items() if k != "qa_wikidata" and "skipped" not in c}
    values = [c["balanced_accuracy"]["value"] for c in others.values()]
    lodo = [c["balanced_accuracy"]["value"] for c in d["leave_one_out"].values() if "skipped" not in c]
    src = d["sources"]["qa_wikidata"]
    ctrl = src["random_model_control"]["balanced_accuracy"]
    beats = own["balanced_accuracy"]["low"] > ctrl["high"]
    return (
        f"own test split {_ba_cell(own)} at layer {src['layer']}, random model {ctrl['value']:.2f} "
        f"{_ci(ctrl['low'], ctrl['high'], 2)} ({'beaten' if beats else 'not beaten'}); on {len(values)} other sets "
        f"{min(values):.2f}-{max(values):.2f}; leave-one-dataset-out {min(lodo):.2f}-{max(lodo):.2f}"
    )


def _answer_rules_cell(d: dict) -> str:
    parts = []
    for name, r in d["results"].items():
        x = r["rules"]["skip_echo+substring"]
        parts.append(f"{name} {r['echo_only']} of {r['n']} ({x['labels_changed_vs_paper']} labels changed)")
    return "; ".join(parts) + f" (template {d['manifest']['config']['template']!r})"


def _patching_cell(d: dict) -> str:
    r = d["results"]
    parts = []
    for site in ("attn_out", "mlp_out"):
        pk = r["summary"][site]["peak"]
        parts.append(
            f"`{site}` at the {pk['category']}, layer {pk['layer']} of {r['n_layers']}: {pk['mean']:.3f} "
            f"{_ci(pk['lo'], pk['hi'])}"
        )
    return "best mean recovery: " + "; ".join(parts) + f" (n = {r['n_pairs']} qa_wikidata pairs)"


def _edit_cell(d: dict) -> str:
    worst = max(d["regimes"], key=lambda r: d["regimes"][r]["steer_hooks"] or 0)
    patch = max(d["regimes"], key=lambda r: d["regimes"][r]["patch_hooks"] or 0)
    ci = f" {_ci(*d['regimes_ci'][patch]['patch_hooks'])}"  # median over repeats, bootstrap interval
    return (
        f"{_x(d['steer_hooks_worst'])}{_tci(d, 'steer_hooks_worst_ci')} (worst of {', '.join(d['regimes'])}: "
        f"{worst}; median over repeats"
        f"{', bootstrap interval' if 'steer_hooks_worst_ci' in d else ', no interval in this file'}); patching "
        f"every layer through the hooks backend: {_x(d['regimes'][patch]['patch_hooks'])}{ci} ({patch})"
    )


def _voids_confirm_cell(d: dict) -> str:
    better = sum(v["verdict"] == "better" for v in d["sets"].values())
    accs = ", ".join(
        f"{k} {v['accuracy_skip']:.2f} vs {v['accuracy_full']:.2f} (p = {v['mcnemar_p']:.2f})"
        for k, v in d["sets"].items()
    )
    n = d["declared"]["n_per_set"]
    return f"holds on {d['holds_on']} of {d['of']} sets, better on {better} (n = {n} each): {accs}"


def _mitigation_confirm_cell(d: dict) -> str:
    return (
        f"{d['verdict']}: the declared rule on {d['n_flagged']} flagged of {d['n_fresh']} fresh questions, factual "
        f"{d['rate_before']:.3f} -> {d['rate_after']:.3f} {_ci(*d['rate_after_ci'])} ({d['wins']} won, "
        f"{d['losses']} lost, McNemar {_p(d['p_value'])})"
    )


def mitigation_confirm(name: str = "mitigation_confirm.json") -> str:
    """A declared mitigation confirmation on fresh questions (benchmarks/mitigation_confirm.py)."""
    d = load(name)
    e = d["rule"]["edit"]
    rows = [
        ["fresh questions (after the probe's, seeded order)", str(d["n_fresh"])],
        ["hallucinated (paper's answer rule)", f"{d['hallucination_rate']:.3f}"],
        [
            "flagged by the committed detector",
            f"{d['n_flagged']} ({d['detector']['flagged_hallucinated']} of them hallucinated; "
            f"{d['detector']['unflagged_hallucinated']} of the {d['detector']['n_unflagged']} unflagged)",
        ],
        ["declared steering rule", f"`{e['site']}`, alpha {e['scale']:g} (vector rebuilt: {d['rule']['rebuilt']})"],
        [
            "factual, flagged, unsteered [95% CI]",
            f"{d['factual_before']} ({d['rate_before']:.3f} {_ci(*d['rate_before_ci'])})",
        ],
        [
            "factual, flagged, steered [95% CI]",
            f"{d['factual_after']} ({d['rate_after']:.3f} {_ci(*d['rate_after_ci'])})",
        ],
        ["won / lost, exact McNemar", f"{d['wins']} / {d['losses']}, {_p(d['p_value'])}"],
        [f"declared claim (p < {d['level']:g}, more won than lost)", f"**{d['verdict']}**"],
    ]
    return _rows(["mitigation confirmation", "value"], rows)


def _cutoff_confirm_verdict(d: dict) -> str:
    """The issue's cutoff target for a declared run's headline rule: >= 1.33x fewer context tokens
    with accuracy at least the full context's."""
    ok = d["token_reduction"] >= 1.33 and d["accuracy_cutoff"] >= d["accuracy_full"]
    v, r = d["vs_full"], d["token_reduction_ci"]
    return (
        f"{'holds' if ok else 'does not hold'}: {d['token_reduction']:.3f}x {_ci(r['lo'], r['hi'])} fewer context "
        f"tokens, accuracy {d['accuracy_cutoff']:.3f} vs {d['accuracy_full']:.3f} ({v['wins']} won, {v['losses']} "
        f"lost, McNemar {_p(v['p_value'])})"
    )


# every run whose rule and claim were fixed (in a committed config) before its test data were scored
DECLARED = (
    ("voids: the paper's skipping, 4 sets", "voids_confirm", "benchmarks/voids_confirm.py"),
    ("cutoff: `attn_z_query+logistic` at 0.95", "context_cutoff_query_confirm", "probes/cutoff_query_confirm.toml"),
    ("cutoff: `attn_z` at 0.95", "context_cutoff_confirm", "probes/gemma3-270m/cutoff_confirm.toml"),
    ("FactCheckmate: the steering rule", "mitigation_confirm", "probes/gemma3-270m/mitigation_confirm.toml"),
    ("depth: LNS against Pre-LN, pre-trained from scratch", "depth_pretrain_seeds", "benchmarks/depth_seeds.py"),
)


def declared_runs() -> str:
    """The runs declared in advance, on each model where committed, with n and the verdict of their claim."""
    rows = []
    for label, stem, where in DECLARED:
        for model, doc in zip(("SmolLM2-135M-Instruct", f"{SECOND_MODEL}"), _both(stem)):
            if doc is None:
                continue
            if stem == "depth_pretrain_seeds":
                model = f"{doc['config']['n_layers']}-layer model trained from scratch"
                n = f"{len(doc['declared']['seeds'])} seeds"
                t = doc["tests"]
                verdict = "; ".join(f"{t[k]['claim']}: {_seed_test(t[k])}" for k in ("perplexity", "growth"))
            elif stem == "voids_confirm":
                n = f"{doc['declared']['n_per_set']} per set"
                verdict = f"holds on {doc['holds_on']} of {doc['of']} sets"
            elif stem == "mitigation_confirm":
                n = f"{doc['n_flagged']} flagged of {doc['n_fresh']}"
                verdict = _mitigation_confirm_cell(doc)
            else:
                n = f"{doc['vs_full']['n']} ({doc['manifest']['config']['n_test']} per set)"
                verdict = _cutoff_confirm_verdict(doc)
            rows.append([label, model, f"`{where}`", n, verdict])
    return _rows(["declared run", "model", "declared in", "n", "claim"], rows)


def two_models() -> str:
    rows = [
        ["capture: hooks backend's cost, worst regime", "capture_overhead_cpu", _capture_cell],
        ["FactCheckmate: qa_wikidata probe, balanced accuracy [95% CI]", "factcheckmate", _fcm_cell],
        ["FactCheckmate: mitigation by steering when the probe fires", "factcheckmate", _mitigation_cell],
        [
            "FactCheckmate: the steering rule declared in advance, on fresh questions",
            "mitigation_confirm",
            _mitigation_confirm_cell,
        ],
        ["FactCheckmate: the qa_wikidata probe on other closed-book sets", "probe_transfer", _transfer_cell],
        ["answers that only echo the question (paper rule)", "answer_rules", _answer_rules_cell],
        ["context cutoff: `attn_z` probe at 0.95 vs the full context", "context_cutoff", _cutoff_cell],
        [
            "context cutoff: the rule declared in advance, on fresh test examples (SmolLM2: `attn_z_query+logistic`; "
            "Gemma: `attn_z`; both at 0.95)",
            ("context_cutoff_query_confirm.json", f"context_cutoff_confirm.{SECOND_MODEL}.json"),
            _cutoff_cell,
        ],
        ["voids: LAC voids and the paper's skipping", "voids", _voids_cell],
        ["voids: the declared skipping on fresh questions of four sets", "voids_confirm", _voids_confirm_cell],
        ["depth: variance after the last block / after the first, within a passage", "depth_trace", _depth_cell],
        ["patching: restoring one layer's output at one position", "patching", _patching_cell],
        ["edits: one-site steering (hooks) vs a plain forward", "edit_cost_cpu", _edit_cell],
    ]
    out = []
    for label, stem, fn in rows:
        a, b = _both(stem) if isinstance(stem, str) else [load(name) for name in stem]
        out.append([label, _cell(a, fn), _cell(b, fn)])
    return _rows(["measure", "SmolLM2-135M-Instruct", "Gemma 3 270M (base, Q4_K_M)"], out)


REGIONS: dict[str, Callable[[], str]] = {
    f.__name__: f
    for f in (
        capture_overhead_cpu,
        edit_cost_cpu,
        headline_capture,
        headline_edits,
        factcheckmate,
        factcheckmate_settings,
        factcheckmate_mitigation,
        headline_factcheckmate,
        answer_rules,
        probe_transfer,
        cutoff_main,
        cutoff_query,
        cutoff_confirm,
        headline_cutoff,
        voids_share,
        voids_timing,
        headline_voids,
        voids_confirm,
        depth_pretrain,
        depth_seeds,
        depth_variance,
        depth_trace_summary,
        headline_depth,
        patching_summary,
        headline_patching,
        families,
        families_list,
        reproducing,
        two_models,
        declared_runs,
    )
}


def templates_gemma() -> str:
    """The base-template check (benchmarks/templates.py) on the second model: the 40 questions the
    probe config's choice was made on, then 200 (each a seeded sample of qa_wikidata)."""
    rows = []
    for name in (f"templates_n40.{SECOND_MODEL}.json", f"templates.{SECOND_MODEL}.json"):
        d = load(name)
        for t, r in d["results"].items():
            vs = r["vs_auto"]
            rows.append(
                [
                    str(r["n"]),
                    "`" + t.replace("\n", "\\n") + "`",
                    f"{r['correct']} ({r['accuracy']:.3f} {_ci(*r['accuracy_ci'])})",
                    str(r["empty"]),
                    "-" if vs is None else f"{vs['wins']} / {vs['losses']}, {_p(vs['p_value'])}",
                ]
            )
    return _rows(["questions", "template", "right [95% CI]", "empty answers", "vs `auto`: won / lost, McNemar"], rows)


# the second model's detail tables, from <stem>.<SECOND_MODEL>.json (each on the page of its analysis)
REGIONS |= {
    "templates_gemma": templates_gemma,
    "edit_cost_cpu_gemma": lambda: edit_cost_cpu(f"edit_cost_cpu.{SECOND_MODEL}.json"),
    "voids_confirm_gemma": lambda: voids_confirm(f"voids_confirm.{SECOND_MODEL}.json"),
    "patching_summary_gemma": lambda: patching_summary(
        ((f"patching.{SECOND_MODEL}.json", ""), (f"patching_window10.{SECOND_MODEL}.json", ", window 10"))
    ),
    "answer_rules_gemma": lambda: answer_rules(f"answer_rules.{SECOND_MODEL}.json"),
    "probe_transfer_gemma": lambda: probe_transfer(f"probe_transfer.{SECOND_MODEL}.json"),
    "mitigation_confirm_gemma": lambda: mitigation_confirm(f"mitigation_confirm.{SECOND_MODEL}.json"),
    "cutoff_confirm_gemma": cutoff_confirm_gemma,
}
