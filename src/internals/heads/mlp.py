"""`MLPProbe`: FactCheckmate's hallucination classifier in torch, as a scikit-learn estimator.

The architecture and training settings are those of the paper's public code
(github neeraja1504/FactCheckmate, `SimpleMLP` in scripts/prefix.py):

    Linear(d, 1024) - ReLU - Dropout(0.1) - Linear(1024, 1) - Sigmoid,
    BCE loss, Adam lr 1e-4, batch 128, up to 50 epochs, the best checkpoint on validation,
    threshold 0.5 (their `torch.round` of the sigmoid).

Their data were balanced by downsampling the majority class before training; `balance=True`
does that (seeded) on the training rows and on the validation rows. Early stopping: the
validation BCE is measured after every epoch, the weights of the best epoch are kept, and
training stops after `patience` epochs without improvement (None: run all `max_epochs`, which
is exactly "keep the best checkpoint of 50 epochs").

It is a real estimator: `fit` returns self, learned state ends in `_`, `get_params`/`set_params`
/`clone` work, it runs in a `Pipeline` and `cross_val_score`, and `check_estimator` passes
(see tests/test_heads_mlp.py for the checks it waives and why). Binary only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class MLPProbe(ClassifierMixin, BaseEstimator):
    """Binary MLP probe on feature vectors (e.g. mean-pooled hidden states).

    Args:
        hidden_size: width of the hidden layer (paper: 1024).
        dropout: dropout after the ReLU (paper: 0.1).
        lr: Adam learning rate (paper: 1e-4).
        batch_size: rows per step (paper: 128).
        max_epochs: at most this many passes over the training rows (paper: 50).
        patience: stop after this many epochs without a lower validation loss; None runs all
            epochs. Either way the weights of the best validation epoch are restored.
        validation_fraction: share of the rows held out (stratified) for early stopping when
            `fit` gets no explicit `X_val`, `y_val`.
        balance: downsample the majority class of the training and validation rows (seeded).
        random_state: seed of the initialisation, the split, the downsampling, the batch order
            and dropout. The global torch RNG is left untouched.
        device: where the MLP trains and predicts ("cpu", "cuda", ...).

    Attributes (after fit):
        classes_ [2], n_features_in_, module_ (the torch MLP, eval mode), loss_curve_ (training
        BCE per epoch), validation_loss_ (per epoch), best_epoch_ (0-based), n_epochs_.
    """

    def __init__(
        self,
        hidden_size: int = 1024,
        dropout: float = 0.1,
        lr: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 50,
        patience: int | None = 10,
        validation_fraction: float = 0.1,
        balance: bool = True,
        random_state: int | None = 0,
        device: str = "cpu",
    ):
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.balance = balance
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _new_module(self, n_features: int) -> torch.nn.Sequential:
        """The paper's MLP (its `SimpleMLP`), for `n_features` inputs."""
        return torch.nn.Sequential(
            torch.nn.Linear(n_features, self.hidden_size),
            torch.nn.ReLU(),
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(self.hidden_size, 1),
            torch.nn.Sigmoid(),
        )

    def fit(
        self, X: ArrayLike, y: ArrayLike, X_val: ArrayLike | None = None, y_val: ArrayLike | None = None
    ) -> MLPProbe:
        """Train on X [n, d], y [n] (two classes; `classes_[1]` is the positive class).

        X_val, y_val: explicit validation rows for early stopping (else `validation_fraction`
        of X is held out).
        """
        X_arr, y_arr = validate_data(self, X, y)  # np.ndarray from here on
        check_classification_targets(y_arr)
        self.classes_ = np.unique(y_arr)
        if len(self.classes_) < 2:  # sklearn's wording, which check_estimator looks for
            raise ValueError("Classifier can't train when only one class is present: give rows of both classes")
        if len(self.classes_) > 2:
            raise ValueError(f"Only binary classification is supported. MLPProbe got {len(self.classes_)} classes")
        rng = np.random.default_rng(self.random_state)
        target = (y_arr == self.classes_[1]).astype(np.float32)
        if X_val is None:
            train_idx, val_idx = _stratified_split(target, self.validation_fraction, rng)
            X_tr, y_tr, X_va, y_va = X_arr[train_idx], target[train_idx], X_arr[val_idx], target[val_idx]
        else:
            X_va = validate_data(self, X_val, reset=False)
            y_va = (np.asarray(y_val) == self.classes_[1]).astype(np.float32)
            X_tr, y_tr = X_arr, target
        if self.balance:
            keep = _downsample(y_tr, rng)
            X_tr, y_tr = X_tr[keep], y_tr[keep]
            if len(y_va) and len(np.unique(y_va)) == 2:
                keep = _downsample(y_va, rng)
                X_va, y_va = X_va[keep], y_va[keep]
        seed = int(rng.integers(2**31 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._train(X_tr, y_tr, X_va, y_va, seed)
        return self

    def _train(self, X_tr: np.ndarray, y_tr: np.ndarray, X_va: np.ndarray, y_va: np.ndarray, seed: int) -> None:
        device = torch.device(self.device)
        module = self._new_module(X_tr.shape[1]).to(device)
        optimiser = torch.optim.Adam(module.parameters(), lr=self.lr)
        loss_fn = torch.nn.BCELoss()
        xt = torch.as_tensor(X_tr, dtype=torch.float32, device=device)
        yt = torch.as_tensor(y_tr, dtype=torch.float32, device=device)
        xv = torch.as_tensor(X_va, dtype=torch.float32, device=device)
        yv = torch.as_tensor(y_va, dtype=torch.float32, device=device)
        order_rng = torch.Generator().manual_seed(seed)
        best, best_epoch, waited = np.inf, 0, 0
        best_state: dict[str, torch.Tensor] | None = None
        self.loss_curve_, self.validation_loss_ = [], []
        for epoch in range(self.max_epochs):
            module.train()
            total = 0.0
            for batch in torch.randperm(len(xt), generator=order_rng).split(self.batch_size):
                optimiser.zero_grad()
                loss = loss_fn(module(xt[batch]).squeeze(-1), yt[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            self.loss_curve_.append(total / len(xt))
            module.eval()
            with torch.no_grad():  # no validation rows (tiny data): the training loss stands in
                val = loss_fn(module(xv).squeeze(-1), yv).item() if len(xv) else self.loss_curve_[-1]
            self.validation_loss_.append(val)
            if val < best:
                best, best_epoch, waited = val, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                waited += 1
                if self.patience is not None and waited >= self.patience:
                    break
        if best_state is not None:  # None only when no validation loss was finite: keep the last epoch's
            module.load_state_dict(best_state)
        module.eval()
        self.module_, self.best_epoch_, self.n_epochs_ = module, best_epoch, len(self.loss_curve_)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Logits [n] (before the sigmoid); > 0 means `classes_[1]`."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        # float64 inference: a row's score must not depend on which other rows share its batch
        # (float32 BLAS kernels change with the batch shape; sklearn checks subset invariance).
        first, _, _, second, _ = self.module_
        assert isinstance(first, torch.nn.Linear) and isinstance(second, torch.nn.Linear)
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(X, dtype=np.float64))
            h = torch.relu(torch.nn.functional.linear(x, first.weight.double().cpu(), first.bias.double().cpu()))
            logits = torch.nn.functional.linear(h, second.weight.double().cpu(), second.bias.double().cpu())
        return logits.squeeze(-1).numpy()

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """[n, 2]: P(classes_[0]), P(classes_[1])."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels [n]: classes_[1] where P(classes_[1]) >= 0.5 (the paper's rounding), else classes_[0]."""
        positive = self.decision_function(X) >= 0
        return self.classes_[positive.astype(int)]


def _stratified_split(target: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of each class held out, at least one row of each;
    no validation rows when a class has fewer than 2 rows."""
    per_class = [np.flatnonzero(target == c) for c in (0.0, 1.0)]
    if fraction <= 0 or min(len(i) for i in per_class) < 2:
        return np.arange(len(target)), np.zeros(0, dtype=int)
    val = []
    for idx in per_class:
        n = min(max(1, int(round(fraction * len(idx)))), len(idx) - 1)
        val.append(rng.permutation(idx)[:n])
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(target)), val_idx), val_idx


def _downsample(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices keeping every minority row and as many random majority rows."""
    per_class = [np.flatnonzero(target == c) for c in (0.0, 1.0)]
    n = min(len(i) for i in per_class)
    if n == 0:
        return np.arange(len(target))
    return np.sort(np.concatenate([rng.permutation(i)[:n] for i in per_class]))


def scaled_mlp_probe(random_state: int | None = 0, **mlp_params: Any) -> Pipeline:
    """OURS, not the paper's: `Pipeline(StandardScaler, MLPProbe)`. The paper's MLP sees the raw
    pooled states, whose few outlier dimensions (norms in the thousands on SmolLM2) dominate the
    first layer at lr 1e-4; standardising each feature on the training rows first is the usual
    fix. Fit it with `fit_scaled_mlp` to early-stop on standardised validation rows."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("mlp", MLPProbe(random_state=random_state, **mlp_params))])


def fit_scaled_mlp(
    pipeline: Pipeline, X: ArrayLike, y: ArrayLike, X_val: ArrayLike | None = None, y_val: ArrayLike | None = None
) -> Pipeline:
    """Fit a `scaled_mlp_probe`: the scaler on X, then the MLP on the scaled rows, early-stopping on
    the scaled X_val (a plain `Pipeline.fit` would hand the MLP unscaled validation rows)."""
    scale, mlp = pipeline.named_steps["scale"], pipeline.named_steps["mlp"]
    scale.fit(X)
    mlp.fit(scale.transform(X), y, X_val=None if X_val is None else scale.transform(X_val), y_val=y_val)
    return pipeline
