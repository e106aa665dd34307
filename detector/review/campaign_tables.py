"""Campaign-level review tables, rebuilt only for the campaigns whose content changed.

A campaign's content key hashes its members with their request totals, first and last
sightings and payment cards (from `dash_accounts`). A campaign whose key is unchanged since the
last build keeps its rows; a changed or new one is rebuilt from the feature stage's tables for
its members only; a vanished one loses its rows. The small per-campaign summary tables
(`dash_campaigns`, `dash_campaign_members`) are rebuilt whole: a few rows per campaign.
"""

from __future__ import annotations

from time import perf_counter

import duckdb

from detector.export.alerts import SEVERITIES
from detector.features.cot import COT_SHARE_THRESHOLD
from detector.review.graph_layout import GRAPH_DDL, write_graphs

SAMPLES_PER_TEMPLATE = 3
TEMPLATES_PER_CAMPAIGN = 10

CAMPAIGN_DDL = (
    """
    CREATE TABLE IF NOT EXISTS dash_campaign_state (
        campaign_id VARCHAR NOT NULL, content_key VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dash_campaign_capability (
        campaign_id VARCHAR NOT NULL, capability VARCHAR NOT NULL, requests BIGINT NOT NULL,
        share DOUBLE NOT NULL, cot_requests BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dash_campaign_hourly (
        campaign_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, hour TIMESTAMPTZ NOT NULL,
        requests BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dash_campaign_models (
        campaign_id VARCHAR NOT NULL, day DATE NOT NULL, model VARCHAR NOT NULL,
        requests BIGINT NOT NULL, accounts BIGINT NOT NULL
    )
    """,
    # `samples`: pointers to a few requests per template; the page fetches their prompts.
    """
    CREATE TABLE IF NOT EXISTS dash_campaign_templates (
        campaign_id VARCHAR NOT NULL, template_fp VARCHAR NOT NULL, requests BIGINT NOT NULL,
        accounts BIGINT NOT NULL, share DOUBLE NOT NULL,
        samples STRUCT(request_id VARCHAR, "timestamp" TIMESTAMPTZ)[] NOT NULL
    )
    """,
    *GRAPH_DDL,
)

# Tables holding rows per campaign, kept between builds (the state table last).
PER_CAMPAIGN_TABLES = (
    "dash_campaign_capability",
    "dash_campaign_hourly",
    "dash_campaign_models",
    "dash_campaign_templates",
    "dash_graph_nodes",
    "dash_graph_edges",
    "dash_campaign_state",
)

_KEYS_SQL = """
CREATE OR REPLACE TEMP TABLE _dash_keys AS
SELECT m.campaign_id,
       md5(string_agg(concat_ws('|', m.account_id, d.requests, d.first_seen, d.last_seen,
                                d.payment_fingerprint), ',' ORDER BY m.account_id)) AS content_key
FROM (SELECT DISTINCT campaign_id, account_id FROM campaign_accounts) m
LEFT JOIN dash_accounts d USING (account_id)
GROUP BY m.campaign_id
"""

# Campaigns to rebuild (new or changed key) or to drop (gone from `campaign_accounts`).
_STALE_SQL = """
CREATE OR REPLACE TEMP TABLE _dash_stale AS
SELECT campaign_id FROM (SELECT campaign_id, content_key FROM _dash_keys
                         EXCEPT SELECT campaign_id, content_key FROM dash_campaign_state)
UNION
SELECT campaign_id FROM (SELECT campaign_id FROM dash_campaign_state
                         EXCEPT SELECT campaign_id FROM _dash_keys)
"""

_MEMBERS_SQL = """
CREATE OR REPLACE TEMP TABLE _dash_members AS
SELECT DISTINCT c.campaign_id, c.account_id
FROM campaign_accounts c SEMI JOIN _dash_stale s USING (campaign_id)
"""

# The featurized requests of the rebuilt campaigns' members.
_MEMBER_REQUESTS_SQL = """
CREATE OR REPLACE TEMP TABLE _dash_member_requests AS
SELECT m.campaign_id, f.account_id, f.request_id, f."timestamp", f.capability, f.cot_score,
       f.template_fp
FROM request_features f JOIN _dash_members m USING (account_id)
"""

