"""The settings of a cutoff run, read from TOML (`internals cutoff train CONFIG`).

Example (every key optional):

    datasets = ["contextual_parametric_knowledge_conflicts", "disfl_qa"]
    model = "default"            # or a local HF checkpoint dir
    n_train = 100                # examples per dataset from the "train" split
    n_val = 30                   # from the "validation" split: ranks the heads
    n_test = 40                  # from the "test" split: `internals cutoff eval`
    test_offset = 0              # skip the test sample's first examples: a fresh test set, same seed
    target_tokens = 1024         # context length to build (gold passage + distractors)
    pad_distractors = true       # pad with other records' passages to target_tokens (default: on for the
                                 # built-in datasets, as the paper does; off for your files: your own text)
    fields = {question = "input", answers = "target"}  # your files' field names (see `internals data schema`)
    max_new_tokens = 16          # answer length (default: the longest gold answer in tokens + 4, at most 64)
    template = "auto"            # the user turn: the chat template when the model has one, else (a base
                                 # model) "{question}\\nAnswer:" after the BOS; or "chat", "raw", a format string
    kinds = ["attn_z", "o_proj_slices"]  # or "attn_z_query" (ours: heads read at the question asked again)
    k = 5                        # heads in the ensemble (the paper's code uses 4 classifiers)
    combine = ["mean", "logistic"]  # top-k heads: average their probes, and/or a final classifier on their vectors
    main = "attn_z+logistic"     # the probe the headline numbers use: a kind, "+logistic" for that combine
    threshold = 0.95
    target_precision = 0.9       # picks a second threshold on validation (see pipeline.calibrated_threshold)
    out = "probes/cutoff"
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from ...config import read_toml_config
from ...errors import InternalsError
from .features import check_kinds
from .infer import ANSWER_FROM
from .probes import COMBINE, probe_name


@dataclass
class CutoffConfig:
    """Data, features, probe and evaluation settings (see the module docstring for a TOML file)."""

    datasets: tuple[str, ...] = ("contextual_parametric_knowledge_conflicts", "disfl_qa")
    model: str | None = None
    device: str = "cpu"
    n_train: int = 100
    n_val: int = 30
    n_test: int = 40
    test_offset: int = 0
    target_tokens: int = 1024
    pad_distractors: bool | None = None
    fields: dict[str, str] = dataclass_field(default_factory=dict)
    n_chunks: int = 10
    kinds: tuple[str, ...] = ("attn_z", "o_proj_slices")
    k: int = 5
    combine: tuple[str, ...] = ("mean",)
    main: str | None = None
    C: float = 1.0
    standardize: bool = False
    threshold: float = 0.95
    thresholds: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
    target_precision: float = 0.9
    self_assess: bool = True
    answer_from: str = "cache"
    max_new_tokens: int | None = None
    template: str = "auto"
    seed: int = 0
    out: str = "probes/cutoff"

    def __post_init__(self) -> None:
        self.datasets = (self.datasets,) if isinstance(self.datasets, str) else tuple(self.datasets)
        self.kinds = check_kinds(self.kinds)
        self.combine = (self.combine,) if isinstance(self.combine, str) else tuple(self.combine)
        bad = [c for c in self.combine if c not in COMBINE]
        if bad or not self.combine:
            raise InternalsError(f"unknown combine {', '.join(bad) or '(none)'}: use {' or '.join(COMBINE)}")
        self.main = self.main or self.probe_names[0]
        if self.main not in self.probe_names:
            raise InternalsError(
                f"main probe {self.main!r} is not trained by this config: use one of {', '.join(self.probe_names)}"
            )
        self.thresholds = tuple(sorted(set(float(t) for t in (*self.thresholds, self.threshold))))
        if not self.datasets:
            raise InternalsError('no datasets in the config: set datasets = ["disfl_qa", ...]')
        for name in ("n_train", "n_val", "n_test", "target_tokens", "n_chunks", "k", "max_new_tokens"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise InternalsError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if int(self.test_offset) < 0:
            raise InternalsError(f"test_offset must be 0 or more, got {self.test_offset!r}")
        if not 0 < self.threshold <= 1 or any(not 0 < t <= 1 for t in self.thresholds):
            raise InternalsError(f"thresholds must be in (0, 1], got {self.thresholds}")
        from ...data.files import check_fields

        self.fields = check_fields(self.fields)
        if self.pad_distractors not in (None, True, False):
            raise InternalsError(f"pad_distractors must be true or false, got {self.pad_distractors!r}")
        if self.answer_from not in ANSWER_FROM:
            raise InternalsError(f"answer_from must be {' or '.join(ANSWER_FROM)}, got {self.answer_from!r}")

    @property
    def probe_names(self) -> list[str]:
        """The probes `train_cutoff_probes` fits, one per (kind, combine): "attn_z", "attn_z+logistic", ..."""
        return [probe_name(k, c) for k in self.kinds for c in self.combine]

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> CutoffConfig:
        """Read a TOML file with `internals.config.read_toml_config` (unknown keys are an error);
        `overrides` that are not None replace the file's values."""
        data = read_toml_config(path, cls) | {k: v for k, v in overrides.items() if v is not None}
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def pads(self, dataset: str) -> bool:
        """Whether `dataset`'s contexts are padded with other records' passages: `pad_distractors`
        when set, else on for a built-in dataset (the paper's distractor padding) and off for a file."""
        from ...data.files import is_data_path

        return self.pad_distractors if self.pad_distractors is not None else not is_data_path(dataset)

    def fields_for(self, dataset: str) -> dict[str, str] | None:
        """The field mapping for `dataset`: `fields` for a user's file, None for a built-in dataset."""
        from ...data.files import is_data_path

        return dict(self.fields) if self.fields and is_data_path(dataset) else None

    def same_as(self, saved: dict, keys) -> bool:
        """Whether a saved config (a `to_dict`, perhaps older) has this config's values for `keys`."""
        return same_settings(saved, self.to_dict(), keys)


def same_settings(saved: dict, new: dict, keys) -> bool:
    """Whether two configs as dicts (`to_dict`, or read back from JSON) agree on `keys`; a key the
    saved one predates has its default."""
    saved, new, defaults = (json.loads(json.dumps(d)) for d in (saved, new, asdict(CutoffConfig())))
    return all(saved.get(k, defaults[k]) == new[k] for k in keys)


# The settings `pipeline.train_cutoff_probes`' probes and report depend on: a saved training with the same values
# serves any config that differs only in what it evaluates (test examples, main probe, answering).
TRAIN_KEYS = (
    "datasets",
    "model",
    "n_train",
    "n_val",
    "target_tokens",
    "pad_distractors",
    "fields",
    "n_chunks",
    "kinds",
    "k",
    "combine",
    "C",
    "standardize",
    "threshold",
    "thresholds",
    "target_precision",
    "template",
    "seed",
)
