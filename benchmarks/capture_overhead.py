"""Capture overhead: a plain forward vs each backend capturing `resid_post.*`, in five regimes.

    python benchmarks/capture_overhead.py                      # SmolLM2 on the CPU, every regime
    python benchmarks/capture_overhead.py --quick              # tiny settings, a smoke test
    python benchmarks/capture_overhead.py --device cuda --random-init llama-1b

Regimes (same random token ids for every variant; after one warm-up call of each, the variants
run interleaved, A B C D in even repeats and D C B A in odd ones; a variant's time ratio is the
median over repeats of its time over the plain call's time in the same repeat):
  latency     batch 1 x 12 tokens, reduce mean: Python cost per hook dominates;
  throughput  batch 16 x 256 tokens, reduce mean (tokens/s reported too);
  long        one 4,096-token prompt, reduce mean, and the peak memory the call adds;
  decode      64 greedy steps with the KV cache, reduce norm at every step (the hooks backend
              through `internals.capture.record` around `model.generate`);
  stop        `resid_post` of the middle block only, with early stop; ratio to the FULL plain forward.
Every regime but `stop` runs the whole model (`stop_early=False`): capture's default early stop
would skip the final norm and LM head and hide the overhead being measured.

The plain forward is `model(input_ids, attention_mask, use_cache=False)` under `torch.no_grad()`
(`model.generate(...)` for decode). Peak memory: on CUDA `torch.cuda.max_memory_allocated` minus
the memory allocated before the call, every regime; on the CPU the rise of the process's peak
resident set (VmHWM, reset through /proc/self/clear_refs) over its size before the call, one fresh
subprocess per variant, for the regimes in --memory (default: long). Ratios are to the plain
forward. Prints a table, then one line of JSON; the JSON (with a manifest) is also written to
benchmarks/results/capture_overhead_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from bench_models import results_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead_variants import BACKENDS, VARIANTS, build_calls, make_inputs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PRESETS = {
    "llama-1b": dict(
        model_type="llama",
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        vocab_size=128256,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
    )
}
TARGETS = {"hooks_worst": 1.03, "mid_layer_stop": 0.6, "long_peak_memory_hooks": 1.05, "pooled_tokens_per_s": 0.95}


@dataclass(frozen=True)
class Regime:
    name: str
    batch: int
    tokens: int
    reduce: str = "mean"
    steps: int = 0  # greedy decode steps (decode only)
    mid_stop: bool = False  # capture the middle block only, with early stop
    repeats: int = 3


REGIMES = {
    "latency": Regime("latency", 1, 12, repeats=60),
    "throughput": Regime("throughput", 16, 256, repeats=5),
    "long": Regime("long", 1, 4096, repeats=5),
    "decode": Regime("decode", 1, 12, reduce="norm", steps=64, repeats=10),
    "stop": Regime("stop", 8, 64, mid_stop=True, repeats=10),
}
QUICK = {"latency": (1, 8, 0), "throughput": (2, 32, 0), "long": (1, 256, 0), "decode": (1, 8, 8), "stop": (2, 16, 0)}


def regimes(args) -> list[Regime]:
    out = []
    for name in args.regimes:
        r = REGIMES[name]
        if args.quick:
            b, t, s = QUICK[name]
            r = replace(r, batch=b, tokens=t, steps=s or r.steps, repeats=2)
        out.append(replace(r, repeats=args.repeats) if args.repeats else r)
    return out


def load(args):
    """The LoadedModel under test: the embedded SmolLM2 (or --model), or a random-initialised config."""
    from internals import load_model
    from internals.models import default_model_dir, wrap

    if not args.random_init:
        return load_model(args.model, device=args.device, dtype=args.dtype)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    spec = args.random_init
    try:
        kw = (
            dict(PRESETS[spec])
            if spec in PRESETS
            else json.loads(Path(spec).read_text() if Path(spec).is_file() else spec)
        )
    except ValueError:
        raise SystemExit(
            f"capture_overhead: --random-init {spec!r} is not a preset ({', '.join(PRESETS)}), "
            "a JSON config file or JSON text"
        ) from None
    config = AutoConfig.for_model(kw.pop("model_type", "llama"), **kw)
    dtype = (
        getattr(torch, args.dtype)
        if args.dtype
        else (torch.bfloat16 if args.device.startswith("cuda") else torch.float32)
    )
    torch.manual_seed(args.seed)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tok = AutoTokenizer.from_pretrained(str(default_model_dir()))
    return wrap(model, tok, name=f"random-init {spec if spec in PRESETS else config.model_type}")


class Clock:
    """Wall time (synchronised on CUDA) and this process's CPU time of one call."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def measure(self, fn) -> tuple[float, float, float | None]:
        """(wall s, cpu s, peak bytes the call added or None on the CPU)."""
        if self.cuda:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        w, c = time.perf_counter(), time.process_time()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        peak = torch.cuda.max_memory_allocated() - base if self.cuda else None
        return wall, cpu, peak


