"""Edit cost: a plain forward vs steering at one site and patching at every layer, on three backends.

    python benchmarks/edit_cost.py                    # SmolLM2 (eager attention) on the CPU, every regime
    python benchmarks/edit_cost.py --quick            # tiny settings, a smoke test
    python benchmarks/edit_cost.py --model DIR --regimes latency decode --repeats 10

Variants, on the same token ids (a corrupted copy of random ids: their first token redrawn):
  plain              THE DENOMINATOR: `model(input_ids, attention_mask, use_cache=False)` under
                     `torch.no_grad()`; in `decode`, `model.generate(...)`
  read               `capture(lm, ids, "logits", reduce="last", stop_early=False)`, no edits
  steer_<backend>    the same capture with `edits.add("resid_post.<n_layers // 2>", v, scale=8)`
                     (v: a seeded random vector of norm 1)
  patch_<backend>    the same capture with `edits.patch("resid_post.L", clean, positions=[-1])` for
                     every layer L: each layer's last-token residual restored from a stored clean run
                     of the uncorrupted ids (`capture(..., reduce="none")`), so the patched last-token
                     logits are the clean run's
Regimes: `latency` batch 1 x 12 tokens; `throughput` batch 8 x 128 (capture_overhead's 16 x 256 takes
~13 s a call on a 2-core CPU; at ~4 s a call, 8 variants x 10 repeats take 6 minutes); `decode` a 12-token
prompt and 64 greedy KV-cache steps, plain `model.generate` vs the same under `lm.edit(steer)`.

Timing as in capture_overhead.py: one warm-up call each (which also checks what the variants
compute), then the variants interleaved, in order in even repeats and reversed in odd ones; a
ratio is the median over repeats of a variant's time over `plain`'s in the same repeat (and over
`read`'s, in `vs_read`). Target: `steer_hooks` <= 1.03x `plain` in every regime. Prints a table and
one line of JSON; the JSON, with a manifest, goes to benchmarks/results/edit_cost_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from bench_models import results_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_overhead import Clock, cpu_name  # noqa: E402
from overhead_variants import _gen_kwargs, make_inputs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("hooks", "transformer_lens", "nnsight")
VARIANTS = ("plain", "read", *(f"steer_{b}" for b in BACKENDS), *(f"patch_{b}" for b in BACKENDS))
TARGETS = {"steer_hooks": 1.03}
STEER_SCALE = 8.0
DENOMINATOR = (
    "plain: model(input_ids, attention_mask, use_cache=False) under torch.no_grad() "
    "(decode: model.generate with the KV cache)"
)
NO_DECODE = {
    "read": "decode compares generate with and without the steering edit; there is no capture call to read",
    "steer_transformer_lens": "no decode path through internals: edits during generation attach to the HF model "
    "(lm.edit), which only the hooks mechanism runs",
    "steer_nnsight": "no decode path through internals: edits during generation attach to the HF model "
    "(lm.edit), which only the hooks mechanism runs",
    **{
        f"patch_{b}": "a patch restores positions of a stored clean run; decode steps make new positions "
        "that have no stored values"
        for b in BACKENDS
    },
}


@dataclass(frozen=True)
class Regime:
    name: str
    batch: int
    tokens: int
    steps: int = 0  # greedy decode steps (decode only)
    repeats: int = 5


REGIMES = {
    "latency": Regime("latency", 1, 12, repeats=40),
    "throughput": Regime("throughput", 8, 128, repeats=10),
    "decode": Regime("decode", 1, 12, steps=64, repeats=10),
}
QUICK = {"latency": (1, 8, 0), "throughput": (2, 16, 0), "decode": (1, 8, 4)}


def regimes(args) -> list[Regime]:
    out = []
    for name in args.regimes:
        r = REGIMES[name]
        if args.quick:
            b, t, s = QUICK[name]
            r = replace(r, batch=b, tokens=t, steps=s, repeats=2)
        out.append(replace(r, repeats=args.repeats) if args.repeats else r)
    return out


def steering(lm, seed: int):
    """The one-site steering edit: a seeded random unit vector at the middle block's resid_post."""
    from internals import edits

    g = torch.Generator().manual_seed(seed + 1)
    v = torch.randn(lm.model.config.hidden_size, generator=g)
    return edits.add(f"resid_post.{lm.n_layers // 2}", v / v.norm(), scale=STEER_SCALE)


def corrupted(lm, regime: Regime, seed: int):
    """(clean ids, corrupted ids) [batch, tokens]: the corrupted copy has its first token redrawn."""
    clean = make_inputs(lm, regime, seed).ids
    g = torch.Generator().manual_seed(seed + 2)
    bad = clean.clone()
    bad[:, 0] = (
        clean[:, 0].cpu() + torch.randint(1, lm.model.config.vocab_size, (clean.shape[0],), generator=g)
    ) % lm.model.config.vocab_size
    return clean, bad


