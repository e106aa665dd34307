"""The review dashboard's `dash_*` tables and views, brought up to date at the end of each scan.

Work follows what changed rather than the number of requests in the store:

- the account page reads views over the feature stage's per account-day tables and
  `request_features` (`account_tables`): nothing to build;
- `dash_ip_info` gains the IPs of requests ingested since the last build;
- `dash_capability_days` is recomputed for the days whose capability counts in the feature
  partials moved, and the population's capability mix is summed from it;
- `dash_accounts` is rebuilt from the account-day partials (one row per account-day, not per
  request), and the campaign tables only for campaigns whose content changed
  (`campaign_tables`).

Everything happens in one transaction: the dashboard sees the previous state or the new one.
`precompute(con, full=True)` (or a store built by an older version) starts from scratch, and
gives the same tables as any sequence of incremental builds over the same data.
"""

from __future__ import annotations

import time

import duckdb

from detector.features.cot import COT_SHARE_THRESHOLD
from detector.review.account_tables import (
    ACCOUNT_VIEWS,
    append_ip_info,
    create_account_views,
    rebuild_accounts,
)
from detector.review.campaign_tables import (
    drop_campaign_tables,
    ensure_campaign_tables,
    refresh_campaigns,
)

# Bumped when a table's shape or meaning changes: a store built by another version is rebuilt.
PRECOMPUTE_VERSION = 2

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
    *ACCOUNT_VIEWS,
    "dash_ip_info",
)
# What incremental builds keep besides the tables above.
STATE_TABLES = ("dash_capability_days", "dash_campaign_state")

# What the review reads from the feature stage. A store it never ran on gets empty temporary
# stand-ins for one build (never real tables: their existence steers the next scan's stages).
_FEATURE_STAND_INS = {
    "request_features": 'request_id VARCHAR, account_id VARCHAR, "timestamp" TIMESTAMPTZ, day DATE,'
                        " template_fp VARCHAR, capability VARCHAR, cot_score DOUBLE",
    "account_daily_features": "account_id VARCHAR, day DATE, requests BIGINT, hosting_requests BIGINT,"
                              " first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ",
    "account_day_attributes": "account_id VARCHAR, day DATE, kind VARCHAR, value VARCHAR, requests BIGINT",
    "key_daily_features": "account_id VARCHAR, org_id VARCHAR",
}

_CAPABILITY_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS dash_capability_days (
    day DATE NOT NULL, capability VARCHAR NOT NULL, requests BIGINT NOT NULL,
    cot_requests BIGINT NOT NULL
)
"""

# Days whose (capability, requests) counts differ between the feature partials and our copy.
_STALE_DAYS_SQL = """
CREATE OR REPLACE TEMP TABLE _dash_stale_days AS
WITH want AS (
    SELECT day, value AS capability, sum(requests) AS requests
    FROM account_day_attributes WHERE kind = 'capability' GROUP BY ALL
),
have AS (SELECT day, capability, requests FROM dash_capability_days)
SELECT DISTINCT day FROM (
    (SELECT * FROM want EXCEPT SELECT * FROM have)
    UNION ALL
    (SELECT * FROM have EXCEPT SELECT * FROM want)
)
"""

_CAPABILITY_DAYS_SQL = f"""
INSERT INTO dash_capability_days
SELECT day, coalesce(capability, 'other'), count(*),
       count(*) FILTER (WHERE cot_score >= {COT_SHARE_THRESHOLD})
FROM request_features
WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dash_stale_days)
GROUP BY 1, 2
"""

_POPULATION_SQL = """
CREATE OR REPLACE TABLE dash_population_capability AS
SELECT capability, sum(requests) AS requests,
       sum(requests) / sum(sum(requests)) OVER () AS share,
       sum(cot_requests) AS cot_requests
