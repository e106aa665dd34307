"""`distillguard ingest` as users meet it: counts per file and in total, exit 3 on bad paths."""

from __future__ import annotations

import os

import duckdb
import pytest
from ingest_records import good_record
from typer.testing import CliRunner

from detector.cli import app

runner = CliRunner()


def test_prints_counts_per_file_and_total(tmp_path, write_jsonl):
    a = write_jsonl("a.jsonl", [good_record(i) for i in range(3)] + ["bad"])
    b = write_jsonl("b.jsonl", [good_record(i) for i in range(2, 5)])
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", str(a), str(b), "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"{a} (requests, jsonl): read 4  stored 3  duplicates 0  quarantined 1" in lines
    assert f"{b} (requests, jsonl): read 3  stored 2  duplicates 1  quarantined 0" in lines
    assert "total (2 files): read 7  stored 5  duplicates 1  quarantined 1" in lines


def test_accounts_option(tmp_path, write_jsonl):
    requests = write_jsonl("r.jsonl", [good_record(1)])
    accounts = write_jsonl("acc.jsonl", [{"account_id": "acct-1", "tier": "free"}])
    db = tmp_path / "s.duckdb"
    result = runner.invoke(
        app, ["ingest", str(requests), "--accounts", str(accounts), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert (
        f"{accounts} (accounts, jsonl): read 1  stored 1  duplicates 0  quarantined 0"
        in result.output
    )
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT account_id, tier FROM accounts").fetchall() == [
            ("acct-1", "free")
        ]


def test_missing_path_exits_3_with_one_line_and_writes_nothing(tmp_path, write_jsonl):
    good = write_jsonl("a.jsonl", [good_record(1)])
    db = tmp_path / "s.duckdb"
    result = runner.invoke(
        app, ["ingest", str(good), str(tmp_path / "absent.jsonl"), "--db", str(db)]
    )
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0
    assert "absent.jsonl: no such file" in result.output
    assert not db.exists()  # checked before the store is opened: nothing half-written


def test_missing_accounts_path_exits_3(tmp_path, write_jsonl):
    good = write_jsonl("a.jsonl", [good_record(1)])
    result = runner.invoke(
        app,
        [
            "ingest",
            str(good),
            "--accounts",
            str(tmp_path / "nope.csv"),
            "--db",
            str(tmp_path / "s.duckdb"),
        ],
    )
    assert result.exit_code == 3
    assert "nope.csv" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_path_exits_3(tmp_path, write_jsonl):
    path = write_jsonl("locked.jsonl", [good_record(1)])
    path.chmod(0)
    result = runner.invoke(app, ["ingest", str(path), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 3
    assert "cannot read" in result.output


def test_directory_path_exits_3(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 3
    assert "is a directory" in result.output


def test_unrecognised_content_exits_3(tmp_path):
    path = tmp_path / "mystery.bin"
    path.write_bytes(b"\x00\x01\x02 binary")
    result = runner.invoke(app, ["ingest", str(path), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 3
    assert "cannot tell the format" in result.output


def test_explicit_format_overrides_detection(tmp_path, write_jsonl):
    path = write_jsonl("records.txt", [good_record(1)])
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", str(path), "--format", "jsonl", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "stored 1" in result.output
