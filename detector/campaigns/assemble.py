"""Assemble campaigns from clusters, anomaly scores and rule hits.

A *unit* is a multi-account cluster (of the graph, or a content-kit group from
`detector.campaigns.kits`) or a lone account. Rule hits give each unit a set of evidence
families (volume, template, capability, cot, infrastructure, metadata); a unit becomes a
campaign when enough independent families agree (`CampaignParams`): two, one of them a
coordination family, for a graph cluster of at least `min_coordinated_members` accounts or for
any unit carrying another campaign's exclusive content (a rule tagged `link_tag`, see
`detector.campaigns.affiliates`); otherwise (a pair, a kit group, a lone account)
`min_single_signals`. Analysts' verdicts then
remove allowlisted members and mark dismissed campaigns as not alerted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from detector.campaigns.identity import Candidate, alert_id_for, assign_ids
from detector.campaigns.kits import KIT_PREFIX, is_kit_unit
from detector.campaigns.params import CampaignParams
from detector.rules.schema import ATLAS_TECHNIQUE, LEVEL_RANK, LEVELS, DetectionRule
from detector.scoring.calibration import calibrated_threshold
from detector.scoring.verdicts import Verdicts


@dataclass(frozen=True)
class CampaignDraft:
    """A campaign as decided by this scan, before its evidence is gathered from the store."""

    campaign_id: str
    alert_id: str
    unit: str  # "cluster:<id>" or "account:<id>"
    members: tuple[str, ...]
    families: tuple[str, ...]
    rules: tuple[str, ...]
    score: float
    anomaly_score: float
    severity: str
    alerted: bool
    status: str
    tags: tuple[str, ...]
    signals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Unit:
    key: str
    members: tuple[str, ...]
    rules: tuple[str, ...]
    anomaly: float
    single: bool
    kit: bool = False  # a kit group: shared content only, judged like a lone account


def evidence_strength(rules: Sequence[DetectionRule], weights: Mapping[str, float]) -> float:
    """Noisy-OR over families of the strongest fired rule's level weight in each family."""
    best: dict[str, float] = {}
    for rule in rules:
        best[rule.signal] = max(best.get(rule.signal, 0.0), weights[rule.level])
    remaining = 1.0
    for weight in best.values():
        remaining *= 1.0 - weight
    return 1.0 - remaining


def severity_for(rules: Sequence[DetectionRule], families: int, score: float) -> str:
    """The strongest rule level, one step higher when four families agree or the score is high."""
    rank = max((LEVEL_RANK[r.level] for r in rules), default=0)
    if families >= 4 or score >= 0.85:
        rank += 1
    return LEVELS[min(rank, len(LEVELS) - 1)]


def _weighted_mean(values: pl.Series, weights: pl.Series) -> float:
    total = float(weights.sum())
    if total <= 0:
        return float(values.cast(pl.Float64).fill_null(0.0).mean() or 0.0)  # type: ignore[arg-type]
    return float((values * weights).sum()) / total


def _units(
    accounts: pl.DataFrame,
    membership: pl.DataFrame,
    cluster_rows: pl.DataFrame,
    account_hits: pl.DataFrame,
    cluster_hits: pl.DataFrame,
    params: CampaignParams,
) -> list[_Unit]:
    weight = (
        pl.col("requests").cast(pl.Float64).fill_null(0).clip(lower_bound=1)
        if "requests" in accounts.columns else pl.lit(1.0)
    )
    acct = accounts.select(
        pl.col("account_id").cast(pl.String),
        weight.alias("weight"),
        pl.col("anomaly_score").fill_null(0.0),
    )
    sizes = membership.group_by("cluster_id").len("members")
    multi = sizes.filter(pl.col("members") >= params.min_cluster_members)
    members = membership.join(multi.select("cluster_id"), on="cluster_id").join(
        acct, on="account_id", how="left"
    ).with_columns(pl.col("weight").fill_null(1.0), pl.col("anomaly_score").fill_null(0.0))
    # Clusters are judged by cluster rules over their aggregates, which also carry the
    # organisation context (one org's shared templates or card are not coordination);
    # account rules decide lone accounts.
    own = cluster_hits.rename({"entity_id": "cluster_id"}).join(multi.select("cluster_id"), on="cluster_id")
    cluster_rules = own.unique().group_by("cluster_id").agg(pl.col("rule_id").sort()).sort("cluster_id")
    cluster_anomaly = dict(
        zip(
            cluster_rows.get_column("cluster_id").cast(pl.String).to_list(),
            cluster_rows.get_column("anomaly_score").to_list()
            if "anomaly_score" in cluster_rows.columns else [0.0] * cluster_rows.height,
            strict=True,
        )
    )
    units: list[_Unit] = []
    grouped = {key[0]: frame for key, frame in members.partition_by("cluster_id", as_dict=True).items()}
    for cluster_id, rule_ids in cluster_rules.iter_rows():
        frame = grouped[cluster_id]
        anomaly = max(
            float(cluster_anomaly.get(cluster_id) or 0.0),
            _weighted_mean(frame.get_column("anomaly_score"), frame.get_column("weight")),
        )
        units.append(_Unit(
            key=f"cluster:{cluster_id}",
            members=tuple(sorted(frame.get_column("account_id").to_list())),
            rules=tuple(rule_ids),
            anomaly=anomaly,
            single=False,
            kit=is_kit_unit(cluster_id),
        ))
    # A kit group is a loose grouping by shared content, not a graph cluster: its members are
    # also judged alone, and a lone verdict is dropped when their kit group is decided itself.
    in_multi = members.filter(
        ~pl.col("cluster_id").cast(pl.String).str.starts_with(KIT_PREFIX)
    ).select("account_id")
    lone = (
        account_hits.rename({"entity_id": "account_id"})
        .join(in_multi, on="account_id", how="anti")
        .group_by("account_id").agg(pl.col("rule_id").sort())
        .join(acct.select("account_id", "anomaly_score"), on="account_id", how="left")
        .sort("account_id")
    )
    for account_id, rule_ids, anomaly in lone.iter_rows():
        units.append(_Unit(
            key=f"account:{account_id}",
            members=(account_id,),
            rules=tuple(rule_ids),
            anomaly=float(anomaly or 0.0),
            single=True,
        ))
    return units


