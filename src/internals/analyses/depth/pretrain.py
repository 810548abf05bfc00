"""Pre-train a small Llama-style model from scratch, Pre-LN or LayerNorm Scaling, on real text.

The recipe keeps the shape of the Curse-of-Depth repo's (`torchrun_main.py`, `run_130m.sh`):
plain normal init (std 0.02, HF's default, no depth-scaled init), Adam with weight decay 0,
linear warmup over the first 10% of steps then cosine decay to 10% of the peak lr (their
`get_cyclical_cosine_schedule_with_min_lr` with one cycle), lr 1e-3, no gradient clipping,
validation perplexity = exp(mean next-token loss on held-out text). Differences, all forced by
scale: a model of a few to tens of millions of parameters, hundreds to a few thousand steps,
the BIG-bench passage corpus (`corpus.py`) tokenised with the embedded SmolLM2 tokenizer and
packed into fixed-length sequences (their C4 loader truncates one document per sequence), tied
input/output embeddings, and bf16 autocast with fp32 weights on CUDA (they cast the weights to
bf16). Pre-LN and LNS runs with the same seed start from the same weights and see the same
batches in the same order: the only difference is the 1/sqrt(l) scale of `lns.py`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import InternalsError
from .lns import build_model

NORMS = ("pre-ln", "lns")


@dataclass(frozen=True)
class PretrainConfig:
    """One pre-training run. d_ff None = round(d_model * 2.6875) to a multiple of 8 (their
    688/256 ratio). `eval_sequences` validation sequences of `seq_len` tokens are scored every
    `eval_every` steps; `variance_sequences` of them are traced at the end."""

    norm: str = "pre-ln"
    n_layers: int = 12
    d_model: int = 128
    n_heads: int = 4
    d_ff: int | None = None
    seq_len: int = 128
    batch_size: int = 16
    steps: int = 300
    lr: float = 1e-3
    warmup: float = 0.1
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    init_std: float = 0.02
    eval_every: int = 50
    eval_sequences: int = 64
    variance_sequences: int = 64
    seed: int = 0
    device: str = "auto"

    @property
    def ffn(self) -> int:
        return self.d_ff or int(math.ceil(self.d_model * 2.6875 / 8) * 8)


PRESETS: dict[str, PretrainConfig] = {
    # seconds on a laptop core: for tests
    "test": PretrainConfig(
        n_layers=12,
        d_model=32,
        n_heads=2,
        seq_len=32,
        batch_size=4,
        steps=12,
        eval_every=4,
        eval_sequences=4,
        variance_sequences=4,
    ),
    # the largest that fits ~15 min for both runs on 2 shared CPU cores
    "cpu": PretrainConfig(
        n_layers=12,
        d_model=192,
        n_heads=6,
        seq_len=128,
        batch_size=8,
        steps=200,
        eval_every=25,
        eval_sequences=48,
        variance_sequences=48,
    ),
    # a few minutes on one H100 (bf16 autocast): ~40M parameters, 12 layers
    "gpu": PretrainConfig(
        n_layers=12,
        d_model=384,
        n_heads=6,
        seq_len=256,
        batch_size=32,
        steps=1500,
        eval_every=100,
        eval_sequences=512,
        variance_sequences=256,
    ),
}
"""Named pre-training configurations (`internals depth pretrain --preset NAME`)."""


@dataclass
class TokenData:
    """Packed token sequences: train [n_train, seq_len] and validation [n_val, seq_len] (int64)."""

    train: torch.Tensor
    validation: torch.Tensor
    corpus: dict
    tokenizer: str

    def describe(self) -> dict:
        return {
            "corpus": self.corpus,
            "tokenizer": self.tokenizer,
            "seq_len": int(self.train.shape[1]),
            "train_sequences": int(self.train.shape[0]),
            "validation_sequences": int(self.validation.shape[0]),
            "train_tokens": int(self.train.numel()),
            "validation_tokens": int(self.validation.numel()),
        }


def tokenize_documents(tokenizer, docs, batch: int = 512) -> torch.Tensor:
    """All documents as one stream of token ids, each followed by the EOS token. [total_tokens]"""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InternalsError("the tokenizer has no EOS token to separate documents")
    ids: list[int] = []
    for i in range(0, len(docs), batch):
        for row in tokenizer(list(docs[i : i + batch]), add_special_tokens=False)["input_ids"]:
            ids.extend(row)
            ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def pack(stream: torch.Tensor, seq_len: int) -> torch.Tensor:
    """[tokens] -> [tokens // seq_len, seq_len] (the remainder is dropped)."""
    n = stream.numel() // seq_len
    if n == 0:
        raise InternalsError(
            f"only {stream.numel()} tokens: fewer than one sequence of {seq_len}; use a shorter seq_len or more text"
        )
    return stream[: n * seq_len].reshape(n, seq_len)


def token_data(corpus, tokenizer, seq_len: int, cache: Path | None = None) -> TokenData:
    """Tokenise and pack a `Corpus`; the token streams are cached under `cache` when given."""
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    streams = None
    path = None
    if cache is not None:
        path = Path(cache) / f"tokens-{corpus.fingerprint}-{len(tokenizer)}.pt"
        if path.exists():
            streams = torch.load(path)
    if streams is None:
        streams = {
            "train": tokenize_documents(tokenizer, corpus.train),
            "validation": tokenize_documents(tokenizer, corpus.validation),
        }
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(streams, tmp)
            tmp.replace(path)
    return TokenData(
        pack(streams["train"], seq_len), pack(streams["validation"], seq_len), corpus.describe(), Path(name).name
    )


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based): linear warmup from 0, then
    cosine from 1 down to `min_ratio` at `total_steps`."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def model_config(cfg: PretrainConfig, tokenizer):
    """The LlamaConfig of a run (tied embeddings, plain normal init with std `init_std`)."""
    from transformers import LlamaConfig

    if cfg.d_model % cfg.n_heads:
        raise InternalsError(f"d_model {cfg.d_model} is not divisible by n_heads {cfg.n_heads}")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.d_model,
        intermediate_size=cfg.ffn,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        max_position_embeddings=cfg.seq_len,
        initializer_range=cfg.init_std,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@dataclass
