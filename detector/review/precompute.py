"""Small tables the review dashboard reads, rebuilt from the store at the end of each scan.

Every page of the dashboard reads these (`dash_*`) tables, sorted by their lookup key so DuckDB's
zone maps turn a lookup into a read of one row group, plus the small run and verdict tables.
Nothing here scans `requests` at page time, so pages stay fast on a store of 10 M requests.
Tables are replaced in one transaction: the dashboard sees the previous set or the new one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import duckdb
import networkx as nx
import polars as pl

from detector.campaigns.profile import query_frame, table_exists

SAMPLE_CHARS = 600          # prompt excerpt length kept per sample
SAMPLES_PER_TEMPLATE = 3
TEMPLATES_PER_CAMPAIGN = 10
SAMPLES_PER_ACCOUNT = 5
NETWORKS_PER_ACCOUNT = 50
GRAPH_VALUES_PER_KIND = 60  # shared indicator nodes kept per kind and campaign
GRAPH_KINDS = ("ip", "prefix", "payment", "user_agent")

PRECOMPUTED_TABLES = (
    "dash_meta",
    "dash_campaigns",
    "dash_campaign_members",
    "dash_campaign_hourly",
    "dash_campaign_capability",
    "dash_population_capability",
    "dash_campaign_templates",
    "dash_campaign_models",
    "dash_graph_nodes",
    "dash_graph_edges",
    "dash_accounts",
    "dash_account_daily",
    "dash_account_networks",
    "dash_account_capability",
    "dash_account_samples",
)

# Feature columns the dashboard needs from `request_features`, empty when the stage never ran.
_FEATURES_VIEW = """
CREATE OR REPLACE TEMP VIEW dash_rf AS
SELECT request_id, capability, cot_score, template_fp FROM request_features
"""
_NO_FEATURES_VIEW = """
CREATE OR REPLACE TEMP VIEW dash_rf AS
SELECT NULL::VARCHAR AS request_id, NULL::VARCHAR AS capability, NULL::DOUBLE AS cot_score,
       NULL::VARCHAR AS template_fp