def time_regime(lm, regime: Regime, args, notes: dict) -> dict:
    """Warm up, validate, then time every variant `repeats` times, interleaved; medians per variant."""
    from tqdm.auto import tqdm

    from internals.stats import median_ratio

    inputs = make_inputs(lm, regime, args.seed)
    if regime.batch * regime.tokens > 1024:
        # warm up (backend set-up, first calls) on a short input rather than spend a 20 s call on it
        small = replace(regime, tokens=16)
        build_calls(lm, small, make_inputs(lm, small, args.seed))
        calls, reasons = build_calls(lm, regime, inputs, warm=False)
    else:
        calls, reasons = build_calls(lm, regime, inputs)
    for name, why in reasons.items():
        notes[f"{regime.name}.{name}"] = why
    clock = Clock(args.device)
    samples: dict[str, list] = {name: [] for name in calls}
    order = list(calls)
    with tqdm(total=regime.repeats * len(calls), desc=regime.name, unit="call", leave=False) as bar:
        for i in range(regime.repeats):
            # A B C D, then D C B A: a load that drifts within a repeat favours no variant
            for name in order if i % 2 == 0 else order[::-1]:
                samples[name].append(clock.measure(calls[name]))
                bar.update()
    out = {}
    base = samples["plain"]
    for name, rows in samples.items():
        peaks = [r[2] for r in rows if r[2] is not None]
        out[name] = {
            "wall_s": statistics.median(r[0] for r in rows),
            "cpu_s": statistics.median(r[1] for r in rows),
            "peak_bytes": max(peaks) if peaks else None,
        }
        for k, clock_name in enumerate(("wall", "cpu")):
            # each call against the plain call of the same repeat, then the median of those ratios and
            # its 95% bootstrap interval over repeats
            m = median_ratio([r[k] for r in rows], [b[k] for b in base])
            out[name][f"{clock_name}_ratio"] = m["median"]
            out[name][f"{clock_name}_ratio_ci"] = [m["lo"], m["hi"]]
    tokens = regime.batch * (regime.tokens + regime.steps)
    for name in out:
        out[name]["tokens_per_s"] = tokens / out[name]["wall_s"]
    return out


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


# In the memory subprocess: every allocation over 64 KiB is its own mapping, returned on free, and
# no transparent huge pages, so the resident set follows the live tensors instead of what malloc
# kept from earlier calls (without these, repeated runs of one variant differed by ~200 MB).
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def _no_huge_pages() -> None:
    import ctypes

    try:
        ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
    except (OSError, AttributeError):
        pass


def memory_child(lm, regime: Regime, variant: str, args) -> dict:
    """In a fresh process: peak resident memory one call of `variant` adds (warm-up on a short input first)."""
    import gc

    small = replace(regime, tokens=min(regime.tokens, 16), steps=min(regime.steps, 2))
    _, reasons = build_calls(lm, small, make_inputs(lm, small, args.seed), warm=True, only=variant)
    if variant in reasons:
        return {"peak_delta_bytes": None, "reason": reasons[variant]}
    calls, _ = build_calls(lm, regime, make_inputs(lm, regime, args.seed), warm=False, only=variant)
    gc.collect()
    before = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    calls[variant]()
    return {"peak_delta_bytes": (_rss_kb("VmHWM") - before) * 1024, "rss_before_bytes": before * 1024}


