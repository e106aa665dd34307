"""Helpers for the feature tests: write requests compactly, read an account's features."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

T0 = datetime(2026, 3, 2, tzinfo=UTC)

_DEFAULTS: dict[str, Any] = {
    "api_key_id": None,
    "org_id": None,
    "client_ip": "198.51.100.7",
    "user_agent": "python-httpx/0.27.0",
    "model": "frontier-large",
    "system_prompt": None,
    "prompt": "hello there",
    "tools": None,
    "input_tokens": 100,
    "output_tokens": 200,
    "status_code": 200,
    "ip_prefix": "198.51.100.0/24",
    "asn": 64500,
    "network_class": "residential",
}
_COLUMNS = ["request_id", "timestamp", "account_id", *_DEFAULTS]


def add_requests(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert requests given as dicts of the columns that matter; the rest take defaults."""
    start = con.execute("SELECT count(*) FROM requests").fetchall()[0]
    offset = int(start[0]) if start else 0
    records = []
    for index, row in enumerate(rows):
        record = {**_DEFAULTS, "request_id": f"r{offset + index:07d}", **row}
        records.append({name: record[name] for name in _COLUMNS})
    frame = pl.DataFrame(
        records,
        schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "asn": pl.Int64},
        infer_schema_length=None,
    )
    con.register("_new_requests", frame)
    con.execute(
        f"INSERT INTO requests ({', '.join(_quoted(c) for c in _COLUMNS)}, ingest_run_id) "
        f"SELECT {', '.join(_quoted(c) for c in _COLUMNS)}, 1 FROM _new_requests"
    )
    con.unregister("_new_requests")


def _quoted(column: str) -> str:
    return f'"{column}"'


def account_row(con: duckdb.DuckDBPyConnection, account_id: str) -> dict[str, Any]:
    """One row of account_features as a dict."""
    frame = pl.from_arrow(
        con.sql(
            "SELECT * FROM account_features WHERE account_id = ?", params=[account_id]
        ).to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame) and frame.height == 1, account_id
    return frame.row(0, named=True)
