"""Groups of accounts outside the graph's clusters that run one content kit.

The graph ties accounts through content only together with a second, independent link
(network, payment, sign-up), and weighs down content whose holders look like a random draw
of the population (a popular agent product's system prompt). A harvesting operation that
sends every request from a new network and registers accounts without shared metadata leaves
no such link, yet its accounts still run one *kit*: the same system prompts, prompt templates
and client software, used by few accounts besides them.

A kit value is a system prompt, template or user agent held by at least two accounts and by
fewer than half of the accounts in the store (what most accounts send is the population's
norm, not a kit). Accounts outside every multi-account cluster that share kit values of at
least `min_kinds` kinds form one group (connected components). A group becomes a candidate
unit with the cluster rules' view of it (`group_frame`) plus two kit features:

- `exclusive_content_share`: the request-weighted share of members' traffic on templates or
  system prompts held by at least two members and mostly by members;
- `template_overlap`: 1 - distinct templates of the group / sum of each member's distinct
  templates (near 1 when every member runs the same set).

Sharing a kit is not coordination by itself (two teams may buy the same product), so
assembly judges a kit group like a lone account: it needs `min_single_signals` families.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from detector.campaigns.membership import characteristic_values_ctes
from detector.campaigns.profile import group_frame, query_frame, table_exists
from detector.campaigns.value_sums import held_values_sql, population_sql, totals_match_day_rows
from detector.rules.evaluate import rule_hits
from detector.rules.schema import DetectionRule

KIT_PREFIX = "kit_"
KIT_CANDIDATES_VIEW = "campaign_kit_candidates_v"
KIT_MEMBERS_VIEW = "campaign_kit_members_v"
KIT_VALUES_VIEW = "campaign_kit_values_v"
# Attribute kinds of `account_day_attributes` that make up a content kit.
KIT_KINDS: tuple[str, ...] = ("system_fp", "template", "user_agent")


@dataclass(frozen=True)
class KitParams:
    """Thresholds of kit grouping (see the module docstring)."""

    min_kinds: int = 2          # a pair must share kit values of this many kinds
    max_population_share: float = 0.5  # a value held by this share of accounts is the norm
    max_holders: int = 400      # a value held by more accounts is a hub, as in the graph
    max_pairs: int = 2_000_000  # bounds the pair join: values admitted rarest first
    # Candidates must look more unusual than the typical account (the ensemble's scores are
    # spread over [0, 1]); it keeps the pair join to the accounts worth grouping.
    min_anomaly: float = 0.5
    min_members: int = 2
    max_members: int = 5_000


def _values_sql(*, from_totals: bool) -> str:
    return f"""
        WITH held AS ({held_values_sql(KIT_KINDS, from_totals=from_totals)}),
        population AS ({population_sql(from_totals=from_totals)}),
        holders AS (SELECT kind, value, count(*) AS h FROM held GROUP BY kind, value)
        SELECT kind, value FROM holders CROSS JOIN population p
        WHERE h >= 2 AND h < $share * p.n AND h <= $max_holders
    """


def _pairs_sql(*, from_totals: bool) -> str:
    return f"""
        WITH held AS ({held_values_sql(KIT_KINDS, from_totals=from_totals)}),
        candidate_held AS (
            SELECT held.* FROM held JOIN {KIT_CANDIDATES_VIEW} c USING (account_id)
            JOIN {KIT_VALUES_VIEW} v USING (kind, value)
        ),
        kit_values AS (
            SELECT kind, value, count(*) AS k FROM candidate_held
            GROUP BY kind, value HAVING count(*) >= 2
        ),
        admitted AS (  -- rarest values first, while the pairs they create stay in budget
            SELECT kind, value FROM (
                SELECT kind, value, sum(k * (k - 1) / 2) OVER (
                    ORDER BY k, kind, value ROWS UNBOUNDED PRECEDING) AS pairs
                FROM kit_values
            ) WHERE pairs <= $max_pairs
        ),
        kit AS (SELECT ch.* FROM candidate_held ch JOIN admitted USING (kind, value)),
        -- Only an account holding kit values of `min_kinds` kinds can share that many; the
        -- others are dropped before the pair join, and the accounts are numbered in id order
        -- so the pairs are grouped by integers (i < j exactly when id < id).
        multi AS (
            SELECT account_id, row_number() OVER (ORDER BY account_id) AS i
            FROM kit GROUP BY account_id HAVING count(DISTINCT kind) >= $min_kinds
        ),
        numbered AS (SELECT m.i, kit.kind, kit.value FROM kit JOIN multi m USING (account_id)),
        pairs AS (
            SELECT x.i AS i, y.i AS j
            FROM numbered x JOIN numbered y ON x.kind = y.kind AND x.value = y.value AND x.i < y.i
            GROUP BY x.i, y.i
            HAVING count(DISTINCT x.kind) >= $min_kinds
        )
        SELECT a.account_id AS account_a, b.account_id AS account_b
        FROM pairs JOIN multi a ON a.i = pairs.i JOIN multi b ON b.i = pairs.j
    """


def _kit_features_sql(*, from_totals: bool) -> str:
    ctes = characteristic_values_ctes(
        ("template", "system_fp"), KIT_MEMBERS_VIEW, "cluster_id", from_totals=from_totals
    )
    return ctes + f""",
        per_kind AS (
            SELECT m.cluster_id, a.kind, sum(a.n) AS total,
                   coalesce(sum(a.n) FILTER (WHERE e.value IS NOT NULL), 0) AS on_kit
            FROM {KIT_MEMBERS_VIEW} m
            JOIN a USING (account_id)
            LEFT JOIN characteristic e ON e.cluster_id = m.cluster_id AND e.kind = a.kind AND e.value = a.value
            GROUP BY m.cluster_id, a.kind
        ),
        overlap AS (
            SELECT m.cluster_id,
                   1.0 - count(DISTINCT a.value) / count(*) AS template_overlap
            FROM {KIT_MEMBERS_VIEW} m JOIN a USING (account_id)
            WHERE a.kind = 'template'
            GROUP BY m.cluster_id
        )
        SELECT p.cluster_id, max(p.on_kit / p.total) AS exclusive_content_share,
               any_value(o.template_overlap) AS template_overlap
        FROM per_kind p LEFT JOIN overlap o USING (cluster_id)
        GROUP BY p.cluster_id
    """


def _group_id(members: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:16]
    return f"{KIT_PREFIX}{digest}"


def kit_values(
    con: duckdb.DuckDBPyConnection, params: KitParams | None = None, *, from_totals: bool | None = None
) -> pl.DataFrame:
    """(kind, value) of every value that may belong to a kit: held by at least two accounts,
    by fewer than `max_population_share` of them and by at most `max_holders`. It does not
    depend on the candidates, so a scan reads it while the models score the accounts.
    `from_totals` as in `kit_groups`."""
    params = params or KitParams()
    if not table_exists(con, "account_day_attributes"):
        return pl.DataFrame(schema={"kind": pl.String, "value": pl.String})
    if from_totals is None:
        from_totals = totals_match_day_rows(con)
    return query_frame(con, _values_sql(from_totals=from_totals), {
        "share": params.max_population_share, "max_holders": params.max_holders,
    })


def kit_groups(
    con: duckdb.DuckDBPyConnection,
    candidates: Sequence[str],
    params: KitParams | None = None,
    *,
    from_totals: bool | None = None,
    values: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """(account_id, cluster_id) of the kit groups among `candidates` (see the module docstring).

    `from_totals`: whether the running totals match the day rows (`value_sums`); None checks.
    `values`: `kit_values` for the same parameters, when read ahead (None: read here)."""
    params = params or KitParams()
    schema = {"account_id": pl.String, "cluster_id": pl.String}
    if not candidates or not table_exists(con, "account_day_attributes"):
        return pl.DataFrame(schema=schema)
    if from_totals is None:
        from_totals = totals_match_day_rows(con)
    if values is None:
        values = kit_values(con, params, from_totals=from_totals)
    con.register(KIT_CANDIDATES_VIEW, pl.DataFrame({"account_id": list(candidates)}).to_arrow())
    con.register(KIT_VALUES_VIEW, values.select("kind", "value").to_arrow())
    try:
        pairs = query_frame(con, _pairs_sql(from_totals=from_totals), {
            "min_kinds": params.min_kinds, "max_pairs": params.max_pairs,
        })
    finally:
        con.unregister(KIT_CANDIDATES_VIEW)
        con.unregister(KIT_VALUES_VIEW)
    import networkx as nx  # slow to import; only scans that reach kit grouping need it

    graph = nx.Graph()
    graph.add_edges_from(pairs.select("account_a", "account_b").iter_rows())
    rows: list[tuple[str, str]] = []
    for component in nx.connected_components(graph):
        if params.min_members <= len(component) <= params.max_members:
            members = sorted(str(a) for a in component)
            group = _group_id(members)
            rows.extend((a, group) for a in members)
    return pl.DataFrame(rows, schema=schema, orient="row").sort("cluster_id", "account_id")


def kit_frame(
    con: duckdb.DuckDBPyConnection, membership: pl.DataFrame, *, from_totals: bool | None = None
) -> pl.DataFrame:
    """The cluster-rule view of kit groups: member aggregates plus the two kit features
    (`from_totals` as in `kit_groups`)."""
    frame = group_frame(con, membership)
    if frame.is_empty():
        return frame
    con.register(KIT_MEMBERS_VIEW, membership.select("account_id", "cluster_id").to_arrow())
    try:
        if from_totals is None:
            from_totals = totals_match_day_rows(con)
        kit = query_frame(con, _kit_features_sql(from_totals=from_totals))
    finally:
        con.unregister(KIT_MEMBERS_VIEW)
    return frame.join(kit.with_columns(pl.col("cluster_id").cast(pl.String)), on="cluster_id", how="left")


def add_kit_groups(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, pl.DataFrame],
    rules: Sequence[DetectionRule],
    *,
    min_cluster_members: int = 2,
    params: KitParams | None = None,
    from_totals: bool | None = None,
    values: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Append kit groups to the scan's `membership`, `clusters` and `cluster_hits` frames.

    Candidates are the accounts of `frames["accounts"]` outside every graph cluster of at
    least `min_cluster_members` accounts whose anomaly score reaches `params.min_anomaly`.
    Returns counts for the scan's stage statistics. `from_totals` and `values` as in
    `kit_groups`.
    """
    membership, accounts = frames["membership"], frames["accounts"]
    if accounts.is_empty() or "account_id" not in accounts.columns:
        return {"kit_groups": 0, "kit_accounts": 0}
    sizes = membership.group_by("cluster_id").len("members")
    clustered = membership.join(
        sizes.filter(pl.col("members") >= min_cluster_members).select("cluster_id"), on="cluster_id"
    ).get_column("account_id")
    params = params or KitParams()
    pool = accounts.filter(~pl.col("account_id").cast(pl.String).is_in(clustered.implode()))
    if "anomaly_score" in pool.columns:
        pool = pool.filter(pl.col("anomaly_score").fill_null(0.0) >= params.min_anomaly)
    candidates = pool.get_column("account_id").cast(pl.String)
    groups = kit_groups(con, candidates.to_list(), params, from_totals=from_totals, values=values)
    if groups.is_empty():
        return {"kit_groups": 0, "kit_accounts": 0}
    rows = kit_frame(con, groups, from_totals=from_totals)
    cluster_rules = [r for r in rules if r.scope == "cluster"]
    hits = rule_hits(rows, cluster_rules, id_column="cluster_id")
    grouped = groups.get_column("account_id")
    frames["membership"] = pl.concat([
        membership.filter(~pl.col("account_id").is_in(grouped.implode())), groups,
    ])
    frames["clusters"] = pl.concat([frames["clusters"], rows], how="diagonal_relaxed")
    frames["cluster_hits"] = pl.concat([frames["cluster_hits"], hits])
    return {"kit_groups": rows.height, "kit_accounts": groups.height}


def is_kit_unit(cluster_id: str) -> bool:
    """Whether a cluster id names a kit group rather than a graph cluster."""
    return cluster_id.startswith(KIT_PREFIX)
