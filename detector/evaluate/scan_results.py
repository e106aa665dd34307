"""What the last scan published, read from the store's scan-output tables.

`account_scores` gives one decision per account (the row of the newest scan run when several
runs left rows), `campaigns` the alerts (`alerted = true`), and `campaign_accounts` plus
`account_scores.campaign_id` the membership of each alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from detector.errors import DistillguardError
from detector.store import schema_version

SCAN_TABLES_VERSION = 2

LATEST_ACCOUNT_SCORES = """
    SELECT account_id,
           CASE WHEN isnan(score) THEN 0.0 ELSE score END AS score,
           flagged,
           campaign_id
    FROM account_scores
    QUALIFY row_number() OVER (
        PARTITION BY account_id ORDER BY scan_run_id DESC NULLS LAST, score DESC
    ) = 1
"""

ALERTS = """
    SELECT campaign_id, alert_id, title, severity, score, request_count
    FROM campaigns
    WHERE alerted
    ORDER BY campaign_id
"""

ALERT_MEMBERS = f"""
    WITH membership AS (
        SELECT campaign_id, account_id FROM campaign_accounts
        UNION
        SELECT campaign_id, account_id FROM ({LATEST_ACCOUNT_SCORES}) WHERE campaign_id IS NOT NULL
    )
    SELECT m.campaign_id, m.account_id
    FROM membership AS m JOIN campaigns AS c USING (campaign_id)
    WHERE c.alerted
    ORDER BY m.campaign_id, m.account_id
"""

LAST_SCAN_RUN = """
    SELECT run_id, status, started_at, finished_at
    FROM scan_runs
    ORDER BY run_id DESC
    LIMIT 1
"""


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> pl.DataFrame:
    """Run one SELECT with bound parameters and return its rows as a polars frame.

    A cursor of its own leaves any result the caller has pending on `con` untouched (DuckDB
    refuses relational queries on a connection with an unfinished `execute` result).
    """
    cursor = con.cursor()
    try:
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor.sql(sql, params=params).pl()
    finally:
        cursor.close()


@dataclass(frozen=True)
class ScanRun:
    """The newest row of `scan_runs`, for the report header."""

    run_id: int
    status: str
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class ScanResults:
    """Account decisions, alerts and alert membership as published by the last scan."""

    accounts: pl.DataFrame  # account_id, score, flagged
    alerts: pl.DataFrame  # campaign_id, alert_id, title, severity, score, request_count
    alert_members: pl.DataFrame  # campaign_id, account_id (alerted campaigns only)
    last_run: ScanRun | None


def read_scan_results(con: duckdb.DuckDBPyConnection) -> ScanResults:
    """Read the scan outputs; a store without any account scores is an error (scan first)."""
    if schema_version(con) < SCAN_TABLES_VERSION:
        raise DistillguardError("the store has no scan tables yet; run `distillguard scan` first")
    accounts = query_frame(con, LATEST_ACCOUNT_SCORES).select("account_id", "score", "flagged")
    if accounts.height == 0:
        raise DistillguardError(
            "the store has no scan results (account_scores is empty); run `distillguard scan` first"
        )
    alerts = query_frame(con, ALERTS)
    members = query_frame(con, ALERT_MEMBERS)
    runs = query_frame(con, LAST_SCAN_RUN).rows(named=True)
    last_run = (
        ScanRun(
            run_id=int(runs[0]["run_id"]),
            status=str(runs[0]["status"]),
            started_at=runs[0]["started_at"].isoformat(),
            finished_at=runs[0]["finished_at"].isoformat() if runs[0]["finished_at"] else None,
        )
        if runs
        else None
    )
    return ScanResults(accounts=accounts, alerts=alerts, alert_members=members, last_run=last_run)
