"""Get BIG-bench task files onto disk once: pip-download the 358 MB sdist, extract the few we read.

The sdist ``bigbench-1.0.0.tar.gz`` comes from PyPI with ``pip download``; it is never
installed. One streaming pass over the tarball extracts every task file in `TASK_FILES`
into ``cache_dir("data", "bigbench")`` (same relative layout as in BIG-bench), after
which the tarball is never read again. ``$INTERNALS_BIGBENCH_DIR`` replaces the cache
with a folder of task files in that layout (the tests point it at small slices).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InternalsError
from ..paths import cache_dir

VERSION = "1.0.0"
TARBALL = f"bigbench-{VERSION}.tar.gz"
MEMBER_ROOT = f"bigbench-{VERSION}/bigbench/benchmark_tasks/"
ENV_DIR = "INTERNALS_BIGBENCH_DIR"

TASK_FILES: tuple[str, ...] = (
    "qa_wikidata/task.json",
    "truthful_qa/questions.json",
    "truthful_qa/task_mc.json",
    "known_unknowns/task.json",
    "contextual_parametric_knowledge_conflicts/task.json",
    "disfl_qa/task.json",
    "coqa_conversational_question_answering/coqa.test.json",
    "strategyqa/task.json",
    "winowhy/task.json",
    "sports_understanding/task.json",
    "general_knowledge/task.json",
    "hindu_knowledge/task.json",
    "physical_intuition/task.json",
    "date_understanding/task.json",
    "causal_judgment/task.json",
    "logical_deduction/three_objects/task.json",
    "logical_deduction/five_objects/task.json",
    "logical_deduction/seven_objects/task.json",
)
"""Task files read by `internals.data.bigbench`, relative to ``bigbench/benchmark_tasks/``."""

Runner = Callable[..., subprocess.CompletedProcess]


def task_path(rel: str) -> Path:
    """Where task file ``rel`` is (or will be once extracted); no download."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override) / rel
    return cache_dir("data", "bigbench") / rel


def is_cached(rel: str) -> bool:
    """Whether task file ``rel`` can be read without a download."""
    return task_path(rel).is_file()


def task_file(rel: str) -> Path:
    """The path of task file ``rel``, downloading and extracting BIG-bench on first use."""
    path = task_path(rel)
    if path.is_file():
        return path
    if os.environ.get(ENV_DIR):
        raise InternalsError(
            f"{path} not found: ${ENV_DIR} must hold BIG-bench task files in their original "
            f"layout (e.g. {rel}); unset it to download BIG-bench instead"
        )
    root = cache_dir("data", "bigbench")
    missing = [r for r in TASK_FILES if not (root / r).is_file()]
    if rel not in missing:
        missing.append(rel)  # any task by name (`bigbench:<task>`), extracted on first use
    extract(download_tarball(cache_dir("data", "downloads")), root, missing)
    return path


INDEX = "index.json"


def task_index() -> dict[str, dict]:
    """Every JSON task file of the sdist: rel path -> {"examples": n, "choices": bool (target_scores),
    "prefix": bool (task_prefix)}. Built once by one streaming pass over the tarball (downloaded
    first if needed) and cached; with ${ENV_DIR} set, built from the files under it."""
    import json

    override = os.environ.get(ENV_DIR)
    if override:
        described = {
            str(p.relative_to(override)): _describe(p.read_bytes()) for p in sorted(Path(override).rglob("*.json"))
        }
        return {name: d for name, d in described.items() if d is not None}
    cached = cache_dir("data", "bigbench") / INDEX
    if cached.is_file():
        return json.loads(cached.read_text())
    from tqdm.auto import tqdm

    tarball = download_tarball(cache_dir("data", "downloads"))
    out: dict[str, dict] = {}
    with (
        tarball.open("rb") as raw,
        tqdm(total=tarball.stat().st_size, unit="B", unit_scale=True, desc="indexing BIG-bench tasks") as bar,
    ):
        with tarfile.open(fileobj=raw, mode="r|gz") as archive:
            for member in archive:
                bar.update(raw.tell() - bar.n)
                if not (member.isfile() and member.name.startswith(MEMBER_ROOT) and member.name.endswith(".json")):
                    continue
                data = archive.extractfile(member)
                info = _describe(data.read()) if data is not None else None
                if info is not None:
                    out[member.name[len(MEMBER_ROOT) :]] = info
    _write_atomic(cached, json.dumps(out, indent=0, sort_keys=True).encode())
    return out


