"""Per-account suspicion scores for the account-level export (contract section 7)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from detector.campaigns.assemble import CampaignDraft
from detector.campaigns.params import CampaignParams
from detector.rules.schema import DetectionRule

SCORE_SCHEMA = {
    "account_id": pl.String,
    "score": pl.Float64,
    "campaign_id": pl.String,
    "flagged": pl.Boolean,
    "contributions": pl.String,
}


def _own_evidence(
    account_hits: pl.DataFrame, rules: Sequence[DetectionRule], params: CampaignParams
) -> pl.DataFrame:
    """Per account: noisy-OR of the strongest rule level per family, and the fired rule ids."""
    meta = pl.DataFrame(
        {
            "rule_id": [r.id for r in rules],
            "signal": [r.signal for r in rules],
            "weight": [params.level_weights[r.level] for r in rules],
        },
        schema={"rule_id": pl.String, "signal": pl.String, "weight": pl.Float64},
    )
    fired = account_hits.rename({"entity_id": "account_id"}).join(meta, on="rule_id")
    per_family = fired.group_by("account_id", "signal").agg(pl.col("weight").max())
    evidence = per_family.group_by("account_id").agg(
        (1.0 - (1.0 - pl.col("weight")).log().sum().exp()).alias("evidence")
    )
    ids = fired.group_by("account_id").agg(pl.col("rule_id").sort().str.join('", "').alias("rule_ids"))
    return evidence.join(ids, on="account_id", how="left")


def account_scores(
    seen: pl.Series,
    scored: pl.DataFrame,
    account_hits: pl.DataFrame,
    rules: Sequence[DetectionRule],
    drafts: Sequence[CampaignDraft],
    params: CampaignParams | None = None,
) -> pl.DataFrame:
    """One row per account in `seen`.

    Own score = anomaly_weight * ensemble score + the rest * own rule evidence; an account in
    an alerted campaign scores at least the campaign's score. `contributions` (JSON) holds the
    model's top features, the rules that fired on the account, and its campaign's families.
    """
    params = params or CampaignParams()
    ordered = sorted(drafts, key=lambda d: (not d.alerted, -d.score, d.campaign_id))
    membership = pl.DataFrame(
        {
            "account_id": [a for d in ordered for a in d.members],
            "campaign_id": [d.campaign_id for d in ordered for _ in d.members],
            "alerted": [d.alerted for d in ordered for _ in d.members],
            "campaign_score": [d.score for d in ordered for _ in d.members],
            "families": ['", "'.join(d.families) for d in ordered for _ in d.members],
        },
        schema={"account_id": pl.String, "campaign_id": pl.String, "alerted": pl.Boolean,
                "campaign_score": pl.Float64, "families": pl.String},
    ).unique("account_id", keep="first", maintain_order=True)
    model = scored.select(
        pl.col("account_id").cast(pl.String), "anomaly_score", pl.col("contributions").alias("model")
    )
    frame = (
        pl.DataFrame({"account_id": seen.cast(pl.String).unique().sort()})
        .join(model, on="account_id", how="left")
        .join(_own_evidence(account_hits, rules, params), on="account_id", how="left")
        .join(membership, on="account_id", how="left")
        .with_columns(
            pl.col("anomaly_score").fill_null(0.0),
            pl.col("evidence").fill_null(0.0),
            pl.col("model").fill_null("{}"),
            pl.col("alerted").fill_null(False).alias("flagged"),
        )
    )
    own = params.anomaly_weight * pl.col("anomaly_score") + (1 - params.anomaly_weight) * pl.col("evidence")
    score = pl.when(pl.col("flagged")).then(pl.max_horizontal(own, pl.col("campaign_score"))).otherwise(own)
    rules_json = pl.when(pl.col("rule_ids").is_null()).then(pl.lit("[]")).otherwise(
        pl.concat_str(pl.lit('["'), pl.col("rule_ids"), pl.lit('"]'))
    )
    families_json = pl.when(pl.col("families").is_null()).then(pl.lit("")).otherwise(
        pl.concat_str(pl.lit(', "campaign_families": ["'), pl.col("families"), pl.lit('"]'))
    )
    # Rule ids are UUIDs and families fixed words, so plain formatting yields valid JSON.
    contributions = pl.concat_str(
        pl.lit('{"anomaly_score": '), pl.col("anomaly_score").round(4).cast(pl.String),
        pl.lit(', "model": '), pl.col("model"),
        pl.lit(', "rules": '), rules_json, families_json, pl.lit("}"),
    )
    return frame.select(
        "account_id",
        score.clip(0.0, 1.0).round(4).alias("score"),
        "campaign_id",
        "flagged",
        contributions.alias("contributions"),
    ).cast(SCORE_SCHEMA)  # type: ignore[arg-type]
