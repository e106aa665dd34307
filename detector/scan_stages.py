"""The stages of `scan` after features and graph: scoring, rules and campaign assembly.

Each stage takes the `ScanContext`, reads the store and the frames earlier stages left in the
context, and returns counts for the run log. Nothing here writes the persistent tables: the
scan publishes everything in one transaction at the end (`detector.scan`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from detector.campaigns import (
    CampaignDraft,
    CampaignParams,
    KnownCampaigns,
    account_frame,
    account_scores,
    assemble_campaigns,
    cluster_frame,
    cluster_membership,
    explain,
    known_campaigns,
)
from detector.campaigns.affiliates import add_affiliates, split_missing
from detector.campaigns.evidence import with_campaign_links, with_signals
from detector.campaigns.kits import add_kit_groups, kit_values
from detector.campaigns.lifecycle import carry_closed, member_activity
from detector.campaigns.membership import MemberSupport, member_support, supported
from detector.campaigns.profile import query_frame, table_exists
from detector.campaigns.value_sums import totals_match_day_rows
from detector.errors import DistillguardError
from detector.rules import DetectionRule, missing_features, rule_hits
from detector.scoring import Verdicts, load_verdicts, score_entities

GRAPH_LOOKBACK_DAYS = 90
"""The graph's default look-back window in UTC days (`detector.graph.GraphParams.lookback_days`)."""

SCAN_MEMORY_LIMIT = "4GB"
"""DuckDB's memory cap during a scan; it spills to its temp directory beyond it. At 10 M
requests the scan peaks at 5.5 GB of RSS with this cap and 7.3 GB without."""


@dataclass(frozen=True)
class ScanOptions:
    """What to scan. `since`/`until` bound the feature recomputation (a backfill); models,
    rules and campaigns always consider every account in the store. The graph reads the last
    `graph_lookback_days` days of requests (None: all); it reuses its stored daily activity
    sketches unless `full_graph` or a backfill asks it to redo them."""

    since: datetime | None = None
    until: datetime | None = None
    rules_dir: Path | None = None
    campaign_params: CampaignParams = field(default_factory=CampaignParams)
    member_support: MemberSupport | None = field(default_factory=MemberSupport)  # None: no pruning
    random_state: int = 0
    progress: bool = False
    review_tables: bool = True      # rebuild the dashboard's precomputed tables after publishing
    memory_limit: str = SCAN_MEMORY_LIMIT
    graph_lookback_days: int | None = GRAPH_LOOKBACK_DAYS
    full_graph: bool = False


@dataclass(frozen=True)
class StoreInputs:
    """What the campaigns stage reads from the store besides the frames; the scoring stage
    reads it on a second connection while the models run on this thread."""

    verdicts: Verdicts
    known: KnownCampaigns
    account_orgs: dict[str, str]       # filled only when organisations are allowlisted
    totals_match: bool                 # running attribute totals equal the day rows
    request_accounts: pl.DataFrame     # `_request_accounts`
    data_end: datetime | None          # the newest request time
    kit_values: pl.DataFrame           # `detector.campaigns.kits.kit_values` (default parameters)


@dataclass
class ScanContext:
    """State passed from stage to stage within one scan."""

    con: duckdb.DuckDBPyConnection
    options: ScanOptions
    rules: tuple[DetectionRule, ...]
    since: datetime | None          # first timestamp whose features must be recomputed
    until: datetime | None
    new_requests: int
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    drafts: list[CampaignDraft] = field(default_factory=list)
    known: KnownCampaigns | None = None
    closed: frozenset[str] = frozenset()
    totals_match: bool | None = None  # running attribute totals equal the day rows (None: unchecked)
    inputs: StoreInputs | None = None  # read ahead by the scoring stage (None: read when needed)


Stage = tuple[str, Callable[[ScanContext], dict[str, Any]]]


