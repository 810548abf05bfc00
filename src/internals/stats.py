"""Paired significance of two systems answering the same questions."""

from __future__ import annotations

import numpy as np


def mcnemar(new, old) -> dict:
    """`new` and `old`: per question, right (True) or wrong. Wins (new right, old wrong), losses
    (the reverse) and the exact two-sided McNemar p-value (a binomial test on the discordant pairs)."""
    from scipy.stats import binomtest

    new, old = np.asarray(new, dtype=bool), np.asarray(old, dtype=bool)
    wins, losses = int(np.sum(new & ~old)), int(np.sum(old & ~new))
    p = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return {"wins": wins, "losses": losses, "p_value": float(p)}
