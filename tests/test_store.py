import duckdb
import pytest

from detector import store
from detector.errors import DistillguardError, StoreLockedError


def test_new_store_gets_every_migration(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    assert store.schema_version(con) == store.SCHEMA_VERSION
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    assert {"requests", "accounts", "quarantine", "ingest_runs", "campaigns"} <= tables
    applied = [row[0] for row in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert applied == [m.version for m in store.MIGRATIONS]


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "s.duckdb"
    store.connect(path).close()
    con = store.connect(path)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(store.MIGRATIONS),)


def test_older_store_is_brought_up_to_date(tmp_path):
    path = tmp_path / "s.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR,"
        " applied_at TIMESTAMPTZ)"
    )
    con.execute(store.MIGRATIONS[0].sql)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'm1', now())")
    con.close()
    con = store.connect(path)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM campaigns").fetchone() == (0,)


def test_store_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    con = store.connect(path)
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(DistillguardError, match="newer"):
        store.connect(path)


def test_connection_is_pinned_to_utc(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    hour = con.execute("SELECT hour(TIMESTAMPTZ '2026-03-01 12:30:00+05:00')").fetchone()
    assert hour == (7,)


def test_failed_transaction_leaves_nothing(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError), store.transaction(con):
        con.execute("INSERT INTO verdicts VALUES ('campaign', 'c1', 'confirmed', 'ana', NULL, now())")
        raise RuntimeError("boom")
    assert con.execute("SELECT count(*) FROM verdicts").fetchone() == (0,)


def test_read_only_open_of_a_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(DistillguardError, match="no store"):
        store.connect(tmp_path / "absent.duckdb", read_only=True)


def test_store_held_by_another_process_is_reported_as_locked(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "s.duckdb"
    store.connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        time.sleep(0.2)
        with pytest.raises(StoreLockedError):
            store.connect(path)
    finally:
        holder.kill()
        holder.wait()


def test_env_var_names_the_default_store(monkeypatch, tmp_path):
    monkeypatch.setenv(store.DB_ENV, str(tmp_path / "env.duckdb"))
    assert store.default_db_path() == tmp_path / "env.duckdb"
    monkeypatch.delenv(store.DB_ENV)
    assert str(store.default_db_path()) == store.DEFAULT_DB


def test_session_settings_apply_for_the_block_and_restore_afterwards(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()
    with store.session_settings(con, memory_limit="300MB", preserve_insertion_order=False):
        inside = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        ).fetchall()
    assert inside[0][0] in ("286.1 MiB", "300.0 MB", "300MB")
    assert inside[0][1] is False
    after = con.execute("SELECT current_setting('memory_limit')").fetchall()
    # DuckDB reports the limit rounded to 0.1 of its unit, so the restored value may differ by that.
    assert _bytes(after[0][0]) == pytest.approx(_bytes(before[0][0]), rel=0.01)


def _bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def test_an_invalid_setting_is_a_clear_error_and_changes_nothing(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()
    with (
        pytest.raises(DistillguardError, match="invalid memory_limit 'lots'"),
        store.session_settings(con, memory_limit="lots"),
    ):
        pass
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before  # never set
