"""Small helpers for reading single values and the catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None; reads the whole (one-row) result."""
    rows = con.execute(sql, list(parameters)).fetchall()
    return rows[0][0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when `table` exists in the store or as a temp table (attached databases, which
    an unqualified name does not reach, do not count)."""
    return bool(
        scalar(
            con,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
            " AND table_catalog IN (current_database(), 'temp')",
            [table],
        )
    )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Column names of `table` (empty when it does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        " AND table_catalog IN (current_database(), 'temp')",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


# UTC day number (days since 1970-01-01, floored) of a TIMESTAMPTZ on integers: several times
# cheaper than CAST(ts AS DATE), which goes through the time-zone library. The offset of a
# million days makes the integer division floor for instants before 1970 too.
_UTC_DAY_MACRO = """
CREATE OR REPLACE TEMP MACRO graph_utc_day(ts) AS
    DATE '1970-01-01'
    + CAST((epoch_us(ts) + 86400000000000000) // 86400000000 - 1000000 AS INTEGER)
"""


def define_utc_day(con: duckdb.DuckDBPyConnection) -> None:
    """Define the SQL macro `graph_utc_day(ts)`: the UTC date of a TIMESTAMPTZ."""
    con.execute(_UTC_DAY_MACRO)
