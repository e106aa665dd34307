"""The feature frames rules and models read: accounts as stored, clusters as aggregates.

Cluster rows are computed here from `account_features`, `accounts` and `clusters` (request-
weighted means of the behaviour shares, payment reuse, organisation spread, sign-up span) and
joined with the graph stage's `cluster_features`, so cluster rules read one frame.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import polars as pl

# Account shares averaged over a cluster, weighted by each member's requests.
WEIGHTED_SHARES: tuple[str, ...] = (
    "cot_share", "cot_intensity", "high_value_share", "top_template_share",
    "shared_rare_template_share", "hosting_share", "model_pivot_share", "capability_divergence",
    "capability_entropy", "hour_entropy", "interarrival_cv", "template_entropy",
)


def one_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> tuple[Any, ...] | None:
    """The first row of `sql`, reading the result to its end (DuckDB refuses further
    relational queries on a connection with an unfinished result)."""
    rows = con.execute(sql, params or []).fetchall()
    return tuple(rows[0]) if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = one_row(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(row and row[0])


def table_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        " ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return [str(r[0]) for r in rows]


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | dict[str, object] | None = None
) -> pl.DataFrame:
    """Run `sql` and return its result as a polars frame (through Arrow)."""
    table = con.sql(sql, params=params or None).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def with_derived_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Scale-free forms of stored features that rules compare with fixed thresholds.

    `hour_flatness`: hour-of-day entropy over its maximum ln 24 (1 = flat round the clock, the
    mark of machines). `prefix_churn`: distinct network prefixes per request (near 1 when
    nearly every request arrives from a new /24, as through a rotating residential proxy).
    """
    derived = []
    if "hour_entropy" in frame.columns:
        derived.append((pl.col("hour_entropy").cast(pl.Float64) / math.log(24)).alias("hour_flatness"))
    if {"distinct_prefixes", "requests"} <= set(frame.columns):
        derived.append(
            (pl.col("distinct_prefixes").cast(pl.Float64)
             / pl.col("requests").cast(pl.Float64).clip(lower_bound=1)).alias("prefix_churn")
        )
    return frame.with_columns(derived) if derived else frame


def account_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """`account_features` (one row per account) with the derived features; empty when the
    features stage has not run."""
    if not table_exists(con, "account_features"):
        return pl.DataFrame(schema={"account_id": pl.String})
    return with_derived_features(query_frame(con, "SELECT * FROM account_features ORDER BY account_id"))


