"""Atomic per file: a run killed with SIGKILL mid-file leaves the store as it was before that
file, and a rerun completes it without duplicates. Tested with a real subprocess and kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
from ingest_records import good_record

from detector import store
from detector.errors import InputError
from detector.ingest import check_readable, ingest_files

CHILD = textwrap.dedent(
    """
    import sys
    from detector import store
    from detector.ingest import ingest_files, lines, write
    from detector.ingest.jsonl_reader import JsonLinesReader

    JsonLinesReader.scan_in_duckdb = False  # the line-splitter path, batch by batch
    lines.CHUNK_BYTES = 64 * 1024  # many small batches, so the kill lands mid-file
    original = write._split_batch

    def announcing(*args, **kwargs):
        result = original(*args, **kwargs)
        print("batch", flush=True)
        return result

    write._split_batch = announcing
    con = store.connect(sys.argv[1])
    ingest_files(con, [sys.argv[2]])
    print("finished", flush=True)
    """
)


def write_records(path, start, stop):
    with path.open("w") as handle:
        for index in range(start, stop):
            handle.write(json.dumps(good_record(index, prompt="p" * 300)) + "\n")


def counts(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT (SELECT count(*) FROM requests), (SELECT count(DISTINCT request_id) FROM requests),"
            " (SELECT count(*) FROM ingest_runs), (SELECT count(*) FROM quarantine)"
        ).fetchone()


def test_sigkill_mid_file_leaves_the_store_as_before_and_rerun_completes(tmp_path):
    db = tmp_path / "s.duckdb"
    before = tmp_path / "before.jsonl"
    write_records(before, 0, 1_000)
    con = store.connect(db)
    ingest_files(con, [before])
    con.close()
    assert counts(db) == (1_000, 1_000, 1, 0)

    big = tmp_path / "big.jsonl"
    write_records(big, 500, 30_500)  # 500 ids overlap the first file
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(big)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    seen = 0
    deadline = time.monotonic() + 120
    while seen < 3 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        seen += line.startswith("batch")
    assert seen == 3, "the child never got mid-file"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert counts(db) == (1_000, 1_000, 1, 0)  # as before the killed file: no rows, no run

    con = store.connect(db)
    [result] = ingest_files(con, [big])
    con.close()
    assert (result.read, result.stored, result.duplicates) == (30_000, 29_500, 500)
    assert counts(db) == (30_500, 30_500, 2, 0)


def test_failed_file_is_rolled_back_and_recorded(tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    path = tmp_path / "a.jsonl"
    write_records(path, 0, 10)
    con = store.connect(db)
    from detector.ingest import write
    from detector.ingest.jsonl_reader import JsonLinesReader

    def broken(*args, **kwargs):
        raise InputError("simulated read failure")

    monkeypatch.setattr(JsonLinesReader, "scan_in_duckdb", False)
    monkeypatch.setattr(write, "_split_batch", broken)
    with pytest.raises(InputError):
        ingest_files(con, [path])
    assert con.execute("SELECT count(*) FROM requests").fetchone() == (0,)
    assert con.execute("SELECT status, message FROM ingest_runs").fetchall() == [
        ("failed", "simulated read failure")
    ]


def test_unreadable_file_is_reported_before_anything_is_written(tmp_path, monkeypatch):
    path = tmp_path / "a.jsonl"
    path.write_text("{}\n")
    real_open = type(path).open

    def refusing(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(type(path), "open", refusing)
    with pytest.raises(InputError, match="cannot read: Permission denied"):
        check_readable([path])
