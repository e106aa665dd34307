"""The feature stage's per-account-day attribute rows, written by hand for campaign tests."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

DAY = "2026-03-01"


def add_attribute_rows(
    con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[str, str, str, int]]
) -> None:
    """(account_id, kind, value, requests) rows of one day into `account_day_attributes`."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS account_day_attributes (account_id VARCHAR, day DATE,"
        " kind VARCHAR, value VARCHAR, requests BIGINT)"
    )
    con.executemany(
        "INSERT INTO account_day_attributes VALUES (?, CAST(? AS DATE), ?, ?, ?)",
        [(account, DAY, kind, value, requests) for account, kind, value, requests in rows],
    )