def patching(lm, clean_ids: torch.Tensor):
    """Every layer's last-token resid_post restored from a clean run (one patch edit per layer)."""
    from internals import capture, edits

    clean = capture(
        lm, clean_ids.tolist(), "resid_post.*", reduce="none", batch_size=clean_ids.shape[0], stop_early=False
    )
    return edits.EditSet([edits.patch(f"resid_post.{layer}", clean, positions=[-1]) for layer in range(lm.n_layers)])


def forward_calls(lm, regime: Regime, seed: int) -> tuple[dict[str, Callable], torch.Tensor]:
    """(variant -> call returning last-token logits [batch, vocab], the clean run's last-token logits)."""
    from internals import capture

    clean, ids = corrupted(lm, regime, seed)
    mask, lists, model = torch.ones_like(ids), ids.tolist(), lm.model
    steer, patch = steering(lm, seed), patching(lm, clean)

    def plain():
        with torch.no_grad():
            return model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, -1]

    def through(backend: str, edit=None):
        return lambda: capture(
            lm, lists, "logits", reduce="last", backend=backend, batch_size=regime.batch, stop_early=False, edits=edit
        )["logits"]

    calls = {"plain": plain, "read": through("hooks")}
    calls.update({f"steer_{b}": through(b, steer) for b in BACKENDS})
    calls.update({f"patch_{b}": through(b, patch) for b in BACKENDS})
    with torch.no_grad():
        want = model(input_ids=clean, attention_mask=torch.ones_like(clean), use_cache=False).logits[:, -1]
    return calls, want


def decode_calls(lm, regime: Regime, seed: int) -> dict[str, Callable]:
    """plain and steer_hooks: greedy generate, without and with the steering edit attached."""
    ids = make_inputs(lm, regime, seed).ids
    mask, model, kw, steer = torch.ones_like(ids), lm.model, _gen_kwargs(lm, regime), steering(lm, seed)

    def plain():
        with torch.no_grad():
            return model.generate(input_ids=ids, attention_mask=mask, **kw)

    def steer_hooks():
        with torch.no_grad(), lm.edit(steer):
            return model.generate(input_ids=ids, attention_mask=mask, **kw)

    return {"plain": plain, "steer_hooks": steer_hooks}


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return round((a.float().cpu() - b.float().cpu()).abs().max().item(), 8)


def checks(out: dict, want: torch.Tensor | None, regime: Regime) -> dict:
    """What the warm-up calls computed: the steer changes the logits, the backends agree, the patch
    gives the clean run's last-token logits (max absolute differences)."""
    if regime.steps:
        prompt = regime.tokens
        changed = int((out["plain"][:, prompt:] != out["steer_hooks"][:, prompt:]).sum())
        return {"steer_tokens_changed": changed, "generated_tokens": out["plain"][:, prompt:].numel()}
    return {
        "plain_vs_read": _diff(out["plain"], out["read"]),
        "steer_change": _diff(out["steer_hooks"], out["read"]),
        "steer_backends": {b: _diff(out[f"steer_{b}"], out["steer_hooks"]) for b in BACKENDS[1:]},
        "patch_vs_clean": {b: _diff(out[f"patch_{b}"], want) for b in BACKENDS},
        "corrupted_vs_clean": _diff(out["read"], want),
    }


def time_regime(lm, regime: Regime, args) -> tuple[dict, dict, dict]:
    """(variant -> timings, checks, notes): warm up and check, then time the variants interleaved."""
    from tqdm.auto import tqdm

    from internals.stats import median_ratio

    if regime.steps:
        calls, want = decode_calls(lm, regime, args.seed), None
        notes = {f"{regime.name}.{v}": why for v, why in NO_DECODE.items()}
    else:
        (calls, want), notes = forward_calls(lm, regime, args.seed), {}
    found = checks({name: fn() for name, fn in calls.items()}, want, regime)
    clock, order = Clock(args.device), list(calls)
    samples: dict[str, list] = {name: [] for name in calls}
    with tqdm(total=regime.repeats * len(calls), desc=regime.name, unit="call", leave=False) as bar:
        for i in range(regime.repeats):
            for name in order if i % 2 == 0 else order[::-1]:  # a drifting load favours no variant
                samples[name].append(clock.measure(calls[name]))
                bar.update()
    rows = {}
    for name, s in samples.items():
        row = {"wall_s": statistics.median(r[0] for r in s), "cpu_s": statistics.median(r[1] for r in s)}
        for base in ("plain", "read"):
            if base in samples:
                tag = "" if base == "plain" else "_vs_read"
                for k, clock_name in enumerate(("wall", "cpu")):  # median of paired ratios, bootstrap interval
                    m = median_ratio([r[k] for r in s], [b[k] for b in samples[base]])
                    row[f"{clock_name}_ratio{tag}"] = m["median"]
                    row[f"{clock_name}_ratio{tag}_ci"] = [m["lo"], m["hi"]]
        row["tokens_per_s"] = regime.batch * (regime.tokens + regime.steps) / row["wall_s"]
        rows[name] = row
    return rows, found, notes


