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
    # Two accounts tied by an office NAT, one cloud VPN or a shared e-mail domain are common;
    # a unit smaller than this is judged like one entity (min_single_signals families) even
    # when a coordination family fires on it.
    min_coordinated_members: int = 3
    # What makes a cluster a campaign rather than a few alike customers is coordination across
    # accounts: shared templates, infrastructure or account metadata. A cluster whose fired
    # families hold none of these is judged like one entity (min_single_signals families).
    coordination_families: frozenset[str] = frozenset({"template", "infrastructure", "metadata"})
    # A rule with this tag links a unit to a campaign decided on its own evidence (it carries
    # that campaign's exclusive prompts or system prompts): the unit is then judged as
    # coordinated (min_signals families, the link among them) even when it is one account,
    # as a reseller front mixing an operation's traffic into its customers' is.
    link_tag: str = "distillguard.campaign_link"
    # Score = anomaly_weight * anomaly + (1 - anomaly_weight) * evidence, where evidence is a
    # noisy-OR over families of the strongest fired rule's level weight in each family.
    anomaly_weight: float = 0.35
    # A campaign alerts when its score reaches alert_threshold. Analysts' confirmed campaigns
    # lower it (never below min_alert_threshold): the threshold may not sit above the score of
    # a campaign an analyst confirmed. An alert once raised stays raised while its campaign is
    # found (hysteresis); only a verdict withdraws it.
    alert_threshold: float = 0.5
    min_alert_threshold: float = 0.3
    # A campaign alerted before stays alerted while its score stays within this margin below
    # the threshold, so a score hovering at the threshold does not flap.
    alert_hysteresis: float = 0.1
    # A campaign the scan no longer finds is *closed* (kept, alert and all) when its accounts
    # have been silent this many hours before the newest request in the store; otherwise its
    # evidence is gone while its accounts are still active and it is withdrawn.
    close_after_hours: float = 24.0
    level_weights: dict[str, float] = field(default_factory=_level_weights)
    # A new candidate keeps an existing campaign's id when Jaccard >= match_jaccard, or when it
    # holds a majority of the old campaign's members (the campaign grew).
    match_jaccard: float = 0.5
    core_members: int = 3
    max_indicators: int = 20
    max_samples: int = 3
    sample_chars: int = 200
