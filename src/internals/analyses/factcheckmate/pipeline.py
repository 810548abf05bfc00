"""The probe-training pipeline behind `internals probe train/eval/predict`, driven by a TOML config.

    [probe]                      # probes/qa_wikidata.toml
    name = "qa_wikidata"         # the probe dir: <out>/<name>/
    model = "default"            # the embedded SmolLM2-135M-Instruct, or a checkpoint dir
    dataset = "qa_wikidata"      # a registered dataset, or your .jsonl/.json/.csv/.parquet file or saved HF dir
    fields = {question = "input", answers = "target"}  # your file's field names (`internals data schema`)
    device = "auto"              # where the model runs (not part of the probe's identity)
    limit = 5000                 # questions drawn (seeded) from it; split 80/10/10 by record
    seed = 0                     # data split, sample, probe initialisation
    template = "auto"            # the chat template when the model has one, else "Question: {question}\\nAnswer:"
    layer = "sweep"              # or an int
    setting = "I"                # I, I+O or I-n
    heads = ["mlp", "logistic"]  # the first is saved; the others are trained beside it
    out = "probes"
    max_new_tokens = 16          # answer generation (greedy, stops at newline . ,)

Labels and features are cached (see labels.py, features.py); a probe dir whose card records the
same config is kept unless `force`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...config import read_toml_config
from ...errors import InternalsError
from .generate import GenerationSettings

if TYPE_CHECKING:
    from ...data.records import Dataset
    from ...models import LoadedModel
    from .features import Features
    from .labels import Labels
    from .sweep import Split

CONTROLS = ("shuffle", "random_model")


@dataclass
class ProbeConfig:
    """What `internals probe train` trains (see the module docstring)."""

    name: str
    dataset: str = "qa_wikidata"
    model: str | None = None
    limit: int | None = 5000
    seed: int = 0
    template: str = "auto"
    layer: int | str = "sweep"
    setting: str = "I"
    heads: list[str] = field(default_factory=lambda: ["mlp", "logistic"])
    out: str = "probes"
    max_new_tokens: int = 16
    batch_size: int = 32
    capture_batch_size: int = 16
    # evidence on the card (internals.heads.evidence): the label-shuffle control always; "random_model"
    # adds the same pipeline on the random-init twin's features (one more capture pass)
    controls: list[str] = field(default_factory=lambda: ["shuffle"])
    # your file's field names (our field -> yours, see `internals data schema`); where the model runs
    fields: dict[str, str] = field(default_factory=dict)
    device: str = "auto"

    @classmethod
    def from_toml(cls, path: str | Path) -> ProbeConfig:
        """Read a probe config (its `[probe]` table, else the top level) with
        `internals.config.read_toml_config` (unknown keys are an error); `name` defaults to the file's stem."""
        table = read_toml_config(path, cls, section="probe")
        table.setdefault("name", Path(path).stem)
        if table.get("model") in ("default", ""):
            table["model"] = None
        config = cls(**table)
        config.check()
        return config

    def check(self) -> None:
        from ...data.files import check_fields
        from .features import setting_span
        from .sweep import HEADS

        self.fields = check_fields(self.fields)

        setting_span(self.setting)
        if not self.heads or any(h not in HEADS for h in self.heads):
            raise InternalsError(f"heads {self.heads!r}: use a list of {', '.join(HEADS)}")
        if not (self.layer == "sweep" or (isinstance(self.layer, int) and self.layer >= 0)):
            raise InternalsError(f'layer {self.layer!r}: use "sweep" or a layer number')
        bad = [c for c in self.controls if c not in CONTROLS]
        if bad:
            raise InternalsError(f"unknown control {bad[0]!r}: use any of {', '.join(CONTROLS)}")

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)

    def digest(self) -> str:
        """Hash of what determines the probe (not where it goes)."""
        # controls evaluate a probe, they do not change it: left out (earlier cards keep their digest)
        # nor does the device; fields only when set (configs without them keep their digest)
        skip = ("out", "batch_size", "capture_batch_size", "controls", "device", *(() if self.fields else ("fields",)))
        ident = {k: v for k, v in asdict(self).items() if k not in skip}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Prepared:
    """A dataset answered, labelled and featurised: everything a probe is trained or tested on."""

    lm: LoadedModel
    dataset: Dataset
    template: str
    labels: Labels
    features: Features
    split: Split
    prompts: list


