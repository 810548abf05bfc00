"""The public API: one object per public name, every `__all__` name present and documented.

Public modules are `internals` and every module under it (no part of the dotted name starts with
"_") that declares `__all__`; the packages a user imports from must declare it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import griffe
import pytest

import internals

# The packages users import from (README, docs, tutorials): each must say what it exports.
USER_PACKAGES = (
    "internals",
    "internals.capture",
    "internals.data",
    "internals.store",
    "internals.heads",
    "internals.plots",
    "internals.report",
    "internals.analyses.cutoff",
    "internals.analyses.depth",
    "internals.analyses.factcheckmate",
    "internals.analyses.patching",
    "internals.analyses.voids",
)

# Modules used as a namespace, their names always qualified (`edits.patch(...)`, `edits.add(...)`, as
# with `torch.nn.functional`): their names are checked for presence and docstrings, not against the
# flat names (`internals.patch`, the activation-patching call, is another thing than `edits.patch`).
NAMESPACES = ("internals.edits",)


def _public_modules() -> dict[str, object]:
    names = ["internals"] + [
        info.name
        for info in pkgutil.walk_packages(internals.__path__, "internals.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = {name: importlib.import_module(name) for name in names}
    return {name: m for name, m in modules.items() if hasattr(m, "__all__")}


PUBLIC = _public_modules()


def test_user_packages_declare_all():
    assert [p for p in USER_PACKAGES if p not in PUBLIC] == []


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_all_name_exists(module):
    mod = PUBLIC[module]
    assert len(set(mod.__all__)) == len(mod.__all__), f"{module}.__all__ lists a name twice"
    assert [n for n in mod.__all__ if not hasattr(mod, n)] == []


def test_one_object_per_public_name():
    bound: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, mod in PUBLIC.items():
        if module in NAMESPACES:
            continue
        for name in mod.__all__:
            obj = getattr(mod, name, None)
            bound[name][id(obj)].append(module)
    clashes = {name: sorted(m for ms in objs.values() for m in ms) for name, objs in bound.items() if len(objs) > 1}
    assert clashes == {}, f"public names bound to different objects (rename one): {clashes}"


def test_every_public_name_has_a_docstring():
    """Read as the API reference reads it (griffe): functions, classes and modules by their own
    docstring, constants by the string literal under their assignment."""
    package = griffe.load(
        "internals",
        search_paths=[str(Path(internals.__file__).parents[1])],
        resolve_aliases=True,
        resolve_external=False,
    )
    missing = []
    for module, mod in PUBLIC.items():
        node = package
        for part in module.split(".")[1:]:
            node = node.modules[part]
        for name in mod.__all__:
            member = node[name]
            target = member.final_target if member.is_alias else member
            if not (target.docstring and target.docstring.value.strip()):
                missing.append(f"{module}.{name}")
    assert missing == []


def test_the_generic_probe_loader_is_the_only_load_probe():
    """`load_probe` is `internals.heads.load_probe` (a `LoadedProbe`); the cutoff ensemble has its own name."""
    from internals.analyses import cutoff
    from internals.heads import LoadedProbe, load_probe

    assert not hasattr(cutoff, "load_probe") and callable(cutoff.load_cutoff_probe)
    assert load_probe.__annotations__["return"] in (LoadedProbe, "LoadedProbe")
