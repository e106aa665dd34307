"""`distillguard dashboard`: help, refusal without a store, and catching up on review tables."""

from __future__ import annotations

from typer.testing import CliRunner

from detector import store
from detector.cli import app
from detector.cli.dashboard_cmd import refresh_review_tables
from detector.review import drop_review_tables

runner = CliRunner()


def test_help_shows_the_local_default_and_an_example():
    result = runner.invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "Example" in result.output


def test_a_missing_store_exits_3_with_one_line(tmp_path):
    result = runner.invoke(app, ["dashboard", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 3
    assert "no store at" in result.output


def test_review_tables_are_built_for_a_store_scanned_without_them(review_db):
    con = store.connect(review_db)
    drop_review_tables(con)
    con.close()
    assert refresh_review_tables(review_db) == "built the review tables for the last scan"
    assert refresh_review_tables(review_db) is None  # up to date now
    con = store.connect(review_db, read_only=True)
    try:
        assert con.execute("SELECT scan_run_id FROM dash_meta").fetchall() == con.execute(
            "SELECT max(run_id) FROM scan_runs WHERE status = 'done'").fetchall()
    finally:
        con.close()


def test_an_unscanned_store_is_left_alone_with_a_hint(tmp_path):
    db = tmp_path / "fresh.duckdb"
    store.connect(db).close()
    assert "run `distillguard scan` first" in (refresh_review_tables(db) or "")