WHERE false
"""
# A request counts as chain-of-thought elicitation at this score (the features' own cut).
COT_THRESHOLD = 0.5

_SQL: tuple[tuple[str, str], ...] = (
    ("dash_members_tmp", """
        CREATE OR REPLACE TEMP TABLE dash_members_tmp AS
        SELECT DISTINCT campaign_id, account_id FROM campaign_accounts
    """),
    ("dash_member_requests_tmp", """
        CREATE OR REPLACE TEMP TABLE dash_member_requests_tmp AS
        SELECT m.campaign_id, r.account_id, r.request_id, r."timestamp", r.model, r.client_ip,
               r.ip_prefix, r.user_agent
        FROM requests r JOIN dash_members_tmp m ON m.account_id = r.account_id
    """),
    ("dash_campaign_capability", """
        CREATE OR REPLACE TABLE dash_campaign_capability AS
        SELECT c.campaign_id, coalesce(f.capability, 'unknown') AS capability,
               count(*) AS requests,
               count(*) / sum(count(*)) OVER (PARTITION BY c.campaign_id) AS share,
               count(*) FILTER (WHERE f.cot_score >= $cot) AS cot_requests
        FROM dash_member_requests_tmp c JOIN dash_rf f USING (request_id)
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
    """),
    ("dash_population_capability", """
        CREATE OR REPLACE TABLE dash_population_capability AS
        SELECT coalesce(capability, 'unknown') AS capability, count(*) AS requests,
               count(*) / sum(count(*)) OVER () AS share,
               count(*) FILTER (WHERE cot_score >= $cot) AS cot_requests
        FROM dash_rf GROUP BY 1 ORDER BY 2 DESC, 1
    """),
    ("dash_accounts", """
        CREATE OR REPLACE TABLE dash_accounts AS
        WITH r AS (
            SELECT account_id, count(*) AS requests, min("timestamp") AS first_seen,
                   max("timestamp") AS last_seen,
                   count(DISTINCT CAST("timestamp" AS DATE)) AS active_days,
                   count(DISTINCT client_ip) AS distinct_ips,
                   count(DISTINCT model) AS distinct_models,
                   count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')) / count(*)
                       AS hosting_share,
                   any_value(org_id) AS request_org
            FROM requests GROUP BY account_id
        ),
        s AS (
            SELECT account_id, score, campaign_id, flagged FROM account_scores
            QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY scan_run_id DESC NULLS LAST) = 1
        ),
        a AS (
            SELECT account_id, any_value(created_at) AS created_at, any_value(email_domain) AS email_domain,
                   any_value(payment_fingerprint) AS payment_fingerprint, any_value(country) AS country,
                   any_value(org_id) AS org_id, any_value(tier) AS tier, any_value(signup_ip) AS signup_ip
            FROM accounts GROUP BY account_id
        )
        SELECT account_id, coalesce(r.requests, 0) AS requests, r.first_seen, r.last_seen,
               coalesce(r.active_days, 0) AS active_days, coalesce(r.distinct_ips, 0) AS distinct_ips,
               coalesce(r.distinct_models, 0) AS distinct_models, r.hosting_share,
               s.score, s.campaign_id, coalesce(s.flagged, false) AS flagged,
               coalesce(a.org_id, r.request_org) AS org_id, a.created_at, a.email_domain,
               a.payment_fingerprint, a.country, a.tier, a.signup_ip
        FROM r FULL JOIN s USING (account_id) FULL JOIN a USING (account_id)
        ORDER BY account_id
    """),
    ("dash_campaign_members", """
        CREATE OR REPLACE TABLE dash_campaign_members AS
        SELECT m.campaign_id, m.account_id, d.score, d.flagged, d.requests, d.first_seen,
               d.last_seen, d.active_days, d.distinct_ips, d.hosting_share, d.payment_fingerprint,
               d.email_domain, d.country, d.created_at, d.org_id
        FROM dash_members_tmp m LEFT JOIN dash_accounts d USING (account_id)
        ORDER BY m.campaign_id, d.requests DESC NULLS LAST, m.account_id
    """),
    ("dash_campaigns", """
        CREATE OR REPLACE TABLE dash_campaigns AS
        WITH members AS (
            SELECT campaign_id, count(*) AS accounts FROM dash_members_tmp GROUP BY 1
        ),
        cap AS (
            SELECT campaign_id, list(capability ORDER BY requests DESC, capability) AS capabilities,
                   arg_max(capability, requests) AS top_capability,
                   sum(cot_requests) / sum(requests) AS cot_share
            FROM dash_campaign_capability GROUP BY 1
        )
        SELECT c.campaign_id, c.alert_id, c.title, c.severity,
               CASE c.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                               WHEN 'low' THEN 1 ELSE 0 END AS severity_rank,
               c.score, c.alerted, c.status AS scan_status, coalesce(m.accounts, 0) AS accounts,
               c.request_count, c.first_seen, c.last_seen, c.created_at, c.updated_at,
               coalesce(cap.capabilities, []::VARCHAR[]) AS capabilities, cap.top_capability,
               cap.cot_share, c.signals, c.rules, c.indicators, c.tags, c.scan_run_id
        FROM campaigns c LEFT JOIN members m USING (campaign_id) LEFT JOIN cap USING (campaign_id)
        ORDER BY severity_rank DESC, c.score DESC, c.campaign_id
    """),
    ("dash_campaign_hourly", """
        CREATE OR REPLACE TABLE dash_campaign_hourly AS
        SELECT campaign_id, account_id, date_trunc('hour', "timestamp") AS hour, count(*) AS requests
        FROM dash_member_requests_tmp GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """),
    ("dash_campaign_models", """
        CREATE OR REPLACE TABLE dash_campaign_models AS
        SELECT campaign_id, CAST("timestamp" AS DATE) AS day, model, count(*) AS requests,
               count(DISTINCT account_id) AS accounts
        FROM dash_member_requests_tmp GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """),
    ("dash_campaign_templates", """
        CREATE OR REPLACE TABLE dash_campaign_templates AS
        WITH per AS (
            SELECT c.campaign_id, f.template_fp, count(*) AS requests,
                   count(DISTINCT c.account_id) AS accounts,
                   count(*) / sum(count(*)) OVER (PARTITION BY c.campaign_id) AS share,
                   min_by(c.request_id, hash(c.request_id), $samples) AS sample_ids
            FROM dash_member_requests_tmp c JOIN dash_rf f USING (request_id)
            WHERE f.template_fp IS NOT NULL
            GROUP BY 1, 2
            QUALIFY row_number() OVER (PARTITION BY c.campaign_id ORDER BY count(*) DESC, f.template_fp)
                    <= $templates
        ),
        picked AS (
            SELECT campaign_id, template_fp, unnest(sample_ids) AS request_id FROM per
        ),
        texts AS (
            SELECT p.campaign_id, p.template_fp,
                   list(left(r.prompt, $chars) ORDER BY p.request_id) AS samples
            FROM picked p JOIN requests r USING (request_id)
            GROUP BY 1, 2
        )
        SELECT per.campaign_id, per.template_fp, per.requests, per.accounts, per.share,
               coalesce(t.samples, []::VARCHAR[]) AS samples
        FROM per LEFT JOIN texts t USING (campaign_id, template_fp)
        ORDER BY per.campaign_id, per.requests DESC, per.template_fp
    """),
    ("dash_account_daily", """
        CREATE OR REPLACE TABLE dash_account_daily AS
        SELECT account_id, CAST("timestamp" AS DATE) AS day, model, count(*) AS requests
        FROM requests GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """),
    ("dash_account_networks", """
        CREATE OR REPLACE TABLE dash_account_networks AS
        SELECT account_id, client_ip, any_value(ip_prefix) AS ip_prefix, any_value(asn) AS asn,
               any_value(as_name) AS as_name, any_value(country) AS country,
               any_value(network_class) AS network_class, count(*) AS requests,
               min("timestamp") AS first_seen, max("timestamp") AS last_seen
        FROM requests GROUP BY account_id, client_ip
        QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY count(*) DESC, client_ip)
                <= $networks
        ORDER BY account_id, requests DESC, client_ip
    """),
    ("dash_account_capability", """
        CREATE OR REPLACE TABLE dash_account_capability AS
        SELECT r.account_id, coalesce(f.capability, 'unknown') AS capability, count(*) AS requests,
               count(*) FILTER (WHERE f.cot_score >= $cot) AS cot_requests
        FROM requests r JOIN dash_rf f USING (request_id)
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
    """),
    ("dash_account_samples", """
        CREATE OR REPLACE TABLE dash_account_samples AS
        WITH picked AS (
            SELECT account_id, unnest(min_by(request_id, hash(request_id), $account_samples))
                   AS request_id
            FROM requests GROUP BY account_id
        )
        SELECT r.account_id, r.request_id, r."timestamp", r.model, f.capability,
               left(r.prompt, $chars) AS prompt
        FROM picked p JOIN requests r USING (request_id)
        LEFT JOIN dash_rf f USING (request_id)
        ORDER BY r.account_id, r."timestamp", r.request_id
    """),
)

_PARAMS = {
    "cot": COT_THRESHOLD,
    "samples": SAMPLES_PER_TEMPLATE,
    "templates": TEMPLATES_PER_CAMPAIGN,
    "chars": SAMPLE_CHARS,
    "networks": NETWORKS_PER_ACCOUNT,
    "account_samples": SAMPLES_PER_ACCOUNT,
}

_GRAPH_DDL = (
    """
    CREATE OR REPLACE TABLE dash_graph_nodes (
        campaign_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        label VARCHAR NOT NULL, degree BIGINT NOT NULL, x DOUBLE NOT NULL, y DOUBLE NOT NULL
    )
    """,
    """
    CREATE OR REPLACE TABLE dash_graph_edges (
        campaign_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, requests BIGINT NOT NULL,
        x DOUBLE NOT NULL, y DOUBLE NOT NULL, x2 DOUBLE NOT NULL, y2 DOUBLE NOT NULL
    )
    """,
)

# Indicator values shared by at least two members of a campaign: the links of its graph.
_SHARED_VALUES_SQL = """
WITH used AS (
    SELECT campaign_id, account_id, 'ip' AS kind, client_ip AS value, count(*) AS requests
    FROM dash_member_requests_tmp WHERE client_ip IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT campaign_id, account_id, 'prefix', ip_prefix, count(*)
    FROM dash_member_requests_tmp WHERE ip_prefix IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT campaign_id, account_id, 'user_agent', user_agent, count(*)
    FROM dash_member_requests_tmp WHERE user_agent IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT m.campaign_id, m.account_id, 'payment', a.payment_fingerprint, 0
    FROM dash_members_tmp m JOIN accounts a USING (account_id)
    WHERE a.payment_fingerprint IS NOT NULL GROUP BY 1, 2, 3, 4
),
shared AS (
    SELECT campaign_id, kind, value, count(DISTINCT account_id) AS holders, sum(requests) AS n
    FROM used GROUP BY 1, 2, 3 HAVING count(DISTINCT account_id) >= 2
    QUALIFY row_number() OVER (PARTITION BY campaign_id, kind ORDER BY holders DESC, n DESC, value)
            <= ?
)
SELECT u.campaign_id, u.account_id, u.kind, u.value, sum(u.requests) AS requests
FROM used u JOIN shared s USING (campaign_id, kind, value)
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
"""


def _layout(campaign_id: str, members: Sequence[str], links: pl.DataFrame) -> tuple[list[tuple], list[tuple]]:
    """Node and edge rows of one campaign's account-indicator graph, laid out by a seeded
    spring layout (accounts with no shared value sit on the outside)."""
    graph: nx.Graph = nx.Graph()
    for account in members:
        graph.add_node(f"account:{account}", kind="account", label=account)
    for _cid, account, kind, value, _n in links.iter_rows():
        node = f"{kind}:{value}"
        graph.add_node(node, kind=kind, label=str(value))
        graph.add_edge(f"account:{account}", node)
    if graph.number_of_nodes() == 0:
        return [], []
    k = 1.5 / max(graph.number_of_nodes(), 1) ** 0.5
    pos = nx.spring_layout(graph, seed=7, k=k, iterations=60)
    nodes = [
        (campaign_id, node, data["kind"], data["label"], int(graph.degree[node]),
         float(pos[node][0]), float(pos[node][1]))
        for node, data in graph.nodes(data=True)
    ]
    edges = []
    for _cid, account, kind, value, n in links.iter_rows():
        a, b = f"account:{account}", f"{kind}:{value}"
        edges.append((campaign_id, account, b, kind, int(n or 0),
                      float(pos[a][0]), float(pos[a][1]), float(pos[b][0]), float(pos[b][1])))
    return nodes, edges


def _write_graph(con: duckdb.DuckDBPyConnection) -> int:
    for ddl in _GRAPH_DDL:
        con.execute(ddl)
    links = query_frame(con, _SHARED_VALUES_SQL, [GRAPH_VALUES_PER_KIND])
    members: dict[str, list[str]] = {}
    for cid, account in con.execute(
        "SELECT campaign_id, account_id FROM dash_members_tmp ORDER BY 1, 2"
    ).fetchall():
        members.setdefault(str(cid), []).append(str(account))
    node_rows: list[tuple] = []
    edge_rows: list[tuple] = []
    by_campaign = {key[0]: frame for key, frame in links.partition_by("campaign_id", as_dict=True).items()} if links.height else {}
    for cid, accounts in members.items():
        frame = by_campaign.get(cid, links.clear())
        nodes, edges = _layout(cid, accounts, frame)
        node_rows += nodes
        edge_rows += edges
    for table, rows in (("dash_graph_nodes", node_rows), ("dash_graph_edges", edge_rows)):
        if not rows:
            continue
        # INSERT ... SELECT * matches columns by position: the rows are in the DDL's order.
        con.register("dash_graph_rows_v", pl.DataFrame(rows, orient="row").to_arrow())
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM dash_graph_rows_v")
        finally:
            con.unregister("dash_graph_rows_v")
    return len(node_rows)


def precompute(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Rebuild every `dash_*` table from the store's scan outputs, requests and features in one
    transaction; returns seconds per table. Call it after a successful scan."""
    seconds: dict[str, float] = {}
    con.execute(_FEATURES_VIEW if table_exists(con, "request_features") else _NO_FEATURES_VIEW)
    con.execute("BEGIN TRANSACTION")
    try:
        for name, sql in _SQL:
            started = time.perf_counter()
            used = {k: v for k, v in _PARAMS.items() if f"${k}" in sql}
            con.execute(sql, used) if used else con.execute(sql)
            seconds[name] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        _write_graph(con)
        seconds["dash_graph"] = round(time.perf_counter() - started, 3)
        con.execute(
            """
            CREATE OR REPLACE TABLE dash_meta AS
            SELECT now() AS built_at,
                   (SELECT max(run_id) FROM scan_runs WHERE status = 'done') AS scan_run_id,
                   (SELECT count(*) FROM requests) AS requests,
                   (SELECT count(*) FROM dash_accounts) AS accounts
            """
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for temp in ("dash_members_tmp", "dash_member_requests_tmp"):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
        con.execute("DROP VIEW IF EXISTS dash_rf")
    return seconds
