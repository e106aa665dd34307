"""Campaign-level figures: how each true campaign was caught, and how clean each alert is.

Definitions (also in the README section):
- An alert is a row of `campaigns` with `alerted = true`; its accounts are its rows in
  `campaign_accounts` (plus accounts whose `account_scores.campaign_id` names it).
- A true campaign is *alerted* when at least one of its accounts is an account of an alert.
  The alerts *covering* it are all alerts containing at least one of its accounts, and its
  *fragmentation* is their number (1 is ideal; 3 means an analyst sees it as three cases).
- An alert's *majority label* is the most common true label among its accounts (accounts
  absent from the truth count as `benign`); its *purity* is that label's share.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from detector.evaluate.metrics import NAN, ratio
from detector.evaluate.truth import BENIGN


@dataclass(frozen=True)
class AlertCoverage:
    """One alert covering a true campaign, and how many of the campaign's accounts it holds."""

    campaign_id: str
    alert_id: str
    accounts: int


@dataclass(frozen=True)
class CampaignOutcome:
    """How the scan did on one true campaign."""

    label: str
    kind: str
    accounts: int
    flagged_accounts: int
    recall: float
    requests: int
    flagged_requests: int
    request_weighted_recall: float
    alerted: bool
    fragmentation: int
    alerts: tuple[AlertCoverage, ...]


@dataclass(frozen=True)
class AlertOutcome:
    """How clean one alert is against the truth."""

    campaign_id: str
    alert_id: str
    accounts: int
    majority_label: str
    majority_accounts: int
    purity: float
    benign_accounts: int


@dataclass(frozen=True)
class AlertSummary:
    """Purity and fragmentation over all alerts and all true campaigns."""

    alerts: int
    alerts_majority_benign: int
    purity_mean: float
    purity_min: float
    campaigns: int
    campaigns_alerted: int
    fragmentation_mean: float
    fragmentation_max: int


def labelled_members(alert_members: pl.DataFrame, universe: pl.DataFrame) -> pl.DataFrame:
    """Alert membership with each account's true label (`benign` when not in the truth)."""
    return alert_members.join(
        universe.select("account_id", "label"), on="account_id", how="left"
    ).with_columns(pl.col("label").fill_null(BENIGN))


def campaign_outcomes(
    universe: pl.DataFrame, alerts: pl.DataFrame, members: pl.DataFrame
) -> tuple[CampaignOutcome, ...]:
    """Per true campaign: accounts, recall (plain and request-weighted), alerts covering it.

    `universe` has one row per account with `label`, `kind`, `is_attack`, `flagged` (the
    scan's decision) and `requests`; `members` comes from `labelled_members`.
    """
    per_campaign = (
        universe.filter(pl.col("is_attack"))
        .group_by("label")
        .agg(
            kind=pl.col("kind").mode().sort().first(),
            accounts=pl.len(),
            flagged_accounts=pl.col("flagged").sum(),
            requests=pl.col("requests").sum(),
            flagged_requests=pl.col("requests").filter(pl.col("flagged")).sum(),
        )
        .sort("label")
    )
    coverage = (
        members.filter(pl.col("label") != BENIGN)
        .group_by("label", "campaign_id")
        .agg(accounts=pl.len())
        .join(alerts.select("campaign_id", "alert_id"), on="campaign_id", how="left")
        .sort(["label", "accounts", "campaign_id"], descending=[False, True, False])
    )
    covering: dict[str, list[AlertCoverage]] = {}
    for row in coverage.iter_rows(named=True):
        covering.setdefault(row["label"], []).append(
            AlertCoverage(row["campaign_id"], row["alert_id"] or "", int(row["accounts"]))
        )
    outcomes = []
    for row in per_campaign.iter_rows(named=True):
        alerts_of = tuple(covering.get(row["label"], ()))
        outcomes.append(
            CampaignOutcome(
                label=row["label"],
                kind=row["kind"],
                accounts=int(row["accounts"]),
                flagged_accounts=int(row["flagged_accounts"]),
                recall=ratio(int(row["flagged_accounts"]), int(row["accounts"])),
                requests=int(row["requests"]),
                flagged_requests=int(row["flagged_requests"]),
                request_weighted_recall=ratio(int(row["flagged_requests"]), int(row["requests"])),
                alerted=bool(alerts_of),
                fragmentation=len(alerts_of),
                alerts=alerts_of,
            )
        )
    return tuple(outcomes)


def alert_outcomes(alerts: pl.DataFrame, members: pl.DataFrame) -> tuple[AlertOutcome, ...]:
    """Per alert: size, majority true label and purity (an alert with no accounts is skipped)."""
    label_counts = members.group_by("campaign_id", "label").agg(n=pl.len())
    per_alert = (
        label_counts.sort(["campaign_id", "n", "label"], descending=[False, True, False])
        .group_by("campaign_id", maintain_order=True)
        .agg(
            accounts=pl.col("n").sum(),
            majority_label=pl.col("label").first(),
            majority_accounts=pl.col("n").first(),
            benign_accounts=pl.col("n").filter(pl.col("label") == BENIGN).sum(),
        )
        .join(alerts.select("campaign_id", "alert_id"), on="campaign_id", how="inner")
        .sort("campaign_id")
    )
    return tuple(
        AlertOutcome(
            campaign_id=row["campaign_id"],
            alert_id=row["alert_id"],
            accounts=int(row["accounts"]),
            majority_label=row["majority_label"],
            majority_accounts=int(row["majority_accounts"]),
            purity=ratio(int(row["majority_accounts"]), int(row["accounts"])),
            benign_accounts=int(row["benign_accounts"]),
        )
        for row in per_alert.iter_rows(named=True)
    )


def alert_summary(
    alerts: tuple[AlertOutcome, ...], campaigns: tuple[CampaignOutcome, ...]
) -> AlertSummary:
    """Mean and minimum purity over alerts; mean and maximum fragmentation over alerted campaigns."""
    purities = [alert.purity for alert in alerts]
    fragments = [campaign.fragmentation for campaign in campaigns if campaign.alerted]
    return AlertSummary(
        alerts=len(alerts),
        alerts_majority_benign=sum(alert.majority_label == BENIGN for alert in alerts),
        purity_mean=sum(purities) / len(purities) if purities else NAN,
        purity_min=min(purities) if purities else NAN,
        campaigns=len(campaigns),
        campaigns_alerted=len(fragments),
        fragmentation_mean=sum(fragments) / len(fragments) if fragments else NAN,
        fragmentation_max=max(fragments, default=0),
    )