def summarise(lm, results: dict, found: dict, notes: dict, args) -> dict:
    key = f"{args.clock}_ratio"
    table = {reg: {v: round(rows[v][key], 4) if v in rows else None for v in VARIANTS} for reg, rows in results.items()}
    vs_read = {
        reg: {v: round(rows[v][key + "_vs_read"], 4) for v in VARIANTS if v in rows and key + "_vs_read" in rows[v]}
        for reg, rows in results.items()
    }
    table_ci = {
        reg: {v: [round(x, 4) for x in rows[v][key + "_ci"]] if v in rows else None for v in VARIANTS}
        for reg, rows in results.items()
    }
    steer = [t["steer_hooks"] for t in table.values() if t.get("steer_hooks") is not None]
    worst = max(steer) if steer else None
    worst_regime = next((r for r, t in table.items() if steer and t.get("steer_hooks") == worst), None)
    return {
        "regimes": table,
        "regimes_ci": table_ci,
        "steer_hooks_worst_ci": table_ci[worst_regime]["steer_hooks"] if worst_regime else None,
        "vs_read": vs_read,
        "denominator": DENOMINATOR,
        "steer_hooks_worst": worst,
        "targets": TARGETS,
        "target_met": None if worst is None else worst <= TARGETS["steer_hooks"],
        "device": args.device.split(":")[0],
        "clock": args.clock,
        "checks": found,
        "notes": notes,
        "seconds": {
            reg: {
                v: {k: [round(y, 5) for y in x] if isinstance(x, list) else round(x, 5) for k, x in row.items()}
                for v, row in rows.items()
            }
            for reg, rows in results.items()
        },
        "manifest": manifest(lm, args),
    }


def manifest(lm, args) -> dict:
    import nnsight
    import transformer_lens
    import transformers

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_name()
    return {
        "model": lm.describe(),
        "attn_implementation": "eager",
        "device": dev,
        "threads": args.threads,
        "regimes": {r.name: asdict(r) for r in regimes(args)},
        "seed": args.seed,
        "clock": args.clock,
        "steer": steering(lm, args.seed).describe(),
        "patch": f"resid_post.L for L in 0-{lm.n_layers - 1}, positions [-1]",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "transformer_lens": getattr(transformer_lens, "__version__", "?"),
            "nnsight": nnsight.__version__,
        },
        "machine": f"{platform.node()} ({platform.machine()}, {platform.system()})",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(sys.argv),
    }


def print_table(doc: dict) -> None:
    m = doc["manifest"]
    print(
        f"\nedit cost, {m['model']['name']} on {m['device']}, {m['threads']} thread(s), {doc['clock']} clock; "
        f"x plain: median over repeats of (call / plain call of the same repeat); x read: the same over the "
        f"plain capture"
    )
    print(f"{'regime':<11}{'variant':<24}{'median s':>10}{'x plain':>9}{'x read':>9}")
    for reg, ratios in doc["regimes"].items():
        for v in VARIANTS:
            if ratios.get(v) is None:
                print(f"{reg:<11}{v:<24}{'n/a':>10}   {doc['notes'].get(f'{reg}.{v}', '')}")
                continue
            secs = doc["seconds"][reg][v][f"{doc['clock']}_s"]
            rd = doc["vs_read"].get(reg, {}).get(v)
            print(f"{reg:<11}{v:<24}{secs:>10.4f}{ratios[v]:>9.3f}{'-' if rd is None else f'{rd:.3f}':>9}")
    for reg, c in doc["checks"].items():
        print(f"checks {reg}: {json.dumps(c)}")
    met = doc["target_met"]
    print(
        f"target steer_hooks <= {TARGETS['steer_hooks']}x plain in every regime: worst {doc['steer_hooks_worst']} -> "
        f"{'n/a' if met is None else 'met' if met else 'MISSED'}"
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model name or checkpoint dir (default: the embedded SmolLM2)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--dtype", default=None, help="default: float32 on the CPU, bfloat16 on CUDA")
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per regime (default: latency 40, throughput 10, decode 10)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default=None,
        help="ratios from wall time or this process's CPU time (default: cpu on the CPU, wall on CUDA)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny inputs and 2 repeats: a smoke test")
    p.add_argument(
        "--out",
        default=None,
        help="result JSON (default benchmarks/results/edit_cost_<device>.json; another --model: edit_cost_<device>.<model>.json)",
    )
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if args.clock is None:
        args.clock = "wall" if cuda else "cpu"
    if args.clock == "cpu" and cuda:
        p.error("--clock cpu measures CPU work only; use the wall clock on CUDA")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    from internals import load_model

    torch.set_num_threads(args.threads)
    # eager attention: TransformerLens's bridge computes attention eagerly, so the three backends match
    lm = load_model(args.model, device=args.device, dtype=args.dtype, attn_implementation="eager")
    results, found, notes = {}, {}, {}
    for r in regimes(args):
        results[r.name], found[r.name], more = time_regime(lm, r, args)
        notes.update(more)
    doc = summarise(lm, results, found, notes, args)
    print_table(doc)
    out = Path(args.out) if args.out else results_path(f"edit_cost_{doc['device']}", args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("regimes", "steer_hooks_worst", "target_met", "clock")}))
    return doc


if __name__ == "__main__":
    main()