def features_stage(ctx: ScanContext) -> dict[str, Any]:
    """Recompute request and account features for the new data (and its look-back)."""
    if ctx.new_requests == 0 and ctx.options.since is None:
        return {"skipped": "no new requests"}
    try:
        from detector.features.pipeline import compute_features
    except ImportError as exc:
        raise DistillguardError(f"features stage unavailable: {exc}") from exc
    result = compute_features(ctx.con, since=ctx.since, until=ctx.until, progress=ctx.options.progress)
    return _as_stats(result)


def graph_stage(ctx: ScanContext) -> dict[str, Any]:
    """Rebuild the account graph and its clusters over the look-back window; a backfill
    (`since`) or `full_graph` also redoes the stored daily activity sketches."""
    options = ctx.options
    if ctx.new_requests == 0 and options.since is None and not options.full_graph:
        return {"skipped": "no new requests"}
    try:
        from detector.graph import GraphParams, build_graph
    except ImportError as exc:
        raise DistillguardError(f"graph stage unavailable: {exc}") from exc
    params = GraphParams(lookback_days=options.graph_lookback_days)
    full = options.full_graph or options.since is not None
    return _as_stats(build_graph(ctx.con, params=params, full=full))


def scoring_stage(ctx: ScanContext) -> dict[str, Any]:
    """Anomaly ensemble over account features and over cluster features.

    The account models run on this thread (numpy and numba, mostly holding the GIL) while a
    second connection reads the cluster frames and the campaigns stage's store inputs (DuckDB
    releases the GIL), so both cores work."""
    accounts = account_frame(ctx.con)
    seed = ctx.options.random_state
    _import_side_modules()  # before the worker starts: no two threads import at once
    with side_connection(ctx.con) as side, ThreadPoolExecutor(1, thread_name_prefix="dg-scan") as pool:
        graph_frames = pool.submit(_graph_frames, side)
        inputs = pool.submit(store_inputs, side)
        account_scored = score_entities(accounts, id_column="account_id", random_state=seed)
        all_clusters, membership = graph_frames.result()
        ctx.inputs = inputs.result()
    # Only multi-account clusters become cluster campaigns; singletons are judged as accounts.
    clusters = all_clusters.filter(pl.col("members") >= ctx.options.campaign_params.min_cluster_members)
    cluster_scored = score_entities(
        clusters, id_column="cluster_id", random_state=seed, exclude=("members", "size")
    )
    ctx.frames["accounts"] = accounts.join(
        account_scored.select("account_id", "anomaly_score"), on="account_id", how="left"
    ) if accounts.height else accounts.with_columns(pl.lit(0.0).alias("anomaly_score"))
    ctx.frames["account_model"] = account_scored
    ctx.frames["clusters"] = clusters.join(
        cluster_scored.select("cluster_id", "anomaly_score"), on="cluster_id", how="left"
    ) if clusters.height else clusters.with_columns(pl.lit(0.0).alias("anomaly_score"))
    ctx.frames["membership"] = membership
    return {"accounts": accounts.height, "clusters": clusters.height}