def prepare(
    lm,
    dataset,
    template: str,
    setting: str,
    generation: GenerationSettings,
    layers: str = "*",
    seed: int = 0,
    capture_batch_size: int = 16,
    progress: bool = True,
) -> Prepared:
    """Labels (cached), pooled features of `layers` (cached) and the split of `dataset`."""
    from ...prompts import render
    from .features import pooled_features
    from .labels import label_dataset, resolve_template
    from .sweep import split_indices

    template = resolve_template(template, lm.tokenizer)
    labels = label_dataset(lm, dataset, template, generation, progress=progress)
    prompts = render(dataset, template, lm.tokenizer)
    feats = pooled_features(
        lm, prompts, setting, labels.answers, layers, batch_size=capture_batch_size, progress=progress
    )
    return Prepared(lm, dataset, template, labels, feats, split_indices(dataset, seed), prompts)


def train_factcheckmate_probe(config: ProbeConfig, *, force: bool = False, progress: bool = True, lm=None) -> Path:
    """Train the probe a config describes; returns its directory (`<out>/<name>`)."""
    from ...data import load_dataset
    from ...heads import save_probe
    from ...models import load_model
    from .labels import check_both_classes
    from .sweep import sweep

    target = Path(config.out) / config.name
    if not force and (target / "card.json").is_file():
        card = json.loads((target / "card.json").read_text()).get("card", {})
        if card.get("config_digest") == config.digest():
            return target
    lm = lm or load_model(config.model, device=config.device)
    dataset = load_dataset(config.dataset, limit=config.limit, seed=config.seed, fields=config.fields or None)
    layers = "*" if config.layer == "sweep" else str(config.layer)
    prep = prepare(
        lm,
        dataset,
        config.template,
        config.setting,
        config.generation,
        layers,
        config.seed,
        config.capture_batch_size,
        progress,
    )
    check_both_classes(prep.labels, f"{config.dataset} ({len(dataset)} questions)")
    result = sweep(prep.features, prep.labels.y, prep.split, config.heads, config.seed, progress)
    head = config.heads[0]
    chosen = result.results[head]["best_layer"]
    card = probe_card(config, prep, result, chosen)
    card["evidence"] = _clean(probe_evidence(config, prep, result.estimators[head], chosen, progress))
    save_probe(result.estimators[head], target, card)
    (target / "sweep.json").write_text(json.dumps(_clean(result.results), indent=1) + "\n")
    return target


def _refit(prep: Prepared, X: np.ndarray, head: str, seed: int):
    """The rows whose labels the head's fit sees (train, and validation: the MLPs early-stop on it)
    and `refit(labels of those rows)` -> the head fitted as the probe was (the shuffle control)."""
    from .sweep import fit_head

    split, y = prep.split, prep.labels.y
    fit_rows = np.concatenate([split.train, split.validation])

    def refit(y_fit):
        labels = y.copy()
        labels[fit_rows] = y_fit
        return fit_head(head, X, labels, split, seed)

    return fit_rows, refit


def shuffle_evidence(prep: Prepared, estimator, layer: int, head: str, seed: int = 0) -> dict:
    """The label-shuffle control of `estimator` (a `head` probe at `layer`) alone, as
    `probe_evidence` computes it: to refresh a card's, or for a probe fitted outside a card."""
    from ...heads.evidence import metric_intervals, positive_scores, shuffle_control, shuffle_summary

    X, y, test = prep.features.layer(layer), prep.labels.y, prep.split.test
    fit_rows, refit = _refit(prep, X, head, seed)
    real = metric_intervals(y[test], positive_scores(estimator, X[test]), seed=seed)
    return shuffle_summary(real, shuffle_control(refit, y[fit_rows], X[test], y[test], seed=seed))


def probe_evidence(config: ProbeConfig, prep: Prepared, estimator, layer: int, progress: bool = False) -> dict:
    """The card's evidence at the chosen layer: test intervals, recall at 1% / 5% FPR, the
    label-shuffle control, the majority baseline and, with controls = ["random_model"], the same
    head fitted on the random-init twin's features of the same questions (labels stay the real
    model's: the control shows how much the question's surface alone predicts them)."""
    from ...heads.evidence import control_metrics, evidence
    from .sweep import fit_head

    head, split, y = config.heads[0], prep.split, prep.labels.y
    X = prep.features.layer(layer)
    if len(np.unique(y[split.test])) < 2:
        return {"skipped": f"the test split ({len(split.test)} questions) has one class only: no intervals or controls"}

    fit_rows, refit = _refit(prep, X, head, config.seed)
    controls = {}
    if "random_model" in config.controls:
        from ...models import random_twin
        from .features import pooled_features

        twin = random_twin(prep.lm, config.seed)
        Xt = pooled_features(
            twin,
            prep.prompts,
            config.setting,
            prep.labels.answers,
            str(layer),
            batch_size=config.capture_batch_size,
            progress=progress,
        ).layer(layer)
        est = fit_head(head, Xt, y, split, config.seed)
        controls["random_model_control"] = control_metrics(est, Xt[split.test], y[split.test], config.seed)
    return evidence(estimator, refit, y[fit_rows], X[split.test], y[split.test], seed=config.seed, controls=controls)


