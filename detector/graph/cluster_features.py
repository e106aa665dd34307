"""Per-cluster features: the evidence that later tells a campaign from a campus or a company.

A proxy-run campaign tends to show many payment methods and sign-up bursts over hosting IPs,
one template family and a narrow, high-value capability mix; a university shows one e-mail
domain, residential NAT IPs, many user agents and diverse templates and capabilities. Columns
whose source table is absent (`request_features`, `account_features`) are NULL. Ratios are
rounded to 9 decimals, and sums over several accounts are taken on integers (scaled), so that
parallel plans give byte-identical re-runs.
"""

from __future__ import annotations

import duckdb

from detector.graph.params import GraphParams
from detector.graph.sql import table_columns, table_exists

CLUSTER_FEATURES_DDL = """
CREATE TABLE IF NOT EXISTS cluster_features (
    cluster_id              VARCHAR NOT NULL,
    size                    BIGINT NOT NULL,
    internal_edges          BIGINT NOT NULL,
    density                 DOUBLE,     -- internal edges / possible pairs; NULL for singletons
    mean_edge_score         DOUBLE,
    synchrony               DOUBLE,     -- mean chance-corrected co-activity over internal edges
    synchronized_share      DOUBLE,     -- members with a synchronized partner inside
    accounts_with_payment   BIGINT NOT NULL,
    distinct_payment_methods BIGINT NOT NULL,
    payment_diversity       DOUBLE,     -- distinct payment methods / members with one
    distinct_email_domains  BIGINT NOT NULL,   -- non-public domains only
    distinct_ips            BIGINT NOT NULL,
    distinct_prefixes       BIGINT NOT NULL,
    distinct_hosting_asns   BIGINT NOT NULL,
    distinct_user_agents    BIGINT NOT NULL,
    distinct_system_prompts BIGINT NOT NULL,
    distinct_tiers          BIGINT NOT NULL,
    top_tier_share          DOUBLE,
    signup_span_hours       DOUBLE,
    signup_peak_hour_share  DOUBLE,     -- largest share of members created in one hour
    signup_peak_day_share   DOUBLE,
    hosting_share           DOUBLE,     -- requests from hosting, VPN or Tor networks
    requests                BIGINT NOT NULL,
    input_tokens            BIGINT,
    output_tokens           BIGINT,
    requests_per_account    DOUBLE,
    first_seen              TIMESTAMPTZ,
    last_seen               TIMESTAMPTZ,
    active_days             BIGINT NOT NULL,
    template_overlap        DOUBLE,     -- 1 - distinct templates / sum of members' templates
    template_diversity      DOUBLE,     -- distinct templates / requests
    top_template_share      DOUBLE,
    capability_entropy      DOUBLE,     -- bits, over the cluster's requests
    cot_share               DOUBLE,
    high_value_share        DOUBLE
)
"""


# (output column, attribute type) of the distinct-value counts per cluster.
_DISTINCT_COUNTS: tuple[tuple[str, str], ...] = (
    ("distinct_payment_methods", "payment"),
    ("distinct_email_domains", "email_domain"),
    ("distinct_ips", "ip"),
    ("distinct_prefixes", "prefix"),
    ("distinct_hosting_asns", "hosting_asn"),
    ("distinct_user_agents", "user_agent"),
    ("distinct_system_prompts", "system_fp"),
)


def _attribute_counts_sql() -> str:
    """Distinct attribute values per cluster from `account_attributes`.

    Rows are distinct per (account, type, value), so a singleton cluster's distinct count is a
    plain count: only multi-account clusters pay for COUNT(DISTINCT).
    """
    distinct = ",\n".join(
        f"count(DISTINCT CASE WHEN a.attr_type = '{t}' THEN a.attr_value END) AS {name}"
        for name, t in _DISTINCT_COUNTS
    )
    plain = ",\n".join(
        f"count(CASE WHEN a.attr_type = '{t}' THEN 1 END) AS {name}" for name, t in _DISTINCT_COUNTS
    )
    return f"""
            SELECT c.cluster_id, {distinct},
                   count(DISTINCT CASE WHEN a.attr_type = 'payment' THEN a.account_id END)
                       AS accounts_with_payment
            FROM account_attributes a
            JOIN (SELECT c.account_id, c.cluster_id FROM clusters c
                  JOIN members m USING (cluster_id) WHERE m.size > 1) c USING (account_id)
            GROUP BY c.cluster_id
            UNION ALL BY NAME
            SELECT c.cluster_id, p.* EXCLUDE (account_id)
            FROM (SELECT a.account_id, {plain},
                         least(1, count(CASE WHEN a.attr_type = 'payment' THEN 1 END))
                             AS accounts_with_payment
                  FROM account_attributes a GROUP BY a.account_id) p
            JOIN clusters c USING (account_id)
            JOIN members m USING (cluster_id)
            WHERE m.size = 1"""


