"""A fingerprint of everything a graph build reads, so that a build over unchanged inputs can
keep the tables of the previous one instead of redoing them.

The fingerprint covers the parameters (and the public mail domains they resolve to), the
window, the request count of each of its days (the same test that decides whether a day's
activity sketch is reused), every row of `accounts` and `account_features`, the row counts of
the feature stage's per-day tables and of `request_features`, and the columns of the tables
whose presence changes the build. It is kept in `graph_state` with the build's statistics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import duckdb

from detector.graph.activity_sketches import STATE_TABLE
from detector.graph.attributes import load_public_email_domains
from detector.graph.params import GraphParams
from detector.graph.sql import table_columns, table_exists
from detector.graph.window import GraphWindow

FINGERPRINT_KEY = "input_fingerprint"
STATS_KEY = "build_stats"

# Tables whose every row a build may read (they are small: one row per account).
_HASHED_TABLES = ("accounts", "account_features")
# Large tables derived from `requests`: their row counts and columns stand for their content,
# as the per-day request counts do for `requests`.
_COUNTED_TABLES = ("account_daily_features", "account_day_attributes", "request_features")
# The graph's own output tables, which must still hold what the last build wrote.
OUTPUT_TABLES = ("account_attributes", "account_edges", "clusters", "cluster_features")


def _params_text(params: GraphParams) -> str:
    fields = asdict(params)
    if params.public_email_domains is None:
        fields["public_email_domains"] = load_public_email_domains()
    return json.dumps(fields, sort_keys=True, default=lambda v: sorted(v))


def input_fingerprint(
    con: duckdb.DuckDBPyConnection, params: GraphParams, window: GraphWindow, day_counts: str
) -> str:
    """The fingerprint of a build's inputs; `day_counts` names a table of (day, requests)."""
    parts: list[Any] = [_params_text(params), window.describe()]
    parts.append(
        con.execute(
            f"SELECT list(day ORDER BY day), list(requests ORDER BY day) FROM {day_counts}"
        ).fetchall()
    )
    for table in _HASHED_TABLES:
        if table_exists(con, table):
            columns = sorted(table_columns(con, table))
            # the whole row, as a struct: any changed value changes the sum
            parts.append(
                (
                    table,
                    columns,
                    con.execute(
                        f"SELECT count(*), sum(hash(graph_row)) FROM {table} graph_row"
                    ).fetchall(),
                )
            )
    for table in _COUNTED_TABLES:
        if table_exists(con, table):
            columns = sorted(table_columns(con, table))
            parts.append((table, columns, con.execute(f"SELECT count(*) FROM {table}").fetchall()))
    text = json.dumps(parts, default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _state(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute(f"SELECT max(value) FROM {STATE_TABLE} WHERE key = ?", [key]).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def output_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of the graph's output tables."""
    return {
        table: int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        for table in OUTPUT_TABLES
    }


def unchanged_build(con: duckdb.DuckDBPyConnection, fingerprint: str) -> dict[str, Any] | None:
    """The statistics of the last build when it read the same inputs and its tables are intact,
    else None."""
    if _state(con, FINGERPRINT_KEY) != fingerprint:
        return None
    stored = _state(con, STATS_KEY)
    if stored is None:
        return None
    stats: dict[str, Any] = json.loads(stored)
    if stats.get("output_counts") != output_counts(con):
        return None
    return stats


def remember_build(con: duckdb.DuckDBPyConnection, fingerprint: str, stats: dict[str, Any]) -> None:
    """Keep the fingerprint and statistics of the build just made (with its tables' counts)."""
    record = dict(stats, output_counts=output_counts(con))
    con.execute(f"DELETE FROM {STATE_TABLE} WHERE key IN (?, ?)", [FINGERPRINT_KEY, STATS_KEY])
    con.execute(
        f"INSERT INTO {STATE_TABLE} VALUES (?, ?), (?, ?)",
        [FINGERPRINT_KEY, fingerprint, STATS_KEY, json.dumps(record, default=str)],
    )


def forget_build(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the remembered fingerprint: the next build redoes its tables."""
    if table_exists(con, STATE_TABLE):
        con.execute(f"DELETE FROM {STATE_TABLE} WHERE key IN (?, ?)", [FINGERPRINT_KEY, STATS_KEY])