@contextmanager
def side_connection(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A second connection to the store for another thread, in the same time zone (a
    session setting that DuckDB does not copy to cursors)."""
    zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    side = con.cursor()
    try:
        side.execute("SET TimeZone = ?", [zone])
        yield side
    finally:
        side.close()


def _import_side_modules() -> None:
    """Import what `store_inputs` imports lazily, on the calling thread."""
    import detector.features.totals  # noqa: F401  (the per-kind totals check)


def _graph_frames(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every cluster's rule view and the cluster membership, as the graph stage left them."""
    return cluster_frame(con), cluster_membership(con)


def store_inputs(con: duckdb.DuckDBPyConnection) -> StoreInputs:
    """Read the campaigns stage's store inputs (nothing the earlier stages of a scan change)."""
    verdicts = load_verdicts(con)
    end = query_frame(con, 'SELECT max("timestamp") AS t FROM requests').get_column("t")
    totals_match = totals_match_day_rows(con)
    return StoreInputs(
        verdicts=verdicts,
        known=known_campaigns(con),
        account_orgs=_account_orgs(con) if verdicts.allowlisted_orgs else {},
        totals_match=totals_match,
        request_accounts=_request_accounts(con),
        data_end=end[0] if end.len() else None,
        kit_values=kit_values(con, from_totals=totals_match),
    )


def rules_stage(ctx: ScanContext) -> dict[str, Any]:
    """Evaluate every detection rule over the account and cluster frames."""
    accounts, clusters = ctx.frames["accounts"], ctx.frames["clusters"]
    account_rules = [r for r in ctx.rules if r.scope == "account"]
    cluster_rules = [r for r in ctx.rules if r.scope == "cluster"]
    ctx.frames["account_hits"] = rule_hits(accounts, account_rules, id_column="account_id")
    ctx.frames["cluster_hits"] = rule_hits(clusters, cluster_rules, id_column="cluster_id")
    # Features the campaigns stage adds are not missing: the rules reading them run there.
    missing, later = split_missing({
        **missing_features(account_rules, accounts.columns),
        **missing_features(cluster_rules, clusters.columns),
    })
    return {
        "rules": len(ctx.rules),
        "account_hits": ctx.frames["account_hits"].height,
        "cluster_hits": ctx.frames["cluster_hits"].height,
        "rules_missing_features": missing,
        "rules_evaluated_in_campaigns_stage": later,
    }


def campaigns_stage(ctx: ScanContext) -> dict[str, Any]:
    """Assemble campaigns, attach their evidence, carry closed ones, and score every account."""
    con = ctx.con
    inputs = ctx.inputs or store_inputs(con)
    verdicts, known, orgs = inputs.verdicts, inputs.known, inputs.account_orgs
    ctx.known = known
    # Whether kits, links and member support may read the running totals: checked once per scan.
    ctx.totals_match = inputs.totals_match
    kits = add_kit_groups(
        con, ctx.frames, ctx.rules, min_cluster_members=ctx.options.campaign_params.min_cluster_members,
        from_totals=ctx.totals_match, values=inputs.kit_values,
    )
    affiliates = add_affiliates(
        con, ctx.frames, ctx.rules, params=ctx.options.campaign_params, from_totals=ctx.totals_match
    )
    accounts = ctx.frames["accounts"]
    membership, peripheral = _supported_membership(ctx)
    request_accounts = inputs.request_accounts
    drafts = assemble_campaigns(
        accounts,
        membership,
        ctx.frames["clusters"],
        ctx.frames["account_hits"],
        ctx.frames["cluster_hits"],
        ctx.rules,
        verdicts=verdicts,
        account_orgs=orgs,
        first_seen_rank=_first_seen_rank(request_accounts),
        existing=known.members,
        reserved_ids=known.retained(set()),
        params=ctx.options.campaign_params,
        previously_alerted=frozenset(c for c, a in known.alerted.items() if a),
        confirmed_scores=[
            known.score[c] for c in verdicts.confirmed_campaigns if c in known.score
        ],
    )
    drafts = [
        with_signals(d, {
            **explain(d, accounts, ctx.frames["clusters"], ctx.rules),
            "peripheral_members_dropped": peripheral.get(d.unit, 0),
        })
        for d in drafts
    ]
    drafts = with_campaign_links(drafts, ctx.frames, ctx.options.campaign_params)
    excluded = frozenset(verdicts.allowlisted_accounts) | frozenset(
        a for a, org in orgs.items() if org in verdicts.allowlisted_orgs
    )
    # carry_closed looks up the activity of the known campaigns' members only.
    known_members = sorted({a for members in known.members.values() for a in members})
    carried = carry_closed(
        known, drafts, verdicts, excluded, data_end=inputs.data_end,
        close_after=timedelta(hours=ctx.options.campaign_params.close_after_hours),
        activity=member_activity(
            accounts.filter(pl.col("account_id").cast(pl.String).is_in(known_members))
        ),
    )
    ctx.closed = frozenset(d.campaign_id for d in carried)
    drafts = sorted([*drafts, *carried], key=lambda d: (-d.score, d.campaign_id))
    ctx.drafts = drafts
    seen = _accounts_seen(request_accounts, accounts)
    ctx.frames["scores"] = account_scores(
        seen, ctx.frames["account_model"], ctx.frames["account_hits"], ctx.rules, drafts,
        ctx.options.campaign_params,
    )
    return {
        "campaigns": len(drafts),
        "alerted": sum(d.alerted for d in drafts),
        "closed": len(carried),
        "peripheral_members_dropped": sum(peripheral.values()),
        **kits,
        **affiliates,
        "accounts_scored": ctx.frames["scores"].height,
    }


def _supported_membership(ctx: ScanContext) -> tuple[pl.DataFrame, dict[str, int]]:
    """Cluster membership without the members of suspicious clusters that do not carry the
    campaign (`detector.campaigns.membership`), and per unit key how many were dropped.

    Dropped members leave the cluster and are judged on their own evidence as lone accounts.
    """
    membership = ctx.frames["membership"]
    support = ctx.options.member_support
    suspicious = ctx.frames["cluster_hits"].get_column("entity_id").unique().to_list()
    if support is None or not suspicious or membership.is_empty():
        return membership, {}
    if not (table_exists(ctx.con, "account_day_attributes") or table_exists(ctx.con, "account_edges")):
        return membership, {}  # nothing to judge membership by: trust the graph stage
    candidates = membership.filter(pl.col("cluster_id").is_in(suspicious))
    groups = candidates.group_by("cluster_id").agg(pl.col("account_id")).sort("cluster_id")
    units = [(f"cluster:{cid}", members) for cid, members in groups.iter_rows()]
    frame = member_support(ctx.con, units, support, from_totals=ctx.totals_match)
    kept = supported(frame, {u: len(m) for u, m in units}, support)
    dropped = candidates.with_columns(
        pl.concat_str(pl.lit("cluster:"), pl.col("cluster_id")).alias("unit")
    ).join(kept.select("unit", "account_id"), on=["unit", "account_id"], how="anti")
    counts = dict(dropped.group_by("unit").len().iter_rows())
    return membership.join(dropped.select("account_id"), on="account_id", how="anti"), {
        str(k): int(v) for k, v in counts.items()
    }


def _as_stats(result: object) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items()}
    if hasattr(result, "__dataclass_fields__"):
        return {name: getattr(result, name) for name in result.__dataclass_fields__}
    return {"result": str(result)}