def cpu_memory(regime: Regime, args) -> dict:
    """variant -> peak bytes added, each measured in its own subprocess."""
    out = {}
    for variant in VARIANTS:
        cmd = [
            sys.executable,
            __file__,
            "--_memory-child",
            regime.name,
            variant,
            "--threads",
            str(args.threads),
            "--device",
            args.device,
            "--seed",
            str(args.seed),
        ]
        cmd += ["--quick"] * args.quick + (["--model", args.model] if args.model else [])
        cmd += (["--random-init", args.random_init] if args.random_init else []) + (
            ["--dtype", args.dtype] if args.dtype else []
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **CHILD_ENV})
        if proc.returncode != 0:
            raise RuntimeError(f"memory child {regime.name}/{variant} failed:\n{proc.stderr[-2000:]}")
        out[variant] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_delta_bytes"]
    return out


def _rounded(x):
    return [round(v, 5) for v in x] if isinstance(x, list) else round(x, 5)


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else round(a / b, 4)


def summarise(lm, results: dict, memory: dict, notes: dict, args) -> tuple[dict, dict]:
    key = f"{args.clock}_ratio"
    table = {reg: {b: round(rows[b][key], 4) if b in rows else None for b in BACKENDS} for reg, rows in results.items()}
    table_ci = {
        reg: {b: [round(x, 4) for x in rows[b][key + "_ci"]] if b in rows else None for b in BACKENDS}
        for reg, rows in results.items()
    }
    worst = [table[r]["hooks"] for r in table if r != "stop" and table[r]["hooks"] is not None]
    worst_regime = max(
        (r for r in table if r != "stop" and table[r]["hooks"] is not None),
        key=lambda r: table[r]["hooks"],
        default=None,
    )
    mem = {reg: {b: _ratio(m.get(b), m.get("plain")) for b in BACKENDS} for reg, m in memory.items()}
    summary = {
        "regimes": table,
        "hooks_worst": max(worst) if worst else None,
        "hooks_worst_ci": table_ci[worst_regime]["hooks"] if worst_regime else None,
        "regimes_ci": table_ci,
        "mid_layer_stop": table.get("stop", {}).get("hooks"),
        "mid_layer_stop_ci": table_ci.get("stop", {}).get("hooks"),
        "long_peak_memory_hooks": mem.get("long", {}).get("hooks"),
        "device": args.device.split(":")[0],
    }
    if "throughput" in results:
        r = results["throughput"]
        summary["pooled_tokens_per_s"] = round(1 / r["hooks"]["wall_ratio"], 4)  # tokens/s: a wall-clock measure
    summary["clock"] = args.clock
    detail = {
        "seconds": {
            reg: {
                v: {k: _rounded(x) for k, x in row.items() if k.endswith(("_s", "_ratio", "_ratio_ci"))}
                for v, row in rows.items()
            }
            for reg, rows in results.items()
        },
        "tokens_per_s": {
            reg: {v: round(row["tokens_per_s"], 1) for v, row in rows.items()} for reg, rows in results.items()
        },
        "peak_memory_ratio": mem,
        "peak_memory_bytes": memory,
        "notes": notes,
        "targets": TARGETS,
        "manifest": manifest(lm, args),
    }
    return summary, detail


def manifest(lm, args) -> dict:
    import nnsight
    import transformer_lens
    import transformers

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_name()
    return {
        "model": lm.describe(),
        "random_init": args.random_init,
        "device": dev,
        "threads": args.threads,
        "regimes": {r.name: asdict(r) for r in regimes(args)},
        "seed": args.seed,
        "clock": args.clock,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "transformer_lens": getattr(transformer_lens, "__version__", "?"),
            "nnsight": nnsight.__version__,
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(sys.argv),
    }


