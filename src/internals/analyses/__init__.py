"""Analyses: thin modules that compose capture, heads, metrics and plots (factcheckmate, cutoff, voids, depth, patching)."""