FROM dash_capability_days GROUP BY 1 ORDER BY 2 DESC, 1
"""

_META_SQL = """
CREATE OR REPLACE TABLE dash_meta AS
SELECT now() AS built_at,
       (SELECT max(run_id) FROM scan_runs WHERE status = 'done') AS scan_run_id,
       (SELECT count(*) FROM requests) AS requests,
       (SELECT count(*) FROM dash_accounts) AS accounts,
       CAST($ingest AS BIGINT) AS ingest_run_id,
       CAST($version AS INTEGER) AS version
"""


def _built_state(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """(version, ingest run id) of the last build, or None when there is none to extend."""
    columns = {
        r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = 'dash_meta'"
        ).fetchall()
    }
    if not {"version", "ingest_run_id"} <= columns:
        return None
    rows = con.execute("SELECT version, ingest_run_id FROM dash_meta").fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows and None not in rows[0] else None


def _refresh_capability_days(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(_CAPABILITY_DAYS_DDL)
    con.execute(_STALE_DAYS_SQL)
    first, last, n = con.execute("SELECT min(day), max(day), count(*) FROM _dash_stale_days").fetchall()[0]
    if n:
        con.execute("DELETE FROM dash_capability_days WHERE day IN (SELECT day FROM _dash_stale_days)")
        con.execute(_CAPABILITY_DAYS_SQL, {"first": first, "last": last})
    con.execute("DROP TABLE _dash_stale_days")
    con.execute(_POPULATION_SQL)
    return int(n)


def _drop_all(con: duckdb.DuckDBPyConnection) -> None:
    drop_campaign_tables(con)
    for table in ("dash_ip_info", "dash_capability_days"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def drop_review_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Remove every review table and view (the next `precompute` builds them from scratch)."""
    kinds = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_schema = 'main' AND list_contains(?::VARCHAR[], table_name)",
            [[*PRECOMPUTED_TABLES, *STATE_TABLES]],
        ).fetchall()
    )
    for name, kind in kinds.items():
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")


def is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the review tables exist and were built by this version of the code."""
    state = _built_state(con)
    return state is not None and state[0] == PRECOMPUTE_VERSION


def precompute(con: duckdb.DuckDBPyConnection, *, full: bool = False) -> dict[str, float]:
    """Bring every `dash_*` table up to date with the store in one transaction; returns seconds
    per step, with how many capability days (`capability_days_rebuilt`) and campaigns
    (`campaigns_rebuilt`) were rebuilt. Call it after a successful scan; `full` rebuilds from
    scratch."""
    seconds: dict[str, float] = {}
    present = {
        r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
            " AND table_schema = 'main' AND list_contains(?::VARCHAR[], table_name)",
            [list(_FEATURE_STAND_INS)],
        ).fetchall()
    }
    stand_ins = [name for name in _FEATURE_STAND_INS if name not in present]
    for name in stand_ins:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({_FEATURE_STAND_INS[name]})")

    def timed(name: str, started: float) -> None:
        seconds[name] = round(time.perf_counter() - started, 3)

    con.execute("BEGIN TRANSACTION")
    try:
        state = _built_state(con)
        incremental = not full and state is not None and state[0] == PRECOMPUTE_VERSION
        if not incremental:
            _drop_all(con)
        after = state[1] if incremental and state is not None else -1
        high_water = con.execute("SELECT coalesce(max(ingest_run_id), -1) FROM requests").fetchall()[0][0]
        started = time.perf_counter()
        append_ip_info(con, after)
        timed("dash_ip_info", started)
        started = time.perf_counter()
        create_account_views(con, empty=bool(stand_ins))
        timed("account_views", started)
        started = time.perf_counter()
        seconds["capability_days_rebuilt"] = _refresh_capability_days(con)
        timed("dash_population_capability", started)
        started = time.perf_counter()
        rebuild_accounts(con)
        timed("dash_accounts", started)
        ensure_campaign_tables(con)
        seconds["campaigns_rebuilt"] = refresh_campaigns(con, seconds)
        con.execute(_META_SQL, {"ingest": max(int(high_water), after), "version": PRECOMPUTE_VERSION})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in stand_ins:
            con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    return seconds