_INSERTS: tuple[tuple[str, str], ...] = (
    ("dash_campaign_capability", f"""
        INSERT INTO dash_campaign_capability
        SELECT campaign_id, coalesce(capability, 'other'), count(*),
               count(*) / sum(count(*)) OVER (PARTITION BY campaign_id),
               count(*) FILTER (WHERE cot_score >= {COT_SHARE_THRESHOLD})
        FROM _dash_member_requests GROUP BY 1, 2
    """),
    ("dash_campaign_hourly", """
        INSERT INTO dash_campaign_hourly
        SELECT campaign_id, account_id, date_trunc('hour', "timestamp"), count(*)
        FROM _dash_member_requests GROUP BY 1, 2, 3
    """),
    ("dash_campaign_models", """
        INSERT INTO dash_campaign_models
        SELECT m.campaign_id, a.day, a.value, sum(a.requests), count(DISTINCT a.account_id)
        FROM account_day_attributes a JOIN _dash_members m USING (account_id)
        WHERE a.kind = 'model'
        GROUP BY 1, 2, 3
    """),
    ("dash_campaign_templates", f"""
        INSERT INTO dash_campaign_templates
        SELECT campaign_id, template_fp, count(*), count(DISTINCT account_id),
               count(*) / sum(count(*)) OVER (PARTITION BY campaign_id),
               list_sort(min_by({{'request_id': request_id, 'timestamp': "timestamp"}},
                                hash(request_id), {SAMPLES_PER_TEMPLATE}))
        FROM _dash_member_requests WHERE template_fp IS NOT NULL
        GROUP BY 1, 2
        QUALIFY row_number() OVER (PARTITION BY campaign_id ORDER BY count(*) DESC, template_fp)
                <= {TEMPLATES_PER_CAMPAIGN}
    """),
)

_CAMPAIGNS_SQL = """
CREATE OR REPLACE TABLE dash_campaigns AS
WITH members AS (
    SELECT campaign_id, count(DISTINCT account_id) AS accounts FROM campaign_accounts GROUP BY 1
),
cap AS (
    SELECT campaign_id, list(capability ORDER BY requests DESC, capability) AS capabilities,
           arg_max(capability, requests) AS top_capability,
           sum(cot_requests) / sum(requests) AS cot_share
    FROM dash_campaign_capability GROUP BY 1
)
SELECT c.campaign_id, c.alert_id, c.title, c.severity,
       -- one ordering of severities for the whole tool: the export's; unknown ones rank 0
       coalesce(list_position($severities::VARCHAR[], c.severity), 0) AS severity_rank,
       c.score, c.alerted, c.status AS scan_status, coalesce(m.accounts, 0) AS accounts,
       c.request_count, c.first_seen, c.last_seen, c.created_at, c.updated_at,
       coalesce(cap.capabilities, []::VARCHAR[]) AS capabilities, cap.top_capability,
       cap.cot_share, c.signals, c.rules, c.indicators, c.tags, c.scan_run_id
FROM campaigns c LEFT JOIN members m USING (campaign_id) LEFT JOIN cap USING (campaign_id)
ORDER BY severity_rank DESC, c.score DESC, c.campaign_id
"""

_CAMPAIGN_MEMBERS_SQL = """
CREATE OR REPLACE TABLE dash_campaign_members AS
SELECT m.campaign_id, m.account_id, d.score, d.flagged, d.requests, d.first_seen,
       d.last_seen, d.active_days, d.distinct_ips, d.hosting_share, d.payment_fingerprint,
       d.email_domain, d.country, d.created_at, d.org_id
FROM (SELECT DISTINCT campaign_id, account_id FROM campaign_accounts) m
LEFT JOIN dash_accounts d USING (account_id)
ORDER BY m.campaign_id, d.requests DESC NULLS LAST, m.account_id
"""

_TEMPS = ("_dash_keys", "_dash_stale", "_dash_members", "_dash_member_requests")


def ensure_campaign_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in CAMPAIGN_DDL:
        con.execute(ddl)


def drop_campaign_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every per-campaign row, so the next build starts from scratch."""
    for table in PER_CAMPAIGN_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def refresh_campaigns(con: duckdb.DuckDBPyConnection, seconds: dict[str, float]) -> int:
    """Rebuild the per-campaign rows of changed campaigns and the summary tables; returns
    how many campaigns were rebuilt or dropped. Needs a fresh `dash_accounts`."""
    try:
        started = perf_counter()
        con.execute(_KEYS_SQL)
        con.execute(_STALE_SQL)
        stale = con.execute("SELECT count(*) FROM _dash_stale").fetchall()[0][0]
        if stale:
            for table in PER_CAMPAIGN_TABLES:
                con.execute(f"DELETE FROM {table} WHERE campaign_id IN (SELECT campaign_id FROM _dash_stale)")
            con.execute(_MEMBERS_SQL)
            con.execute(_MEMBER_REQUESTS_SQL)
            seconds["campaign_member_requests"] = round(perf_counter() - started, 3)
            for name, sql in _INSERTS:
                started = perf_counter()
                con.execute(sql)
                seconds[name] = round(perf_counter() - started, 3)
            started = perf_counter()
            write_graphs(con, "_dash_members")
            seconds["dash_graph"] = round(perf_counter() - started, 3)
            con.execute(
                "INSERT INTO dash_campaign_state SELECT k.campaign_id, k.content_key"
                " FROM _dash_keys k SEMI JOIN _dash_stale s USING (campaign_id)"
            )
        started = perf_counter()
        con.execute(_CAMPAIGNS_SQL, {"severities": list(SEVERITIES)})
        con.execute(_CAMPAIGN_MEMBERS_SQL)
        seconds["dash_campaigns"] = round(perf_counter() - started, 3)
        return int(stale)
    finally:
        for temp in _TEMPS:
            con.execute(f"DROP TABLE IF EXISTS {temp}")
