"""Knobs of campaign assembly, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field


def _level_weights() -> dict[str, float]:
    return {"low": 0.3, "medium": 0.5, "high": 0.7, "critical": 0.85}


@dataclass(frozen=True)
class CampaignParams:
    """How clusters, scores and rule hits become campaigns and alerts.

    A multi-account cluster alerts when cluster rules of at least `min_signals` distinct
    evidence families fire on it. A lone account (not in a cluster of `min_cluster_members`)
    needs account rules of `min_single_signals` families: without coordination to corroborate
    it, its own evidence must be stronger.
    """

    min_signals: int = 2
    min_single_signals: int = 3
    min_cluster_members: int = 2
    # Score = anomaly_weight * anomaly + (1 - anomaly_weight) * evidence, where evidence is a
    # noisy-OR over families of the strongest fired rule's level weight in each family.
    anomaly_weight: float = 0.35
    level_weights: dict[str, float] = field(default_factory=_level_weights)
    # A new candidate keeps an existing campaign's id when Jaccard >= match_jaccard, or when it
    # holds a majority of the old campaign's members (the campaign grew).
    match_jaccard: float = 0.5
    core_members: int = 3
    max_indicators: int = 20
    max_samples: int = 3
    sample_chars: int = 200