def _describe(raw: bytes) -> dict | None:
    """What the index says of one JSON file; None when it is not a task file with examples."""
    import json

    try:
        task = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    examples = task.get("examples") if isinstance(task, dict) else None
    if not isinstance(examples, list) or not examples or not all(isinstance(e, dict) for e in examples[:5]):
        return None
    return {
        "examples": len(examples),
        "choices": any("target_scores" in e for e in examples[:50]),
        "prefix": bool(str(task.get("task_prefix", "")).strip()),
        "name": task.get("name"),
    }


def download_tarball(dest: Path, run: Runner = subprocess.run) -> Path:
    """``pip download`` the BIG-bench sdist into ``dest`` (once) and return its path.

    pip 26 refuses this sdist (its metadata declares a direct-URL dependency, even with
    ``--no-deps``, and only after downloading all of it), so with pip >= 26, or when the
    current pip fails, we fetch ``pip<26`` as a wheel and run that wheel's pip.
    """
    tarball = dest / TARBALL
    if tarball.is_file():
        return tarball
    spec = f"bigbench=={VERSION}"
    get = ["download", "--no-deps", spec, "-d", str(dest)]
    print(f"Downloading BIG-bench {VERSION} (358 MB) from PyPI into {dest} ...", file=sys.stderr)
    said = "pip gave no output"
    if _pip_major() < 26:
        said = _run(run, [sys.executable, "-m", "pip", *get])
    if not tarball.is_file():
        pip_dir = dest / "pip"
        said = _run(run, [sys.executable, "-m", "pip", "download", "--no-deps", "pip<26", "-d", str(pip_dir)])
        wheels = sorted(pip_dir.glob("pip-*.whl"))
        if wheels:
            said = _run(run, [sys.executable, str(wheels[-1] / "pip"), *get])
    if not tarball.is_file():
        raise InternalsError(
            f"could not download BIG-bench ({said}): run `python -m pip download --no-deps "
            f'"pip<26" -d {dest}/pip && python {dest}/pip/pip-<version>-py3-none-any.whl/pip '
            f"download --no-deps {spec} -d {dest}`, or set ${ENV_DIR} to a folder of task files"
        )
    return tarball


def _run(run: Runner, cmd: list[str]) -> str:
    """Run ``cmd`` quietly; return the last line it printed (for the error message)."""
    result = run(cmd, capture_output=True, text=True)
    lines = [x.strip() for x in f"{result.stdout or ''}\n{result.stderr or ''}".splitlines() if x.strip()]
    return lines[-1][:200] if lines else "pip gave no output"


def extract(tarball: Path, dest: Path, rels: Iterable[str]) -> list[Path]:
    """Extract the task files ``rels`` from ``tarball`` into ``dest`` in one streaming pass.

    Stops reading as soon as the last wanted member is found. Each file is written to a
    temporary name and renamed, so an interrupted run never leaves a truncated file that
    later looks cached.
    """
    from tqdm.auto import tqdm

    wanted = {MEMBER_ROOT + rel: rel for rel in rels}
    written: list[Path] = []
    with (
        tarball.open("rb") as raw,
        tqdm(
            total=tarball.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"extracting {len(wanted)} BIG-bench task files",
        ) as bar,
    ):
        try:
            with tarfile.open(fileobj=raw, mode="r|gz") as archive:
                for member in archive:
                    bar.update(raw.tell() - bar.n)
                    rel = wanted.pop(member.name, None)
                    if rel is None or not member.isfile():
                        continue
                    data = archive.extractfile(member)
                    if data is None:
                        continue
                    written.append(_write_atomic(dest / rel, data.read()))
                    if not wanted:
                        break
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InternalsError(f"{tarball} is unreadable ({exc}): delete it and run again to re-download") from exc
    if wanted:
        raise InternalsError(f"{tarball} lacks {sorted(wanted.values())}: delete it and run again to re-download")
    return written


def _pip_major() -> int:
    try:
        return int(importlib.metadata.version("pip").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 0


def _write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
