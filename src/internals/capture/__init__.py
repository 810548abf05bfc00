"""Capture hidden states: sites, reducers, three backends, one call; `record` for every call of a generation."""

from .backends.hooks import Attached, Trace, attach, attached
from .capture import Activations, capture
from .record import Recording, record
from .reducers import REDUCERS, Moments
from .sites import GRAMMAR, Site, parse_sites

__all__ = [
    "Activations",
    "Attached",
    "Trace",
    "attach",
    "attached",
    "capture",
    "record",
    "Recording",
    "REDUCERS",
    "Moments",
    "GRAMMAR",
    "Site",
    "parse_sites",
]
