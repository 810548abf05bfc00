"""Probe heads (sklearn estimators) and their safe save/load.

from internals.heads import MLPProbe, logistic_probe, save_probe, load_probe
probe = MLPProbe(random_state=0).fit(X_train, y_train)
save_probe(probe, "probes/my_probe", card={"model": lm.describe(), "site": "resid_post.16"})
loaded = load_probe("probes/my_probe", model=lm)   # refuses another model's probe
loaded.estimator.predict_proba(X), loaded.card
"""

from .io import LoadedProbe, load_probe, register_estimator, save_probe
from .linear import logistic_probe
from .mlp import MLPProbe, fit_scaled_mlp, scaled_mlp_probe

__all__ = [
    "LoadedProbe",
    "MLPProbe",
    "fit_scaled_mlp",
    "load_probe",
    "logistic_probe",
    "register_estimator",
    "save_probe",
    "scaled_mlp_probe",
]
