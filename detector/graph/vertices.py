"""Dense integer ids for the accounts inside the look-back window, so the large joins and
group-bys run on integers."""

from __future__ import annotations

import duckdb

from detector.graph.sql import scalar
from detector.graph.window import GraphWindow

VERTICES_TABLE = "graph_vertices"


def write_vertices(
    con: duckdb.DuckDBPyConnection, window: GraphWindow, *, from_feature_tables: bool
) -> int:
    """Fill temp table `graph_vertices(account_id, vertex)`, vertices in account-id order.

    The accounts with a request in the window (read from the feature stage's per-day table
    when it covers the store) or a sign-up in it.
    """
    active = (
        "SELECT DISTINCT account_id FROM account_daily_features WHERE day >= ?"
        if from_feature_tables
        else 'SELECT DISTINCT account_id FROM requests WHERE "timestamp" >= ?'
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {VERTICES_TABLE} AS
        SELECT account_id, CAST(row_number() OVER (ORDER BY account_id) - 1 AS INTEGER) AS vertex
        FROM ({active}
              UNION SELECT account_id FROM accounts WHERE created_at >= ?)
        """,
        [window.start_day if from_feature_tables else window.start, window.start],
    )
    return int(scalar(con, f"SELECT count(*) FROM {VERTICES_TABLE}"))
