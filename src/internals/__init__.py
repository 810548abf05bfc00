"""internals: a model-internals interpretability workbench for causal LMs."""

from . import edits
from .analyses.patching.api import patch
from .capture import Activations, capture
from .errors import InternalsError
from .models import LoadedModel, load_model, wrap

__version__ = "0.1.0"
"""The package version (PEP 440), as in pyproject.toml."""
__all__ = [
    "Activations",
    "capture",
    "edits",
    "InternalsError",
    "LoadedModel",
    "load_model",
    "patch",
    "wrap",
    "__version__",
]
