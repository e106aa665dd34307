"""Migration 3 rebuilds `requests` with zstd text columns: rows, NOT NULLs and types survive."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from detector import store

TEXT_COLUMNS = ("system_prompt", "prompt", "messages", "tools")


def _store_at_version_2(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR,"
        " applied_at TIMESTAMPTZ)"
    )
    for migration in store.MIGRATIONS[:2]:
        con.execute(migration.sql)
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, now())",
            [migration.version, migration.description],
        )
    con.execute(
        """
        INSERT INTO requests
        SELECT 'req-' || i, TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_seconds(i), 'acct-' || (i % 7),
               NULL, NULL, '203.0.113.' || (i % 250), 'ua', 'm',
               CASE WHEN i % 3 = 0 THEN 'system ' || i END, 'prompt ' || repeat('x', i % 500),
               CASE WHEN i % 2 = 0 THEN json_array(json_object('role', 'user', 'content', 'c' || i)) END,
               NULL, i, 2 * i, 200, NULL, '203.0.113.0/24', 64500, 'AS', 'NL', 'hosting', 1 + i % 2, i
        FROM range(5000) r(i)
        """
    )
    con.close()


def _compression(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    con.execute("CHECKPOINT")
    rows = con.execute(
        "SELECT column_name, compression FROM pragma_storage_info('requests')"
        " WHERE segment_type IN ('VARCHAR', 'JSON')"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for column, compression in rows:
        found.setdefault(column, set()).add(compression)
    return found


def test_existing_requests_are_rebuilt_with_every_row_and_constraint(tmp_path):
    path = tmp_path / "old.duckdb"
    _store_at_version_2(path)
    before = duckdb.connect(str(path))
    rows_before = before.execute("SELECT * FROM requests ORDER BY source_line").fetchall()
    types_before = before.execute("DESCRIBE requests").fetchall()
    before.close()

    con = store.connect(path)
    assert store.schema_version(con) == store.SCHEMA_VERSION >= 3
    assert con.execute("SELECT * FROM requests ORDER BY source_line").fetchall() == rows_before
    assert con.execute("DESCRIBE requests").fetchall() == types_before  # names, types, NULLability
    with pytest.raises(duckdb.ConstraintException):
        con.execute(
            "INSERT INTO requests (request_id, timestamp, account_id, client_ip, model, prompt,"
            " ingest_run_id) VALUES ('r', now(), 'a', '203.0.113.1', 'm', NULL, 1)"
        )
    compression = _compression(con)
    for column in TEXT_COLUMNS:
        if column in compression:  # an all-NULL column has no string segment
            assert compression[column] == {"ZSTD"}, column
    assert compression["prompt"] == {"ZSTD"}
    assert "ZSTD" not in compression["account_id"]  # ids keep DuckDB's dictionary compression


def test_a_new_store_declares_zstd_for_the_text_columns(tmp_path):
    con = store.connect(tmp_path / "new.duckdb")
    [(ddl,)] = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE table_name = 'requests'"
    ).fetchall()
    for column in TEXT_COLUMNS:
        assert f"{column} " in ddl
        declared = ddl.split(f"{column} ", 1)[1].split(",", 1)[0]
        assert "USING COMPRESSION ZSTD" in declared.upper(), column
    assert "USING COMPRESSION" not in ddl.split("request_id ", 1)[1].split(",", 1)[0].upper()
