"""Capture hidden states: sites, reducers, three backends, one call; `record` for every call of a generation."""

from .capture import Activations, capture
from .record import Recording, record
from .reducers import REDUCERS, Moments
from .sites import GRAMMAR, Site, parse_sites

__all__ = ["Activations", "capture", "record", "Recording", "REDUCERS", "Moments", "GRAMMAR", "Site", "parse_sites"]