def assemble_campaigns(
    accounts: pl.DataFrame,
    membership: pl.DataFrame,
    cluster_rows: pl.DataFrame,
    account_hits: pl.DataFrame,
    cluster_hits: pl.DataFrame,
    rules: Sequence[DetectionRule],
    *,
    verdicts: Verdicts | None = None,
    account_orgs: Mapping[str, str] | None = None,
    first_seen_rank: Mapping[str, int] | None = None,
    existing: Mapping[str, frozenset[str]] | None = None,
    reserved_ids: frozenset[str] = frozenset(),
    params: CampaignParams | None = None,
    previously_alerted: frozenset[str] = frozenset(),
    confirmed_scores: Sequence[float] = (),
) -> list[CampaignDraft]:
    """Decide the campaigns of this scan and give each a stable id.

    `accounts` holds `account_id`, `anomaly_score` and (optionally) `requests` and the account
    features; `first_seen_rank` orders accounts by first activity (for the core members that
    name a new campaign); `existing` maps known campaign ids to their members.

    A campaign alerts when its score reaches the alert threshold, calibrated down to the lowest
    score an analyst confirmed (`confirmed_scores`, plus this scan's scores of confirmed
    campaigns and of units holding confirmed accounts); a campaign in `previously_alerted`
    stays alerted within `alert_hysteresis` below it; a dismissed one never alerts.
    """
    verdicts = verdicts or Verdicts()
    params = params or CampaignParams()
    by_id = {r.id: r for r in rules}
    orgs = account_orgs or {}
    excluded = set(verdicts.allowlisted_accounts) | {
        a for a, org in orgs.items() if org in verdicts.allowlisted_orgs
    }
    rank = first_seen_rank or {}
    decided: list[tuple[_Unit, tuple[str, ...], list[DetectionRule]]] = []
    for unit in _units(accounts, membership, cluster_rows, account_hits, cluster_hits, params):
        fired = [by_id[r] for r in unit.rules if r in by_id]
        fired_families = {r.signal for r in fired}
        # A unit carrying a decided campaign's exclusive content (`affiliates`) is coordinated
        # with it, whatever its size: that link is corroborated by the campaign's own evidence.
        linked = any(params.link_tag in r.tags for r in fired)
        coordinated = linked or (
            not unit.single and not unit.kit
            and len(unit.members) >= params.min_coordinated_members
            and not fired_families.isdisjoint(params.coordination_families)
        )
        needed = params.min_signals if coordinated else params.min_single_signals
        if len(fired_families) < needed:
            continue
        kept = tuple(m for m in unit.members if m not in excluded)
        if not kept:
            continue
        decided.append((unit, kept, fired))
    in_decided_kits = {m for unit, kept, _ in decided if unit.kit for m in kept}
    decided = [d for d in decided if not (d[0].single and d[0].members[0] in in_decided_kits)]

    candidates = [
        Candidate(
            key=unit.key,
            members=frozenset(kept),
            core=tuple(sorted(kept, key=lambda a: (rank.get(a, 1 << 62), a))[: params.core_members]),
        )
        for unit, kept, _ in decided
    ]
    ids = assign_ids(candidates, existing or {}, match_jaccard=params.match_jaccard, reserved=reserved_ids)
    scores = {
        unit.key: round(
            params.anomaly_weight * unit.anomaly
            + (1 - params.anomaly_weight) * evidence_strength(fired, params.level_weights),
            4,
        )
        for unit, _, fired in decided
    }
    confirmed_now = [
        scores[unit.key] for unit, kept, _ in decided
        if ids[unit.key] in verdicts.confirmed_campaigns
        or not verdicts.confirmed_accounts.isdisjoint(kept)
    ]
    threshold = calibrated_threshold(
        params.alert_threshold, params.min_alert_threshold, [*confirmed_scores, *confirmed_now]
    )
    drafts: list[CampaignDraft] = []
    for unit, kept, fired in decided:
        families = tuple(sorted({r.signal for r in fired}))
        score = scores[unit.key]
        campaign_id = ids[unit.key]
        status = verdicts.campaign_status(campaign_id)
        alerted = status != "dismissed" and (
            status == "confirmed"
            or score >= threshold
            or (campaign_id in previously_alerted and score >= threshold - params.alert_hysteresis)
        )
        tags = sorted({ATLAS_TECHNIQUE, *(t for r in fired for t in r.tags),
                       *(f"distillguard.signal.{f}" for f in families)})
        drafts.append(CampaignDraft(
            campaign_id=campaign_id,
            alert_id=alert_id_for(campaign_id),
            unit=unit.key,
            members=kept,
            families=families,
            rules=tuple(sorted(r.id for r in fired)),
            score=score,
            anomaly_score=round(unit.anomaly, 4),
            severity=severity_for(fired, len(families), score),
            alerted=alerted,
            status=status,
            tags=tuple(tags),
            signals={"alert_threshold": threshold},
        ))
    return sorted(drafts, key=lambda d: (-d.score, d.campaign_id))
