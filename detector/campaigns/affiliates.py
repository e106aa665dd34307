"""Accounts outside a campaign that carry its exclusive content: fronts mixing its traffic in.

A reseller that passes a harvesting operation's traffic through its own account(s), mixed with
its ordinary customers' requests, looks as a whole like a legitimate router: diverse traffic
from datacenter addresses, round the clock. What gives it away is the part it carries for the
operation: it uses the operation's kit, system prompts and prompt templates that, in the whole
store, are sent almost only by the accounts of one campaign.

An *anchor* is a unit the cluster rules already judge a coordinated campaign (a graph cluster
of `min_coordinated_members` or more with `min_signals` families, one of them coordination; a
kit group with `min_single_signals` families). Its *exclusive* content values are the system
prompts and templates held by at least `min_member_holders` of its members and by at most
`max(outside_allowance, outside_ratio * member holders)` other accounts. An account's
`campaign_kit_share` is the largest share of its requests on one other anchor's exclusive
values (0 when none); a cluster's is the same share over its members' requests together. A
rule turns it into `template` evidence tagged `CampaignParams.link_tag`, which assembly counts
as coordination (the anchor passed its own multi-family bar). Which anchor an entity is linked
to is kept in the frame `LINKS_FRAME`, so the evidence can name the linked campaign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from detector.campaigns.kits import is_kit_unit
from detector.campaigns.params import CampaignParams
from detector.campaigns.profile import query_frame, table_exists
from detector.campaigns.value_sums import totals_match_day_rows, value_rows_sql
from detector.rules.evaluate import missing_features, rule_hits
from detector.rules.schema import DetectionRule

ANCHORS_VIEW = "campaign_anchor_members_v"
FEATURE = "campaign_kit_share"
CARRIED_REQUESTS = "campaign_kit_requests"
# Content kinds of `account_day_attributes` that make up an operation's kit. Network values
# are left out: proxy pools and cloud prefixes are rented by many unrelated customers.
LINK_KINDS: tuple[str, ...] = ("system_fp", "template")
LINK_FEATURES: tuple[str, ...] = (FEATURE, CARRIED_REQUESTS)
# Frames `add_affiliates` leaves in the scan's frames: each entity's strongest link
# (scope, entity_id, anchor, kind, share, requests) and the anchors' members.
LINKS_FRAME = "campaign_links"
ANCHORS_FRAME = "campaign_anchors"
LINKS_SCHEMA: dict[str, type[pl.DataType]] = {
    "scope": pl.String, "entity_id": pl.String, "anchor": pl.String, "kind": pl.String,
    FEATURE: pl.Float64, CARRIED_REQUESTS: pl.Float64,
}

# Features that only the campaigns stage adds to the frames, after the rules stage has run, by
# the step that adds them: kit groups (`detector.campaigns.kits`, on kit-group rows) and the
# content links of this module. Rules reading them are evaluated by that step, where they
# exist. (Kit rows also carry `template_overlap`, but graph clusters have it from the start.)
CAMPAIGN_STAGE_FEATURES: dict[str, str] = {
    "exclusive_content_share": "kit_groups",
    FEATURE: "campaign_links",
    CARRIED_REQUESTS: "campaign_links",
}


def split_missing(
    missing: Mapping[str, Iterable[str]], later: Mapping[str, str] = CAMPAIGN_STAGE_FEATURES,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split the rules stage's missing features (rule id -> features) into those no stage
    provides (still missing) and, per rule, the later steps that provide the rest."""
    absent: dict[str, list[str]] = {}
    deferred: dict[str, list[str]] = {}
    for rule_id, features in missing.items():
        names = sorted(features)
        steps = sorted({later[f] for f in names if f in later})
        if steps:
            deferred[rule_id] = steps
        unknown = [f for f in names if f not in later]
        if unknown:
            absent[rule_id] = unknown
    return absent, deferred


@dataclass(frozen=True)
class AffiliateParams:
    """Thresholds of exclusivity (see the module docstring)."""

    min_member_holders: int = 2
    outside_ratio: float = 0.1   # a value nine in ten of whose holders are members is theirs
    outside_allowance: int = 2   # ... and a small campaign's value may reach a couple of fronts


