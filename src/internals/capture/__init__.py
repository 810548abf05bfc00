"""Capture hidden states: sites, reducers, three backends, one call."""

from .capture import Activations, capture
from .reducers import REDUCERS, Moments
from .sites import GRAMMAR, Site, parse_sites

__all__ = ["Activations", "capture", "REDUCERS", "Moments", "GRAMMAR", "Site", "parse_sites"]
