"""Keep the store's keys unique after a file's rows are appended (inside the file's transaction).

Rows are appended batch by batch, then one query per file removes what was already there: for
requests the first stored copy wins (an id already stored is a no-op), for accounts the latest
line wins and an unchanged account is a no-op. One join per file, not per batch, keeps the
cost flat as the store grows.
"""

from __future__ import annotations

import duckdb

from detector.ingest.readers import quoted
from detector.ingest.schema import ACCOUNT_SPEC


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def drop_duplicate_requests(con: duckdb.DuckDBPyConnection, run_id: int) -> int:
    """Delete this run's requests whose id was stored before or earlier in the file; how many."""
    return _count(
        con.execute(
            """
            DELETE FROM requests WHERE rowid IN (
                SELECT rid FROM (
                    SELECT rowid AS rid, ingest_run_id = $run AS fresh,
                           row_number() OVER (PARTITION BY request_id
                                              ORDER BY ingest_run_id = $run, source_line) AS rank
                    FROM requests
                    WHERE request_id IN (SELECT request_id FROM requests WHERE ingest_run_id = $run)
                ) WHERE fresh AND rank > 1
            )
            """,
            {"run": run_id},
        )
    )


def drop_duplicate_accounts(con: duckdb.DuckDBPyConnection, run_id: int) -> int:
    """Latest wins: keep each account's last line in this run, drop it if unchanged from the
    stored row, else replace the stored row. Returns how many of this run's rows were dropped."""
    superseded = _count(
        con.execute(
            """
            DELETE FROM accounts WHERE rowid IN (
                SELECT rid FROM (
                    SELECT rowid AS rid,
                           row_number() OVER (PARTITION BY account_id ORDER BY source_line DESC) AS rank
                    FROM accounts WHERE ingest_run_id = $run
                ) WHERE rank > 1
            )
            """,
            {"run": run_id},
        )
    )
    same = " AND ".join(
        f"n.{quoted(name)} IS NOT DISTINCT FROM o.{quoted(name)}"
        for name in (*ACCOUNT_SPEC.names, "extra")
    )
    unchanged = _count(
        con.execute(
            f"""
            DELETE FROM accounts WHERE rowid IN (
                SELECT n.rowid FROM accounts n
                JOIN accounts o ON o.account_id = n.account_id AND o.ingest_run_id <> $run
                WHERE n.ingest_run_id = $run AND {same}
            )
            """,
            {"run": run_id},
        )
    )
    con.execute(
        """
        DELETE FROM accounts
        WHERE ingest_run_id <> $run
          AND account_id IN (SELECT account_id FROM accounts WHERE ingest_run_id = $run)
        """,
        {"run": run_id},
    )
    return superseded + unchanged
