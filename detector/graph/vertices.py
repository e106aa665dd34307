"""Dense integer ids for accounts, so the large joins and group-bys run on integers."""

from __future__ import annotations

import duckdb

from detector.graph.sql import scalar

VERTICES_TABLE = "graph_vertices"


def write_vertices(con: duckdb.DuckDBPyConnection) -> int:
    """Fill temp table `graph_vertices(account_id, vertex)`, vertices in account-id order."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {VERTICES_TABLE} AS
        SELECT account_id, CAST(row_number() OVER (ORDER BY account_id) - 1 AS INTEGER) AS vertex
        FROM (SELECT account_id FROM requests UNION SELECT account_id FROM accounts)
        """
    )
    return int(scalar(con, f"SELECT count(*) FROM {VERTICES_TABLE}"))
