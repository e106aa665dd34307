"""Storage of the feature tables: the chosen column compression, and stores made before it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from feature_store import T0, add_requests

from detector import store
from detector.features import compute_features, tables

# (table, column) pairs whose compression the table definition fixes
_FIXED = (
    ("request_features", "request_id"),
    ("account_day_attributes", "account_id"),
    ("account_day_attributes", "value"),
    ("prompt_labels", "evidence"),
)


def _traffic(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(
        con,
        [
            {
                "account_id": f"acct_{i % 7}",
                "timestamp": T0 + timedelta(minutes=37 * i),
                "prompt": f"Summarize report number {i % 5} in three bullet points.",
                "client_ip": f"203.0.113.{i % 11}",
            }
            for i in range(400)
        ],
    )


def _compressions(con: duckdb.DuckDBPyConnection, table: str, column: str) -> set[str]:
    rows = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info(?)"
        " WHERE column_name = ? AND segment_type <> 'VALIDITY'",
        [table, column],
    ).fetchall()
    return {row[0] for row in rows}


def test_new_store_writes_the_chosen_columns_uncompressed(
    con: duckdb.DuckDBPyConnection, plain_labels: None
) -> None:
    _traffic(con)
    compute_features(con)
    con.execute("CHECKPOINT")
    for table, column in _FIXED[:3]:
        assert _compressions(con, table, column) == {"Uncompressed"}, (table, column)
    # the other text columns keep DuckDB's own choice (repeated values: dictionary)
    assert _compressions(con, "request_features", "account_id") != {"Uncompressed"}


def test_prompt_labels_evidence_is_stored_uncompressed(con: duckdb.DuckDBPyConnection) -> None:
    tables.ensure_feature_tables(con)
    con.execute(
        "INSERT INTO prompt_labels SELECT i, 1, i, sha256(CAST(i AS VARCHAR))::BLOB"
        " FROM range(5000) t(i)"
    )
    con.execute("CHECKPOINT")
    assert _compressions(con, "prompt_labels", "evidence") == {"Uncompressed"}


def _old_definitions() -> str:
    """The feature tables as stores created before the compression clauses have them."""
    return re.sub(r" USING COMPRESSION \w+", "", tables.FEATURE_TABLES + tables.PROMPT_LABELS_TABLE)


def test_store_with_old_table_definitions_gets_the_same_features(
    tmp_path: Path, plain_labels: None
) -> None:
    assert "USING COMPRESSION" not in _old_definitions()
    stores = {}
    for name in ("old", "new"):
        con = store.connect(tmp_path / f"{name}.duckdb")
        if name == "old":
            con.execute(_old_definitions())
        _traffic(con)
        compute_features(con)
        con.execute("CHECKPOINT")
        stores[name] = con
    old, new = stores["old"], stores["new"]
    # the old definition is left as it was (CREATE TABLE IF NOT EXISTS)
    assert _compressions(old, "request_features", "request_id") != {"Uncompressed"}
    for table in ("request_features", "account_daily_features", "account_day_attributes"):
        rows = [con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for con in (old, new)]
        assert rows[0] == rows[1] and rows[0], table
    for con in stores.values():
        con.close()


@pytest.mark.parametrize("table", ["request_features", "account_day_attributes", "prompt_labels"])
def test_fixed_compression_is_declared_in_the_definition(table: str) -> None:
    ddl = tables.FEATURE_TABLES + tables.PROMPT_LABELS_TABLE
    body = ddl[ddl.index(f"CREATE TABLE IF NOT EXISTS {table} (") :]
    body = body[: body.index(");")]
    for fixed_table, column in _FIXED:
        if fixed_table == table:
            assert re.search(rf"\n\s+{column}\s+\w+ USING COMPRESSION uncompressed", body), column
