"""Alert thresholds calibrated by analysts' confirmed verdicts."""

from __future__ import annotations

from collections.abc import Iterable


def calibrated_threshold(default: float, floor: float, confirmed_scores: Iterable[float]) -> float:
    """The alert threshold given the scores of what analysts confirmed.

    A threshold above the score of a confirmed campaign would have missed it, so the threshold
    drops to the lowest confirmed score; it never rises above `default` nor falls below
    `floor` (one mistaken confirmation must not make everything alert).
    """
    lowest = min((float(s) for s in confirmed_scores), default=default)
    return max(floor, min(default, lowest))