def anchor_units(
    membership: pl.DataFrame, cluster_hits: pl.DataFrame, rules: Sequence[DetectionRule],
    params: CampaignParams,
) -> pl.DataFrame:
    """(account_id, anchor) for the units the cluster rules alone make coordinated campaigns."""
    schema = {"account_id": pl.String, "anchor": pl.String}
    if membership.is_empty() or cluster_hits.is_empty():
        return pl.DataFrame(schema=schema)
    signal = {r.id: r.signal for r in rules}
    sizes = dict(membership.group_by("cluster_id").len("n").iter_rows())
    families: dict[str, set[str]] = {}
    for entity, rule_id in cluster_hits.select("entity_id", "rule_id").iter_rows():
        if rule_id in signal:
            families.setdefault(str(entity), set()).add(signal[rule_id])
    anchors = []
    for cluster_id, fired in families.items():
        size = int(sizes.get(cluster_id, 0))
        if is_kit_unit(cluster_id):
            ok = size >= params.min_cluster_members and len(fired) >= params.min_single_signals
        else:
            ok = (
                size >= params.min_coordinated_members
                and len(fired) >= params.min_signals
                and not fired.isdisjoint(params.coordination_families)
            )
        if ok:
            anchors.append(cluster_id)
    return (
        membership.filter(pl.col("cluster_id").is_in(anchors))
        .select(pl.col("account_id").cast(pl.String), pl.col("cluster_id").cast(pl.String).alias("anchor"))
    )


def _carried_sql(*, from_totals: bool) -> str:
    # Per-day rows or their running totals: the sums per account and value are the same.
    rows = value_rows_sql(LINK_KINDS, from_totals=from_totals)
    return f"""
        WITH d AS ({rows}),
        anchor_values AS (
            SELECT DISTINCT d.kind, d.value FROM d JOIN {ANCHORS_VIEW} m USING (account_id)
        ),
        a AS (
            SELECT d.account_id, d.kind, d.value, sum(d.requests) AS n
            FROM d JOIN anchor_values USING (kind, value)
            GROUP BY d.account_id, d.kind, d.value
        ),
        holders AS (SELECT kind, value, count(*) AS h FROM a GROUP BY kind, value),
        inside AS (
            SELECT m.anchor, a.kind, a.value, count(*) AS k
            FROM a JOIN {ANCHORS_VIEW} m USING (account_id)
            GROUP BY m.anchor, a.kind, a.value
        ),
        exclusive AS (
            SELECT i.anchor, i.kind, i.value FROM inside i JOIN holders h USING (kind, value)
            WHERE i.k >= $min_members AND h.h - i.k <= greatest($allowance, $ratio * i.k)
        )
        SELECT a.account_id, e.anchor, a.kind, CAST(sum(a.n) AS DOUBLE) AS carried
        FROM a JOIN exclusive e USING (kind, value)
        LEFT JOIN {ANCHORS_VIEW} own ON own.account_id = a.account_id AND own.anchor = e.anchor
        WHERE own.account_id IS NULL
        GROUP BY a.account_id, e.anchor, a.kind
    """


def carried_content(
    con: duckdb.DuckDBPyConnection,
    anchors: pl.DataFrame,
    params: AffiliateParams | None = None,
    *,
    from_totals: bool | None = None,
) -> pl.DataFrame:
    """(account_id, anchor, kind, carried): requests of each non-member on an anchor's
    exclusive values of one kind. `from_totals`: whether the running totals match the day
    rows (`value_sums`); None checks."""
    params = params or AffiliateParams()
    schema = {"account_id": pl.String, "anchor": pl.String, "kind": pl.String, "carried": pl.Float64}
    if anchors.is_empty() or not table_exists(con, "account_day_attributes"):
        return pl.DataFrame(schema=schema)
    if from_totals is None:
        from_totals = totals_match_day_rows(con)
    con.register(ANCHORS_VIEW, anchors.to_arrow())
    try:
        frame = query_frame(con, _carried_sql(from_totals=from_totals), {
            "min_members": params.min_member_holders, "allowance": params.outside_allowance,
            "ratio": params.outside_ratio,
        })
    finally:
        con.unregister(ANCHORS_VIEW)
    return frame.cast(schema) if frame.height else pl.DataFrame(schema=schema)  # type: ignore[arg-type]