def cluster_membership(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(account_id, cluster_id) from the graph stage, empty when it has not run."""
    schema = pl.Schema({"account_id": pl.String, "cluster_id": pl.String})
    if not table_exists(con, "clusters"):
        return pl.DataFrame(schema=schema)
    frame = query_frame(
        con,
        "SELECT CAST(account_id AS VARCHAR) AS account_id, CAST(cluster_id AS VARCHAR) AS cluster_id"
        " FROM clusters ORDER BY account_id",
    )
    return frame.cast(schema)


def cluster_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per cluster: member aggregates plus the graph stage's `cluster_features`."""
    if not (table_exists(con, "clusters") and table_exists(con, "account_features")):
        return pl.DataFrame(schema={"cluster_id": pl.String, "members": pl.Int64})
    frame = _member_aggregates(con, "clusters")
    if table_exists(con, "cluster_features"):
        graph = query_frame(con, "SELECT * FROM cluster_features")
        if "cluster_id" in graph.columns:
            extra = [c for c in graph.columns if c == "cluster_id" or c not in frame.columns]
            graph = graph.select(extra).with_columns(pl.col("cluster_id").cast(pl.String))
            frame = frame.join(graph, on="cluster_id", how="left")
    return frame


GROUP_MEMBERS_VIEW = "campaign_group_members_v"


def group_frame(con: duckdb.DuckDBPyConnection, membership: pl.DataFrame) -> pl.DataFrame:
    """Member aggregates (as `cluster_frame` computes them) for groups not made by the graph:
    `membership` holds (account_id, cluster_id)."""
    if membership.is_empty() or not table_exists(con, "account_features"):
        return pl.DataFrame(schema={"cluster_id": pl.String, "members": pl.Int64})
    con.register(GROUP_MEMBERS_VIEW, membership.select("account_id", "cluster_id").to_arrow())
    try:
        return _member_aggregates(con, GROUP_MEMBERS_VIEW)
    finally:
        con.unregister(GROUP_MEMBERS_VIEW)


def _member_aggregates(con: duckdb.DuckDBPyConnection, members: str) -> pl.DataFrame:
    """Per group of `members` (a table or view of account_id, cluster_id; a code constant):
    request-weighted behaviour shares, medians, payment reuse, organisation spread."""
    feature_cols = set(table_columns(con, "account_features"))
    weight = "greatest(coalesce(f.requests, 0), 1)" if "requests" in feature_cols else "1"
    # Column names come from the fixed WEIGHTED_SHARES constant, never from user input.
    weighted = ",\n".join(
        f"sum({weight} * f.{name}) FILTER (WHERE f.{name} IS NOT NULL)"
        f" / nullif(sum({weight}) FILTER (WHERE f.{name} IS NOT NULL), 0) AS {name}"
        for name in WEIGHTED_SHARES if name in feature_cols
    )
    volume = [
        f"CAST(sum(f.{n}) AS DOUBLE) AS {n}"
        for n in ("requests", "input_tokens", "output_tokens", "distinct_prefixes") if n in feature_cols
    ]
    # Medians resist a few heavy accounts mixed into a cluster (a reseller beside a hydra).
    volume += [
        f"median(f.{n}) AS median_{n}"
        for n in ("high_value_share", "cot_share", "distinct_asns") if n in feature_cols
    ]
    if "active_days" in feature_cols:
        volume.append("CAST(max(f.active_days) AS DOUBLE) AS active_days")
    has_accounts = table_exists(con, "accounts")
    signup = has_accounts and {"signup_ip", "signup_network_class"} <= set(table_columns(con, "accounts"))
    signup_cols = (
        "any_value(signup_ip) AS signup_ip, any_value(signup_network_class) AS signup_class"
        if signup else "NULL::VARCHAR AS signup_ip, NULL::VARCHAR AS signup_class"
    )
    account_join = (
        "LEFT JOIN (SELECT account_id, any_value(payment_fingerprint) AS payment_fingerprint,"
        f" any_value(org_id) AS org_id, min(created_at) AS created_at, {signup_cols} FROM accounts"
        " GROUP BY account_id) a ON a.account_id = c.account_id"
        if has_accounts else
        "LEFT JOIN (SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS payment_fingerprint,"
        " NULL::VARCHAR AS org_id, NULL::TIMESTAMPTZ AS created_at, NULL::VARCHAR AS signup_ip,"
        " NULL::VARCHAR AS signup_class) a ON false"
    )
    select = ",\n".join(filter(None, [
        "CAST(c.cluster_id AS VARCHAR) AS cluster_id",
        "count(*) AS members",
        *volume,
        weighted,
        "count(a.payment_fingerprint) AS payment_accounts",
        "count(DISTINCT a.payment_fingerprint) AS distinct_payments",
        # 1 - distinct/holders: 0 when every member pays differently, near 1 when all share one.
        "CASE WHEN count(a.payment_fingerprint) >= 2 THEN 1.0 - count(DISTINCT"
        " a.payment_fingerprint) / count(a.payment_fingerprint) ELSE 0.0 END AS payment_reuse",
        "count(DISTINCT a.org_id) AS distinct_orgs",
        "count(a.org_id) / count(*) AS org_member_share",
        # distinct organisations per member that has one: 1 when each account declares its own
        "count(DISTINCT a.org_id) / nullif(count(a.org_id), 0) AS org_diversity",
        "epoch(max(a.created_at) - min(a.created_at)) / 3600.0 AS signup_span_hours",
        # sign-up addresses: reuse as for payments; the share from hosting, VPN or Tor networks
        "count(a.signup_ip) AS signup_accounts",
        "CASE WHEN count(a.signup_ip) >= 2 THEN 1.0 - count(DISTINCT a.signup_ip)"
        " / count(a.signup_ip) ELSE 0.0 END AS signup_ip_reuse",
        "count(*) FILTER (WHERE a.signup_class IN ('hosting', 'vpn', 'tor'))"
        " / nullif(count(a.signup_ip), 0) AS signup_hosting_share",
    ]))
    sql = f"""
        SELECT {select}
        FROM {members} c
        JOIN account_features f ON f.account_id = c.account_id
        {account_join}
        GROUP BY c.cluster_id
        ORDER BY c.cluster_id
    """
    return with_derived_features(query_frame(con, sql))