def _account_orgs(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        """
        SELECT account_id, any_value(org_id) FROM (
            SELECT account_id, org_id FROM accounts WHERE org_id IS NOT NULL
            UNION ALL
            SELECT account_id, org_id FROM requests WHERE org_id IS NOT NULL
        ) GROUP BY account_id
        """
    ).fetchall()
    return {str(a): str(o) for a, o in rows}


def _request_accounts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every account with requests and its first request time: one pass over `requests` for
    both the naming order and the accounts to score."""
    return query_frame(
        con,
        'SELECT CAST(account_id AS VARCHAR) AS account_id, min("timestamp") AS first_request'
        " FROM requests GROUP BY account_id",
    )


def _first_seen_rank(request_accounts: pl.DataFrame) -> dict[str, int]:
    """Accounts ordered by first request (then id): the earliest members name a campaign."""
    ordered = request_accounts.sort(["first_request", "account_id"], nulls_last=True)
    return {str(a): i for i, a in enumerate(ordered.get_column("account_id").to_list())}


def _accounts_seen(request_accounts: pl.DataFrame, accounts: pl.DataFrame) -> pl.Series:
    ids = pl.concat([
        request_accounts.get_column("account_id").cast(pl.String),
        accounts.get_column("account_id").cast(pl.String),
    ])
    return ids.unique().sort()