def affiliation_features(
    carried: pl.DataFrame, accounts: pl.DataFrame, membership: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per account and per cluster of `membership`: `campaign_kit_share` and
    `campaign_kit_requests` (the largest over anchors and kinds), with the `anchor` and `kind`
    of that largest link."""
    requests = accounts.select(
        pl.col("account_id").cast(pl.String),
        pl.col("requests").cast(pl.Float64).fill_null(0.0).clip(lower_bound=1.0).alias("total"),
    )
    per_account = (
        carried.join(requests, on="account_id")
        .with_columns((pl.col("carried") / pl.col("total")).alias(FEATURE))
        .sort(FEATURE, "carried", descending=True)
        .group_by("account_id", maintain_order=True).first()
        .select("account_id", FEATURE, pl.col("carried").alias(CARRIED_REQUESTS), "anchor", "kind")
    )
    members = membership.select(pl.col("account_id").cast(pl.String), pl.col("cluster_id").cast(pl.String))
    cluster_totals = members.join(requests, on="account_id").group_by("cluster_id").agg(pl.col("total").sum())
    per_cluster = (
        carried.join(members, on="account_id")
        .filter(pl.col("anchor") != pl.col("cluster_id"))
        .group_by("cluster_id", "anchor", "kind").agg(pl.col("carried").sum())
        .join(cluster_totals, on="cluster_id")
        .with_columns((pl.col("carried") / pl.col("total")).alias(FEATURE))
        .sort(FEATURE, "carried", descending=True)
        .group_by("cluster_id", maintain_order=True).first()
        .select("cluster_id", FEATURE, pl.col("carried").alias(CARRIED_REQUESTS), "anchor", "kind")
    )
    return per_account, per_cluster


def link_frame(per_account: pl.DataFrame, per_cluster: pl.DataFrame) -> pl.DataFrame:
    """The strongest link of every linked account and cluster, in `LINKS_SCHEMA`."""
    columns = ["entity_id", "anchor", "kind", FEATURE, CARRIED_REQUESTS]
    parts = [
        frame.rename({id_column: "entity_id"}).select(columns)
        .with_columns(pl.lit(scope).alias("scope"))
        for scope, id_column, frame in (
            ("account", "account_id", per_account), ("cluster", "cluster_id", per_cluster),
        )
    ]
    return pl.concat(parts).filter(pl.col(FEATURE) > 0).select(list(LINKS_SCHEMA)).cast(LINKS_SCHEMA)  # type: ignore[arg-type]


def add_affiliates(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, pl.DataFrame],
    rules: Sequence[DetectionRule],
    *,
    params: CampaignParams | None = None,
    affiliate_params: AffiliateParams | None = None,
    from_totals: bool | None = None,
) -> dict[str, object]:
    """Add `campaign_kit_share` to the scan's `accounts` and `clusters` frames and append the
    hits of the rules that read it to `account_hits` and `cluster_hits` (after kit groups).

    Also leaves `frames[LINKS_FRAME]` (each linked entity's anchor) and `frames[ANCHORS_FRAME]`
    for the evidence. The statistics name the link rules that still lack a feature here
    (`link_rules_missing_features`): those cannot fire. `from_totals` as in `carried_content`.
    """
    params = params or CampaignParams()
    frames[LINKS_FRAME] = pl.DataFrame(schema=LINKS_SCHEMA)
    frames[ANCHORS_FRAME] = pl.DataFrame(schema={"account_id": pl.String, "anchor": pl.String})
    accounts, clusters = frames["accounts"], frames["clusters"]
    reading = {
        scope: [r for r in rules if r.scope == scope and not r.features().isdisjoint(LINK_FEATURES)]
        for scope in ("account", "cluster")
    }
    if accounts.is_empty() or "requests" not in accounts.columns:
        return {
            "anchors": 0, "affiliated_accounts": 0,
            "link_rules_missing_features": {
                **missing_features(reading["account"], accounts.columns),
                **missing_features(reading["cluster"], clusters.columns),
            },
        }
    anchors = anchor_units(frames["membership"], frames["cluster_hits"], rules, params)
    carried = carried_content(con, anchors, affiliate_params, from_totals=from_totals)
    per_account, per_cluster = affiliation_features(carried, accounts, frames["membership"])
    frames[LINKS_FRAME] = link_frame(per_account, per_cluster)
    frames[ANCHORS_FRAME] = anchors
    added = list(LINK_FEATURES)
    accounts = accounts.drop(added, strict=False).join(
        per_account.select("account_id", *added), on="account_id", how="left"
    )
    accounts = accounts.with_columns(pl.col(c).fill_null(0.0) for c in added)
    frames["accounts"] = accounts
    if "cluster_id" in clusters.columns:
        clusters = clusters.drop(added, strict=False).join(
            per_cluster.select("cluster_id", *added), on="cluster_id", how="left"
        )
        frames["clusters"] = clusters.with_columns(pl.col(c).fill_null(0.0) for c in added)
    missing: dict[str, list[str]] = {}
    for scope, key, frame_name, id_column in (
        ("account", "account_hits", "accounts", "account_id"),
        ("cluster", "cluster_hits", "clusters", "cluster_id"),
    ):
        missing.update(missing_features(reading[scope], frames[frame_name].columns))
        if reading[scope] and id_column in frames[frame_name].columns:
            hits = rule_hits(frames[frame_name], reading[scope], id_column=id_column)
            frames[key] = pl.concat([frames[key], hits]).unique(maintain_order=True)
    return {
        "anchors": anchors.get_column("anchor").n_unique() if anchors.height else 0,
        "affiliated_accounts": per_account.filter(pl.col(FEATURE) > 0).height,
        "link_rules_missing_features": missing,
    }
