"""Per-account review data: views over the feature stage's tables, and two small tables.

The per account-day partials of the feature stage (`account_daily_features`,
`account_day_attributes`) and `request_features` already hold what the account page shows, so
its daily models, networks, capabilities and sample pointers are views over them: nothing is
copied at scan time, and a page's lookup of one account reads one column of each source plus
that account's rows. What the partials lack is kept here: each IP's network attributes
(`dash_ip_info`, appended from new requests only) and the account list with scores
(`dash_accounts`, rebuilt from the account-day rows, sorted by account for lookups).
Sample prompts are fetched on the page by point lookups on `requests` (`prompts.fetch_prompts`).
"""

from __future__ import annotations

import duckdb

from detector.features.cot import COT_SHARE_THRESHOLD

NETWORKS_PER_ACCOUNT = 50
SAMPLES_PER_ACCOUNT = 5

# The account page's views, by name. Constants are code constants, not user values.
ACCOUNT_VIEWS: dict[str, str] = {
    "dash_account_daily": """
        SELECT account_id, day, value AS model, requests
        FROM account_day_attributes WHERE kind = 'model'
    """,
    "dash_account_capability": f"""
        SELECT account_id, coalesce(capability, 'other') AS capability, count(*) AS requests,
               count(*) FILTER (WHERE cot_score >= {COT_SHARE_THRESHOLD}) AS cot_requests
        FROM request_features GROUP BY ALL
    """,
    "dash_account_networks": f"""
        WITH used AS (
            SELECT account_id, value AS client_ip, sum(requests) AS requests,
                   min(day) AS first_day, max(day) AS last_day
            FROM account_day_attributes WHERE kind = 'ip' GROUP BY account_id, value
            QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY sum(requests) DESC, value)
                    <= {NETWORKS_PER_ACCOUNT}
        )
        SELECT u.account_id, u.client_ip, i.ip_prefix, i.asn, i.as_name, i.country,
               i.network_class, u.requests, u.first_day, u.last_day
        FROM used u LEFT JOIN dash_ip_info i USING (client_ip)
    """,
    # Pointers only: the page fetches the prompt and model of these few requests itself.
    "dash_account_samples": f"""
        SELECT account_id, s.request_id, s."timestamp", s.capability FROM (
            SELECT account_id,
                   unnest(min_by({{'request_id': request_id, 'timestamp': "timestamp",
                                   'capability': capability}},
                                 hash(request_id), {SAMPLES_PER_ACCOUNT})) AS s
            FROM request_features GROUP BY account_id
        )
    """,
}

# The same views when the feature stage never ran on the store: empty, with the same columns.
EMPTY_ACCOUNT_VIEWS: dict[str, str] = {
    "dash_account_daily": "SELECT NULL::VARCHAR AS account_id, NULL::DATE AS day,"
                          " NULL::VARCHAR AS model, NULL::BIGINT AS requests WHERE false",
    "dash_account_capability": "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS capability,"
                               " NULL::BIGINT AS requests, NULL::BIGINT AS cot_requests WHERE false",
    "dash_account_networks": "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS client_ip,"
                             " NULL::VARCHAR AS ip_prefix, NULL::BIGINT AS asn, NULL::VARCHAR AS as_name,"
                             " NULL::VARCHAR AS country, NULL::VARCHAR AS network_class,"
                             " NULL::BIGINT AS requests, NULL::DATE AS first_day, NULL::DATE AS last_day"
                             " WHERE false",
    "dash_account_samples": "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS request_id,"
                            ' NULL::TIMESTAMPTZ AS "timestamp", NULL::VARCHAR AS capability WHERE false',
}

IP_INFO_DDL = """
CREATE TABLE IF NOT EXISTS dash_ip_info (
    client_ip       VARCHAR NOT NULL,
    ip_prefix       VARCHAR,
    asn             BIGINT,
    as_name         VARCHAR,
    country         VARCHAR,
    network_class   VARCHAR
)
"""

# IPs first seen in requests of ingest runs after `$after`: one row each (any of its rows, as
# enrichment gives one answer per IP and run).
_NEW_IPS_SQL = """
INSERT INTO dash_ip_info
SELECT client_ip, any_value(ip_prefix), any_value(asn), any_value(as_name), any_value(country),
       any_value(network_class)
FROM requests
WHERE ingest_run_id > $after
  AND client_ip NOT IN (SELECT client_ip FROM dash_ip_info)
GROUP BY client_ip
"""

_ACCOUNTS_SQL = """
CREATE OR REPLACE TABLE dash_accounts AS
WITH r AS (
    SELECT account_id, sum(requests) AS requests, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, count(*) AS active_days,
           sum(hosting_requests) / sum(requests) AS hosting_share
    FROM account_daily_features GROUP BY account_id
),
d AS ({distinct_counts}),
o AS (
    SELECT account_id, min(org_id) AS request_org
    FROM key_daily_features WHERE org_id IS NOT NULL GROUP BY account_id
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
       coalesce(r.active_days, 0) AS active_days, coalesce(d.distinct_ips, 0) AS distinct_ips,
       coalesce(d.distinct_models, 0) AS distinct_models, r.hosting_share,
       s.score, s.campaign_id, coalesce(s.flagged, false) AS flagged,
       coalesce(a.org_id, o.request_org) AS org_id, a.created_at, a.email_domain,
       a.payment_fingerprint, a.country, a.tier, a.signup_ip
FROM r LEFT JOIN d USING (account_id) LEFT JOIN o USING (account_id)
FULL JOIN s USING (account_id) FULL JOIN a USING (account_id)
ORDER BY account_id
"""


def create_account_views(con: duckdb.DuckDBPyConnection, *, empty: bool = False) -> None:
    """(Re)create the account page's views (empty ones when the feature stage's tables are
    missing); an older store's tables of the same names go."""
    kinds = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_schema = 'main' AND list_contains(?::VARCHAR[], table_name)",
            [list(ACCOUNT_VIEWS)],
        ).fetchall()
    )
    for name, sql in (EMPTY_ACCOUNT_VIEWS if empty else ACCOUNT_VIEWS).items():
        if kinds.get(name) == "BASE TABLE":
            con.execute(f"DROP TABLE {name}")
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")


def append_ip_info(con: duckdb.DuckDBPyConnection, after_ingest_run: int) -> None:
    """Add the network attributes of IPs that requests of later ingest runs brought."""
    con.execute(IP_INFO_DDL)
    con.execute(_NEW_IPS_SQL, {"after": after_ingest_run})


# Distinct IPs and models per account: the feature stage's all-time table has them (counting
# them again from the partials costs more than the rest of `dash_accounts` together).
_DISTINCT_FROM_FEATURES = "SELECT account_id, distinct_ips, distinct_models FROM account_features"
_NO_DISTINCT = (
    "SELECT NULL::VARCHAR AS account_id, NULL::BIGINT AS distinct_ips,"
    " NULL::BIGINT AS distinct_models WHERE false"
)


def rebuild_accounts(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild `dash_accounts` from the account-day partials, the all-time account features,
    scores and account metadata."""
    columns = {
        r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = 'account_features'"
        ).fetchall()
    }
    has_counts = {"distinct_ips", "distinct_models"} <= columns
    distinct = _DISTINCT_FROM_FEATURES if has_counts else _NO_DISTINCT
    con.execute(_ACCOUNTS_SQL.format(distinct_counts=distinct))