def _capability_sql(con: duckdb.DuckDBPyConnection, request_columns: set[str]) -> str | None:
    """Per-cluster capability entropy (bits) over the members' requests: from the per-account
    `cap_<name>_share` columns of `account_features` when present, else from
    `request_features`; None when neither has capabilities."""
    account_columns = (
        table_columns(con, "account_features") if table_exists(con, "account_features") else set()
    )
    shares = sorted(c for c in account_columns if c.startswith("cap_") and c.endswith("_share"))
    if shares and {"account_id", "requests"} <= account_columns:
        # column names come from the store's catalogue, quoted as identifiers; one pass sums
        # every capability per cluster, then the few sums per cluster are unpivoted
        names = [name for name in shares if name.replace("_", "").isalnum()]
        # in millionths of a request, summed as integers: the same total in any order
        sums = ", ".join(
            f'sum(CAST(round(a.requests * coalesce(a."{name}", 0) * 1e6) AS BIGINT)) AS "{name}"'
            for name in names
        )
        per_cluster = f"""SELECT c.cluster_id, {sums}
                          FROM account_features a JOIN clusters c USING (account_id)
                          GROUP BY c.cluster_id"""
        listed = ", ".join(f'"{name}"' for name in names)
        counts = f"""SELECT cluster_id, capability, n
                     FROM (UNPIVOT ({per_cluster}) ON {listed} INTO NAME capability VALUE n)
                     WHERE n > 0"""
    elif {"account_id", "capability"} <= request_columns:
        counts = """SELECT c.cluster_id, f.capability, count(*) AS n
                    FROM request_features f JOIN clusters c USING (account_id)
                    WHERE f.capability IS NOT NULL GROUP BY ALL"""
    else:
        return None
    return f"""
        SELECT cluster_id,
               -sum(CAST(round(n / total * log2(n / total) * 1e12) AS BIGINT)) / 1e12
                   AS capability_entropy
        FROM (SELECT *, sum(n) OVER (PARTITION BY cluster_id) AS total FROM ({counts}))
        GROUP BY cluster_id"""


# Template figures per cluster from `graph_template_requests` (requests per vertex and
# template), on integer keys: overlap = 1 - distinct templates / sum of members' templates.
# A single account's templates are distinct already: its figures need no grouping by template.
_TEMPLATES_SQL = """
    SELECT any_value(k.cluster_id) AS cluster_id,
           1.0 - count(*) / sum(holders) AS template_overlap,
           count(*) / sum(n) AS template_diversity,
           max(n) / sum(n) AS top_template_share
    FROM (SELECT c.cluster_index, t.value_key, count(*) AS holders, sum(t.n) AS n
          FROM graph_template_requests t JOIN graph_vertex_clusters c USING (vertex)
          WHERE c.size > 1
          GROUP BY ALL) g
    JOIN (SELECT DISTINCT cluster_index, cluster_id FROM graph_vertex_clusters) k
      USING (cluster_index)
    GROUP BY g.cluster_index
    UNION ALL
    SELECT any_value(c.cluster_id) AS cluster_id,
           1.0 - count(*) / count(*) AS template_overlap,
           count(*) / sum(t.n) AS template_diversity,
           max(t.n) / sum(t.n) AS top_template_share
    FROM graph_template_requests t JOIN graph_vertex_clusters c USING (vertex)
    WHERE c.size = 1
    GROUP BY t.vertex"""


def _content_sql(con: duckdb.DuckDBPyConnection, *, has_templates: bool) -> str:
    """Per-cluster template and capability aggregates, NULL where the source is missing."""
    columns = (
        table_columns(con, "request_features") if table_exists(con, "request_features") else set()
    )
    parts = ["SELECT cluster_id FROM clusters GROUP BY cluster_id"]
    selects = ["k.cluster_id"]
    if has_templates:
        parts.append(f"LEFT JOIN ({_TEMPLATES_SQL}) tpl USING (cluster_id)")
        selects += ["tpl.template_overlap", "tpl.template_diversity", "tpl.top_template_share"]
    else:
        selects += [
            "NULL::DOUBLE AS template_overlap",
            "NULL::DOUBLE AS template_diversity",
            "NULL::DOUBLE AS top_template_share",
        ]
    capability = _capability_sql(con, columns)
    if capability is not None:
        parts.append(f"LEFT JOIN ({capability}) cap USING (cluster_id)")
        selects.append("cap.capability_entropy")
    else:
        selects.append("NULL::DOUBLE AS capability_entropy")
    return f"SELECT {', '.join(selects)} FROM ({parts[0]}) k " + " ".join(parts[1:])


