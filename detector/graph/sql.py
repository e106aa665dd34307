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
    """True when `table` exists (any schema, temp tables included)."""
    return bool(
        scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
    )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Column names of `table` (empty when it does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}