class PretrainResult:
    """Curves and end state of one run. val_ppl[i] is measured after steps[i] optimizer steps
    (steps[0] = 0: the initial model); variance [L+1] is `trace_depth` on validation sequences."""

    config: dict
    params: int
    device: str
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_ppl: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    variance: list[float] = field(default_factory=list)
    prompt_variance: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0
    tokens_seen: int = 0
    model: dict = field(default_factory=dict)

    @property
    def final_ppl(self) -> float:
        return self.val_ppl[-1]

    @property
    def variance_growth(self) -> float:
        """Variance after the last block over variance after the first block."""
        return self.variance[-1] / self.variance[1]

    def to_dict(self) -> dict:
        return asdict(self)


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InternalsError(f"device {device!r} asked for but CUDA is not available here: use --device cpu")
    return device


@torch.no_grad()
def validation_loss(model, sequences: torch.Tensor, batch_size: int, device: str) -> float:
    """Mean next-token loss (nats) over all predicted tokens of `sequences` [n, seq_len]."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, sequences.shape[0], batch_size):
        x = sequences[i : i + batch_size].to(device)
        with _autocast(device):
            logits = model(input_ids=x, use_cache=False).logits
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"
        )
        total += float(nll)
        count += x[:, 1:].numel()
    model.train()
    return total / count


def _autocast(device: str):
    return (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.startswith("cuda")
        else torch.autocast("cpu", enabled=False)
    )


def pretrain(
    cfg: PretrainConfig, data: TokenData, tokenizer, *, progress: bool = False, save_dir: Path | None = None
) -> PretrainResult:
    """Train one model from scratch on `data` and return its validation curve and end variance."""
    from ...models import wrap
    from .trace import trace_depth

    if cfg.norm not in NORMS:
        raise InternalsError(f"unknown norm {cfg.norm!r}: use one of {', '.join(NORMS)}")
    if cfg.steps < 1 or cfg.eval_every < 1:
        raise InternalsError("steps and eval_every must be >= 1")
    if data.train.shape[1] != cfg.seq_len:
        raise InternalsError(
            f"the token data is packed at {data.train.shape[1]} tokens, the config asks for {cfg.seq_len}"
        )
    device = pick_device(cfg.device)
    model = build_model(model_config(cfg, tokenizer), layernorm_scaling=cfg.norm == "lns", seed=cfg.seed)
    model.to(device)  # type: ignore[arg-type]  # transformers wraps .to() and its stub loses `self`
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = int(cfg.warmup * cfg.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, warmup, cfg.steps, cfg.min_lr_ratio))
    val = data.validation[: cfg.eval_sequences]
    result = PretrainResult(asdict(cfg), sum(p.numel() for p in model.parameters()), device)
    order = _batches(data.train.shape[0], cfg.batch_size, cfg.steps, cfg.seed)
    start = time.time()
    _record(result, 0, validation_loss(model, val, cfg.batch_size, device), float("nan"))
    bar = tqdm(range(1, cfg.steps + 1), desc=f"pretrain {cfg.norm}", unit="step", disable=not progress)
    running = []
    for step in bar:
        x = data.train[order[step - 1]].to(device)
        with _autocast(device):
            loss = model(input_ids=x, labels=x, use_cache=False).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        running.append(float(loss.detach()))
        if not math.isfinite(running[-1]):
            raise InternalsError(f"the {cfg.norm} run diverged at step {step} (loss {running[-1]}): lower the lr")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            _record(result, step, validation_loss(model, val, cfg.batch_size, device), float(np.mean(running)))
            running = []
            bar.set_postfix(val_ppl=f"{result.val_ppl[-1]:.1f}")
    result.seconds = time.time() - start
    result.tokens_seen = cfg.steps * cfg.batch_size * cfg.seq_len
    lm = wrap(model, tokenizer, name=f"pretrain-{cfg.norm}")
    seqs = [row.tolist() for row in data.validation[: cfg.variance_sequences]]
    trace = trace_depth(lm, seqs, max_tokens=cfg.seq_len, batch_size=cfg.batch_size, chunk_size=max(cfg.batch_size, 16))
    result.variance, result.prompt_variance = trace.variance.tolist(), trace.prompt_variance.tolist()
    result.model = lm.describe()
    if save_dir is not None:
        model.save_pretrained(Path(save_dir) / cfg.norm)
        tokenizer.save_pretrained(Path(save_dir) / cfg.norm)
    return result


def _record(result: PretrainResult, step: int, loss: float, train_loss: float) -> None:
    result.steps.append(step)
    result.val_loss.append(loss)
    result.val_ppl.append(math.exp(loss))
    result.train_loss.append(train_loss)


def _batches(n_sequences: int, batch_size: int, steps: int, seed: int) -> list[torch.Tensor]:
    """Row indices per step: seeded shuffles of all sequences, one epoch after another."""
    if batch_size > n_sequences:
        raise InternalsError(f"batch_size {batch_size} exceeds the {n_sequences} training sequences")
    gen = torch.Generator().manual_seed(seed)
    out: list[torch.Tensor] = []
    perm = torch.randperm(n_sequences, generator=gen)
    pos = 0
    while len(out) < steps:
        if pos + batch_size > n_sequences:
            perm, pos = torch.randperm(n_sequences, generator=gen), 0
        out.append(perm[pos : pos + batch_size])
        pos += batch_size
    return out


def compare(
    base: PretrainConfig,
    data: TokenData,
    tokenizer,
    norms=NORMS,
    *,
    progress: bool = False,
    save_dir: Path | None = None,
) -> dict[str, PretrainResult]:
    """The same run with each norm in `norms` (same seed, init, batches and steps)."""
    return {
        norm: pretrain(replace(base, norm=norm), data, tokenizer, progress=progress, save_dir=save_dir)
        for norm in norms
    }
