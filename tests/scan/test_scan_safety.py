"""One scan at a time, a killed scan leaves the store consistent, and `--fail-on-alert`."""

import signal
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

import detector.scan as scan_module
from detector import store
from detector.cli import (
    app,
    scan_cmd,  # noqa: F401  (registers `scan` on the app)
)
from detector.scan import run_scan
from detector.scan_lock import ScanLockedError, acquire, lock_path, release

runner = CliRunner()


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_lock_is_exclusive_and_stale_locks_are_taken_over(tmp_path):
    db = tmp_path / "x.duckdb"
    path = acquire(db)
    with pytest.raises(ScanLockedError):
        acquire(db)  # the same process: refused too
    release(path)
    assert not path.exists()
    # a lock left by a dead process is stale
    dead = python("import os; print(os.getpid())")
    pid = int(dead.communicate()[0])
    lock_path(db).write_text(f"{pid}\n")
    release(acquire(db))


def test_second_concurrent_scan_exits_3_with_a_clear_message(built_store, monkeypatch, stages):
    db, _ = built_store
    holder = python(
        """
        import sys, time
        from pathlib import Path
        from detector.scan_lock import scan_lock
        with scan_lock(Path(sys.argv[1])):
            print("locked", flush=True)
            time.sleep(60)
        """,
        str(db),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(scan_module, "DEFAULT_STAGES", stages)
        result = runner.invoke(app, ["scan", "--db", str(db)])
        assert result.exit_code == 3
        assert "another scan is running" in result.output and f"pid {holder.pid}" in result.output
        assert result.output.strip().count("\n") == 0
    finally:
        holder.kill()
        holder.wait()


def test_a_process_holding_the_store_also_blocks_the_scan(built_store, monkeypatch, stages):
    # DuckDB's own file lock: another writer (e.g. an ingest) has the store open.
    db, _ = built_store
    holder = python(
        """
        import sys, time
        from detector import store
        con = store.connect(sys.argv[1])
        print("open", flush=True)
        time.sleep(60)
        """,
        str(db),
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setattr(scan_module, "DEFAULT_STAGES", stages)
        result = runner.invoke(app, ["scan", "--db", str(db)])
        assert result.exit_code == 3
        assert "in use by another process" in result.output
        assert not lock_path(db).exists()  # our lock was released on the way out
    finally:
        holder.kill()
        holder.wait()


KILLED_SCAN = """
import os, signal, sys
from pathlib import Path
from detector.scan import run_scan, scoring_stage, rules_stage, campaigns_stage

def killed(ctx):
    os.kill(os.getpid(), signal.SIGKILL)

run_scan(Path(sys.argv[1]), stages=[("scoring", scoring_stage), ("rules", rules_stage),
                                    ("campaigns", campaigns_stage), ("boom", killed)])
"""


def test_killed_scan_leaves_previous_results_and_next_scan_completes(tmp_path, rebuild, stages):
    db = tmp_path / "kill.duckdb"
    rebuild(db, attack_size=12)
    first = run_scan(db, stages=stages)
    before = _snapshot(db)
    rebuild(db, attack_size=12, extra_attack=8, ingest_run=2)
    proc = python(KILLED_SCAN, str(db))
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert lock_path(db).exists()  # left behind by the dead process
    assert _snapshot(db) == before  # nothing of the killed run was published
    con = store.connect(db)
    assert con.execute("SELECT status FROM scan_runs ORDER BY run_id").fetchall() == [("done",), ("running",)]
    con.close()
    after = run_scan(db, stages=stages)  # takes over the stale lock, redoes the work
    assert [c.campaign_id for c in after.updated] == [first.new[0].campaign_id]
    assert after.new_requests == 8 * 3
    con = store.connect(db)
    statuses = con.execute("SELECT status FROM scan_runs ORDER BY run_id").fetchall()
    con.close()
    assert statuses == [("done",), ("abandoned",), ("done",)]


def _snapshot(db):
    con = store.connect(db)
    try:
        return (
            con.execute("SELECT campaign_id, score, alerted, request_count FROM campaigns ORDER BY 1").fetchall(),
            con.execute("SELECT * FROM campaign_accounts ORDER BY 1, 2").fetchall(),
            con.execute("SELECT account_id, score, flagged FROM account_scores ORDER BY 1").fetchall(),
        )
    finally:
        con.close()


def test_fail_on_alert_exits_1_only_when_new_alerts_appear(built_store, monkeypatch, stages):
    db, _ = built_store
    monkeypatch.setattr(scan_module, "DEFAULT_STAGES", stages)
    first = runner.invoke(app, ["scan", "--db", str(db), "--fail-on-alert"])
    assert first.exit_code == 1, first.output
    assert "1 new" in first.output and "ALERT" in first.output
    second = runner.invoke(app, ["scan", "--db", str(db), "--fail-on-alert"])
    assert second.exit_code == 0, second.output
    assert "0 new" in second.output
    plain = runner.invoke(app, ["scan", "--db", str(db)])
    assert plain.exit_code == 0


def test_scan_cli_usage_and_missing_store(tmp_path):
    missing = runner.invoke(app, ["scan", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 3 and "no store" in missing.output
    bad = runner.invoke(app, ["scan", "--db", str(tmp_path / "none.duckdb"), "--since", "yesterday"])
    assert bad.exit_code == 2
    reversed_window = runner.invoke(
        app, ["scan", "--db", str(tmp_path / "x.duckdb"), "--since", "2026-03-02", "--until", "2026-03-01"]
    )
    assert reversed_window.exit_code == 3 and "before --until" in reversed_window.output