def _account_feature_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Request-weighted CoT and high-value shares from `account_features`, or NULLs."""
    columns = (
        table_columns(con, "account_features") if table_exists(con, "account_features") else set()
    )
    if "account_id" not in columns:
        return "SELECT cluster_id, NULL::DOUBLE AS cot_share, NULL::DOUBLE AS high_value_share FROM clusters GROUP BY cluster_id"
    weight = "coalesce(a.requests, 1)" if "requests" in columns else "1"
    outputs = []
    for name in ("cot_share", "high_value_share"):
        if name in columns:
            outputs.append(
                f"sum(CAST(round({weight} * a.{name} * 1e12) AS HUGEINT)) / 1e12"
                f" / nullif(sum(CASE WHEN a.{name} IS NOT NULL THEN {weight} END), 0) AS {name}"
            )
        else:
            outputs.append(f"NULL::DOUBLE AS {name}")
    return (
        f"SELECT c.cluster_id, {', '.join(outputs)} "
        "FROM clusters c LEFT JOIN account_features a USING (account_id) GROUP BY c.cluster_id"
    )


def write_cluster_features(
    con: duckdb.DuckDBPyConnection, params: GraphParams, *, has_templates: bool = True
) -> None:
    """Rewrite `cluster_features` from clusters, edges, attributes, accounts, the per-day
    traffic in `graph_account_days` and the per-account templates in
    `graph_template_requests`."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_vertex_clusters AS
        SELECT v.vertex, c.cluster_id,
               CAST(dense_rank() OVER (ORDER BY c.cluster_id) AS INTEGER) AS cluster_index,
               count(*) OVER (PARTITION BY c.cluster_id) AS size
        FROM clusters c JOIN graph_vertices v USING (account_id)
        """
    )
    con.execute("DELETE FROM cluster_features")
    con.execute(
        f"""
        INSERT INTO cluster_features
        WITH members AS (
            SELECT cluster_id, count(*) AS size FROM clusters GROUP BY cluster_id
        ), internal AS (
            -- means of integer sums (scores are rounded to 9 decimals already): a float sum
            -- depends on the order parallel threads add in, and could move the 9th decimal
            SELECT ca.cluster_id, count(*) AS internal_edges,
                   sum(CAST(round(e.score * 1e9) AS BIGINT)) / 1e9 / count(*) AS mean_edge_score,
                   sum(CAST(round(e.synchrony * 1e12) AS BIGINT)) / 1e12 / count(*) AS synchrony
            FROM account_edges e
            JOIN clusters ca ON ca.account_id = e.account_a
            JOIN clusters cb ON cb.account_id = e.account_b AND cb.cluster_id = ca.cluster_id
            GROUP BY ca.cluster_id
        ), synced AS (
            SELECT s.cluster_id, count(DISTINCT s.account_id) AS synced_members
            FROM (SELECT ca.cluster_id, e.account_a AS account_id, e.account_b AS other
                  FROM account_edges e JOIN clusters ca ON ca.account_id = e.account_a
                  WHERE e.synchrony > 0
                  UNION ALL
                  SELECT cb.cluster_id, e.account_b, e.account_a
                  FROM account_edges e JOIN clusters cb ON cb.account_id = e.account_b
                  WHERE e.synchrony > 0) s
            JOIN clusters o ON o.account_id = s.other AND o.cluster_id = s.cluster_id
            GROUP BY s.cluster_id
        ), attrs AS ({_attribute_counts_sql()}
        ), signups AS (
            SELECT c.cluster_id,
                   count(DISTINCT a.tier) AS distinct_tiers,
                   (epoch(max(a.created_at)) - epoch(min(a.created_at))) / 3600.0 AS signup_span_hours,
                   count(a.created_at) AS with_signup
            FROM clusters c LEFT JOIN accounts a USING (account_id)
            GROUP BY c.cluster_id
        ), tier_top AS (
            SELECT cluster_id, max(n) AS top_tier_members
            FROM (SELECT c.cluster_id, a.tier, count(*) AS n
                  FROM clusters c JOIN accounts a USING (account_id)
                  WHERE a.tier IS NOT NULL GROUP BY ALL) t
            GROUP BY cluster_id
        ), signup_peaks AS (
            SELECT cluster_id,
                   max(CASE WHEN grain = 'hour' THEN n END) AS peak_hour,
                   max(CASE WHEN grain = 'day' THEN n END) AS peak_day
            FROM (SELECT c.cluster_id, 'hour' AS grain, date_trunc('hour', a.created_at) AS slot, count(*) AS n
                  FROM clusters c JOIN accounts a USING (account_id)
                  WHERE a.created_at IS NOT NULL GROUP BY ALL
                  UNION ALL
                  SELECT c.cluster_id, 'day', date_trunc('day', a.created_at), count(*)
                  FROM clusters c JOIN accounts a USING (account_id)
                  WHERE a.created_at IS NOT NULL GROUP BY ALL) p
            GROUP BY cluster_id
        ), account_traffic AS (
            -- one row per account and day: an account's active days are its row count
            SELECT account_id, sum(requests) AS requests, sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens, sum(hosting_requests) AS hosting_requests,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen,
                   count(*) AS active_days
            FROM graph_account_days GROUP BY account_id
        ), shared_days AS (
            -- days are counted once per cluster: only clusters of several accounts need it
            SELECT c.cluster_id, count(DISTINCT d.day) AS active_days
            FROM graph_account_days d JOIN clusters c USING (account_id)
            SEMI JOIN members m ON m.cluster_id = c.cluster_id AND m.size > 1
            GROUP BY c.cluster_id
        ), traffic AS (
            SELECT c.cluster_id, sum(d.requests) AS requests,
                   sum(d.input_tokens) AS input_tokens, sum(d.output_tokens) AS output_tokens,
                   sum(d.hosting_requests) / sum(d.requests) AS hosting_share,
                   min(d.first_seen) AS first_seen, max(d.last_seen) AS last_seen,
                   coalesce(any_value(s.active_days), sum(d.active_days)) AS active_days
            FROM account_traffic d JOIN clusters c USING (account_id)
            LEFT JOIN shared_days s USING (cluster_id)
            GROUP BY c.cluster_id
        ), content AS ({_content_sql(con, has_templates=has_templates)}
        ), account_level AS ({_account_feature_sql(con)})
        SELECT m.cluster_id, m.size,
               coalesce(i.internal_edges, 0),
               round(CASE WHEN m.size > 1
                          THEN coalesce(i.internal_edges, 0) / (m.size * (m.size - 1) / 2.0) END, 9),
               round(i.mean_edge_score, 9), round(i.synchrony, 9),
               round(coalesce(s.synced_members, 0) / m.size, 9),
               coalesce(ab.accounts_with_payment, 0), coalesce(ab.distinct_payment_methods, 0),
               round(ab.distinct_payment_methods / nullif(ab.accounts_with_payment, 0), 9),
               coalesce(ab.distinct_email_domains, 0), coalesce(ab.distinct_ips, 0),
               coalesce(ab.distinct_prefixes, 0), coalesce(ab.distinct_hosting_asns, 0),
               coalesce(ab.distinct_user_agents, 0), coalesce(ab.distinct_system_prompts, 0),
               coalesce(sg.distinct_tiers, 0),
               round(tt.top_tier_members / m.size, 9),
               round(sg.signup_span_hours, 9),
               round(sp.peak_hour / nullif(sg.with_signup, 0), 9),
               round(sp.peak_day / nullif(sg.with_signup, 0), 9),
               round(t.hosting_share, 9),
               coalesce(t.requests, 0), t.input_tokens, t.output_tokens,
               round(coalesce(t.requests, 0) / m.size, 9),
               t.first_seen, t.last_seen, coalesce(t.active_days, 0),
               round(ct.template_overlap, 9),
               round(ct.template_diversity, 9), round(ct.top_template_share, 9),
               round(ct.capability_entropy, 9),
               round(al.cot_share, 9), round(al.high_value_share, 9)
        FROM members m
        LEFT JOIN internal i USING (cluster_id)
        LEFT JOIN synced s USING (cluster_id)
        LEFT JOIN attrs ab USING (cluster_id)
        LEFT JOIN signups sg USING (cluster_id)
        LEFT JOIN tier_top tt USING (cluster_id)
        LEFT JOIN signup_peaks sp USING (cluster_id)
        LEFT JOIN traffic t USING (cluster_id)
        LEFT JOIN content ct USING (cluster_id)
        LEFT JOIN account_level al USING (cluster_id)
        ORDER BY m.cluster_id
        """
    )
    con.execute("DROP TABLE graph_vertex_clusters")