def cpu_name() -> str:
    try:
        line = next(x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name"))
        return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except (OSError, StopIteration):
        return platform.machine()


def print_table(results: dict, summary: dict, detail: dict, args) -> None:
    key = f"{args.clock}_s"
    other = "wall" if args.clock == "cpu" else "cpu"
    print(
        f"\ncapture overhead, {detail['manifest']['model']['name']} on {detail['manifest']['device']}, "
        f"{args.threads} thread(s); time x: median over repeats of (call / plain call of the same repeat), "
        f"{args.clock} clock (other clock in brackets)"
    )
    print(f"{'regime':<11}{'variant':<17}{'median s':>10}{'time x':>9}{'(other)':>9}{'tokens/s':>11}{'peak mem x':>12}")
    for reg, rows in results.items():
        for v in VARIANTS:
            if v not in rows:
                print(f"{reg:<11}{v:<17}{'n/a':>10}   {detail['notes'].get(f'{reg}.{v}', '')}")
                continue
            r = rows[v]
            mem = (
                detail["peak_memory_ratio"].get(reg, {}).get(v)
                if v != "plain"
                else (1.0 if reg in detail["peak_memory_ratio"] else None)
            )
            paren = f"({r[other + '_ratio']:.3f})"
            print(
                f"{reg:<11}{v:<17}{r[key]:>10.4f}{r[args.clock + '_ratio']:>9.3f}{paren:>9}"
                f"{r['tokens_per_s']:>11.1f}{'-' if mem is None else f'{mem:.3f}':>12}"
            )
    for reg, m in detail["peak_memory_bytes"].items():
        print(
            f"peak memory added by one {reg} call (MB): "
            + ", ".join(f"{v} {b / 2**20:.0f}" for v, b in m.items() if b is not None)
        )
    if summary.get("hooks_worst_ci"):
        lo, hi = summary["hooks_worst_ci"]
        print(
            f"hooks backend, worst regime: {summary['hooks_worst']} [{lo}, {hi}] (95% bootstrap interval over repeats)"
        )
    checks = {
        "hooks_worst <= 1.03": summary["hooks_worst"],
        "mid_layer_stop <= 0.6": summary["mid_layer_stop"],
        "long_peak_memory_hooks <= 1.05": summary["long_peak_memory_hooks"],
    }
    for what, value in checks.items():
        limit = float(what.split("<= ")[1])
        print(f"target {what}: {value} -> {'n/a' if value is None else 'met' if value <= limit else 'MISSED'}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model name or checkpoint dir (default: the embedded SmolLM2)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--dtype", default=None, help="default: float32 on the CPU, bfloat16 on CUDA")
    p.add_argument(
        "--random-init",
        default=None,
        help=f"a random-initialised model: preset ({', '.join(PRESETS)}), JSON file or JSON text",
    )
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per regime (default: per regime, 3 to 30)")
    p.add_argument(
        "--memory", nargs="*", default=["long"], choices=list(REGIMES), help="CPU regimes whose peak memory is measured"
    )
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time ratios from wall time or this process's CPU time (steadier on a shared machine; CPU only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny inputs and 2 repeats: a smoke test")
    p.add_argument(
        "--out",
        default=None,
        help="result JSON (default benchmarks/results/capture_overhead_<device>.json; another --model: capture_overhead_<device>.<model>.json)",
    )
    p.add_argument("--_memory-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.clock == "cpu" and args.device.startswith("cuda"):
        p.error("--clock cpu measures CPU work only; use the wall clock on CUDA")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args._memory_child:
        _no_huge_pages()
    lm = load(args)
    if args._memory_child:
        regime = next(r for r in regimes(replace_regimes(args)) if r.name == args._memory_child[0])
        print(json.dumps(memory_child(lm, regime, args._memory_child[1], args)))
        return
    notes: dict = {}
    results = {r.name: time_regime(lm, r, args, notes) for r in regimes(args)}
    memory = {}
    for r in regimes(args):
        if args.device.startswith("cuda"):
            memory[r.name] = {v: row["peak_bytes"] for v, row in results[r.name].items()}
        elif r.name in args.memory:
            memory[r.name] = cpu_memory(r, args)
    summary, detail = summarise(lm, results, memory, notes, args)
    print_table(results, summary, detail, args)
    out = Path(args.out) if args.out else results_path(f"capture_overhead_{summary['device']}", args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**summary, **detail}, indent=1) + "\n")
    print(json.dumps(summary))


def replace_regimes(args):
    """The child measures one regime, whatever --regimes the parent had."""
    return argparse.Namespace(**{**vars(args), "regimes": list(REGIMES)})


if __name__ == "__main__":
    main()