def probe_card(config: ProbeConfig, prep: Prepared, result, layer: int) -> dict:
    """The JSON card saved beside the weights."""
    head = config.heads[0]
    return {
        "kind": "factcheckmate",
        "model": prep.lm.describe(),
        "site": f"resid_post.{layer}",
        "layer": layer,
        "setting": config.setting,
        "head": head,
        "template": prep.template,
        "generation": config.generation.identity(),
        "threshold": 0.5,
        "positive_class": "hallucination (1)",
        "data": {
            "name": prep.dataset.name,
            "n": len(prep.dataset),
            "limit": config.limit,
            "seed": config.seed,
            "fingerprint": prep.dataset.fingerprint,
            "splits": prep.split.sizes(),
            "hallucination_rate": prep.labels.hallucination_rate,
            "labels_cache": prep.labels.manifest.get("cache"),
            "features_store": prep.features.store_path,
        },
        "layer_choice": "sweep: best validation balanced accuracy" if config.layer == "sweep" else "fixed",
        "metrics": {h: _clean(r["best"]) | {"layer": r["best_layer"]} for h, r in result.results.items()},
        "seed": config.seed,
        "config": asdict(config),
        "config_digest": config.digest(),
    }


def _clean(obj):
    """NaN -> None so the JSON is standard."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


def evaluate_probe(
    probe_dir: str | Path,
    data: str,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
    *,
    lm=None,
    progress: bool = True,
    fields: dict | None = None,
) -> dict:
    """Metrics of a saved probe on a dataset split (labels and features computed or reused)."""
    from ...data import load_dataset
    from ...heads import load_probe
    from ...heads.evidence import MAJORITY, metric_intervals, positive_scores, recall_at_fpr
    from ...models import load_model
    from .sweep import probe_metrics

    card = _card(probe_dir)
    lm = lm or load_model(model_of(card))
    probe = load_probe(probe_dir, model=lm)
    dataset = load_dataset(data, split=split, limit=limit, seed=seed, fields=fields)
    gen = GenerationSettings(
        max_new_tokens=card["generation"]["max_new_tokens"], stop=tuple(card["generation"]["stop"])
    )
    prep = prepare(lm, dataset, card["template"], card["setting"], gen, str(card["layer"]), seed, progress=progress)
    X, y = prep.features.layer(card["layer"]), prep.labels.y
    metrics = probe_metrics(probe.estimator, X, y)
    out = _clean(metrics) | {
        "probe": str(probe_dir),
        "data": data,
        "split": split,
        "layer": card["layer"],
        "setting": card["setting"],
    }
    if len(np.unique(y)) == 2:  # intervals and operating points on the evaluated rows
        p = positive_scores(probe.estimator, X)
        out["evidence"] = {
            **metric_intervals(y, p, seed=seed),
            "recall_at_fpr": recall_at_fpr(y, p),
            "majority_baseline": MAJORITY,
            "card": card.get("evidence"),
        }
    return out


def predict(probe_dir: str | Path, questions: list[str], *, lm=None) -> list[float]:
    """P(the model hallucinates) for each question, before it answers (I+O answers it first)."""
    from ...capture import capture
    from ...heads import load_probe
    from ...models import load_model
    from ...prompts import render
    from .features import setting_prompts, setting_span
    from .generate import greedy_answers

    card = _card(probe_dir)
    lm = lm or load_model(model_of(card))
    probe = load_probe(probe_dir, model=lm)
    if not questions or any(not q.strip() for q in questions):
        raise InternalsError("give at least one non-empty question")
    prompts = render(questions, card["template"], lm.tokenizer)
    answers = None
    if setting_span(card["setting"])[1]:
        gen = GenerationSettings(max_new_tokens=card["generation"]["max_new_tokens"])
        answers = greedy_answers(lm, prompts, gen).text
    span, _ = setting_span(card["setting"])
    acts = capture(lm, setting_prompts(prompts, card["setting"], answers), card["site"], "mean", span=span)
    est = probe.estimator
    return est.predict_proba(acts[card["site"]].numpy())[:, list(est.classes_).index(1)].tolist()


def model_of(card: dict) -> str | None:
    """What to pass to `load_model` for the model a card was trained on (`internals.models.model_reference`)."""
    from ...models import model_reference

    return model_reference(card.get("model") or {})


def _card(probe_dir) -> dict:
    path = Path(probe_dir) / "card.json"
    if not path.is_file():
        raise InternalsError(
            f"{probe_dir} is not a probe directory (no card.json): train one with `internals probe train CONFIG`"
        )
    card = json.loads(path.read_text()).get("card", {})
    if card.get("kind") != "factcheckmate":
        raise InternalsError(f"{probe_dir} is not a FactCheckmate probe (kind {card.get('kind')!r})")
    return card
