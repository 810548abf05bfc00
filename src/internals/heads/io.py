"""Save and load probe directories: arrays as safetensors, everything else as JSON; never pickle.

A probe directory holds

    weights.safetensors   every learned array (coef_, scaler means, the MLP's state_dict, ...),
                          keyed "<estimator>/<step>/<attribute>[/<tensor>]"
    card.json             format, what each estimator is (type, constructor params, learned
                          scalars, which arrays are its), sha256 of the weights file, package
                          versions, and the caller's card: model describe() with its fingerprint,
                          site, layer, setting, data, metrics, seed, ...

Any estimator of the registry can be saved: `MLPProbe`, `LogisticRegression`, `StandardScaler`
and `Pipeline`s of them (so `logistic_probe()`), alone or several under names (a per-head
ensemble: `save_probe({"L3.H5": lr, "L7.H1": lr2}, path)`). `register_estimator(cls)` adds
another sklearn estimator whose learned state is arrays and JSON scalars. Loading resolves type
names against the registry only, so a probe directory cannot run code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import InternalsError
from .mlp import MLPProbe

if TYPE_CHECKING:
    from ..models import LoadedModel

FORMAT = "internals.probe/1"
WEIGHTS, CARD = "weights.safetensors", "card.json"
_REGISTRY: dict[str, type[Any]] = {c.__name__: c for c in (MLPProbe, LogisticRegression, StandardScaler, Pipeline)}
_VERSIONED = ("internals", "torch", "scikit-learn", "numpy", "safetensors", "transformers")


def register_estimator(cls: type) -> type:
    """Allow `cls` (an sklearn estimator: constructor params + learned arrays/scalars ending in `_`)
    in probe directories. Returns cls, so it works as a class decorator."""
    _REGISTRY[cls.__name__] = cls
    return cls


@dataclass
class LoadedProbe:
    """A loaded probe directory: `estimators` (name -> fitted estimator), its `card`, its `path`."""

    estimators: dict[str, Any]
    card: dict
    path: Path
    versions: dict = field(default_factory=dict)

    @property
    def estimator(self) -> Any:
        """The one fitted estimator of a directory saved from a single estimator."""
        if len(self.estimators) != 1:
            raise InternalsError(
                f"probe {self.path} holds {len(self.estimators)} estimators "
                f"({', '.join(self.estimators)}): pick one from .estimators"
            )
        return next(iter(self.estimators.values()))


def save_probe(estimator: Any, directory: str | Path, card: dict | None = None) -> Path:
    """Write `estimator` (or a dict name -> estimator) and `card` (JSON-able) to `directory`.

    Files are replaced atomically, weights first, so a reader never sees a card without its weights.
    """
    from ..store.files import atomic_write, write_json

    named = dict(estimator) if isinstance(estimator, dict) else {"probe": estimator}
    if not named:
        raise InternalsError("save_probe got no estimators")
    arrays: dict[str, np.ndarray] = {}
    specs = {name: _encode(est, f"{name}/", arrays) for name, est in named.items()}
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    atomic_write(path / WEIGHTS, data)
    doc = {
        "format": FORMAT,
        "weights_sha256": hashlib.sha256(data).hexdigest(),
        "estimators": specs,
        "versions": _versions(),
        "card": card or {},
    }
    try:
        json.dumps(doc)
    except TypeError as err:
        raise InternalsError(
            f"the probe card is not JSON-serialisable ({err}): pass plain numbers, strings, lists, dicts"
        ) from None
    write_json(path / CARD, doc)
    return path


def load_probe(directory: str | Path, model: LoadedModel | str | None = None) -> LoadedProbe:
    """Load a probe directory written by `save_probe`.

    model: a LoadedModel (or its fingerprint string); when given, a probe trained on a model with
        another fingerprint is refused with an InternalsError naming the model it was trained on.
    """
    path = Path(directory)
    if not (path / CARD).is_file() or not (path / WEIGHTS).is_file():
        raise InternalsError(
            f"{path} is not a probe directory (needs {CARD} and {WEIGHTS}): "
            "give a directory written by `internals probe train`"
        )
    try:
        doc = json.loads((path / CARD).read_text())
    except json.JSONDecodeError as err:
        raise InternalsError(f"{path / CARD} is not valid JSON ({err.msg}): retrain the probe") from None
    if doc.get("format") != FORMAT:
        raise InternalsError(f"{path / CARD} has format {doc.get('format')!r}, expected {FORMAT}: retrain the probe")
    card = doc.get("card", {})
    if model is not None:
        check_model(card, model, path)
    data = (path / WEIGHTS).read_bytes()
    if hashlib.sha256(data).hexdigest() != doc.get("weights_sha256"):
        raise InternalsError(
            f"{path / WEIGHTS} does not match its card (checksum differs): the directory is corrupt, retrain the probe"
        )
    from safetensors.numpy import load

    arrays = load(data)
    estimators = {name: _decode(spec, arrays, path) for name, spec in doc["estimators"].items()}
    return LoadedProbe(estimators, card, path, doc.get("versions", {}))


def check_model(card: dict, model: LoadedModel | str | None, path: Path | str = "probe") -> None:
    """Raise unless `model` (LoadedModel or fingerprint) has the fingerprint the card records."""
    trained = card.get("model") or {}
    want = trained.get("fingerprint")
    have = model if isinstance(model, str) else getattr(model, "fingerprint", None)
    if want is None:
        raise InternalsError(
            f"probe {path} records no model fingerprint: it cannot be checked against a model; retrain it"
        )
    if have != want:
        name = model if isinstance(model, str) else getattr(model, "name", "this model")
        raise InternalsError(
            f"probe {path} was trained on {trained.get('name', 'another model')} (fingerprint {want}), "
            f"not on {name} (fingerprint {have}): load the model it was trained on, or train a new probe"
        )


def _versions() -> dict:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _encode(est: Any, prefix: str, arrays: dict) -> dict:
    kind = type(est).__name__
    if _REGISTRY.get(kind) is not type(est):
        raise InternalsError(
            f"cannot save a {kind}: supported are {', '.join(sorted(_REGISTRY))} "
            "(register_estimator(cls) adds an sklearn estimator whose learned state is arrays)"
        )
    if isinstance(est, Pipeline):
        params = {k: _json(v, f"{kind}.{k}") for k, v in est.get_params(deep=False).items() if k != "steps"}
        steps = [[name, _encode(step, f"{prefix}{i}.{name}/", arrays)] for i, (name, step) in enumerate(est.steps)]
        return {"type": kind, "params": params, "steps": steps}
    params = {k: _json(v, f"{kind}.{k}") for k, v in est.get_params(deep=False).items()}
    learned = {}
    for attr, value in vars(est).items():
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        key = f"{prefix}{attr}"
        if isinstance(value, torch.nn.Module):
            state = value.state_dict()
            for name, tensor in state.items():
                arrays[f"{key}/{name}"] = tensor.detach().cpu().numpy()
            learned[attr] = {"module": key, "tensors": sorted(state)}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[key] = value
            learned[attr] = {"array": key}
        elif isinstance(value, np.ndarray):
            learned[attr] = {"list": value.tolist(), "dtype": str(value.dtype)}
        else:
            learned[attr] = {"value": _json(value, f"{kind}.{attr}")}
    return {"type": kind, "params": params, "learned": learned}


def _decode(spec: dict, arrays: dict, path: Path) -> Any:
    kind = spec.get("type")
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InternalsError(
            f"probe {path} holds a {kind!r}, which this version cannot load "
            f"(known: {', '.join(sorted(_REGISTRY))}): upgrade internals or retrain"
        )
    params = {k: _unjson(v) for k, v in spec.get("params", {}).items()}
    if cls is Pipeline:
        return Pipeline([(name, _decode(step, arrays, path)) for name, step in spec["steps"]], **params)
    est = cls(**params)
    learned = spec.get("learned", {})
    for attr, entry in learned.items():
        if "array" in entry:
            setattr(est, attr, np.array(arrays[entry["array"]]))
        elif "list" in entry:
            setattr(est, attr, np.array(entry["list"], dtype=entry["dtype"]))
        elif "value" in entry:
            setattr(est, attr, _unjson(entry["value"]))
    for attr, entry in learned.items():  # modules last: they are built from the scalars (n_features_in_)
        if "module" in entry:
            module = est._new_module(est.n_features_in_)
            key = entry["module"]
            module.load_state_dict({n: torch.from_numpy(np.array(arrays[f"{key}/{n}"])) for n in entry["tensors"]})
            module.eval()
            setattr(est, attr, module)
    return est


def _json(value: Any, where: str) -> Any:
    """A JSON-able form of a param or learned scalar (dicts with non-string keys kept as pairs)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json(v, where) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _json(v, where) for k, v in value.items()}
        return {"__pairs__": [[_json(k, where), _json(v, where)] for k, v in value.items()]}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    raise InternalsError(
        f"cannot save {where} of type {type(value).__name__} without pickling: "
        "use plain numbers, strings, lists or dicts for estimator parameters"
    )


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__pairs__"}:
            return {_unjson(k): _unjson(v) for k, v in value["__pairs__"]}
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value
