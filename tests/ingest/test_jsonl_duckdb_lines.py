"""JSON Lines read by DuckDB itself (`JsonLinesReader.file_relation`) store, number and
quarantine exactly what the line-splitter path does; every input DuckDB would read differently
goes the line-splitter way, decided before anything is written."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from ingest_records import assert_balanced, good_record, lines_of

from detector import store
from detector.ingest import ingest_files
from detector.ingest.dedupe import drop_duplicate_requests
from detector.ingest.jsonl_reader import JsonLinesReader, Numbering
from detector.ingest.schema import MAX_RECORD_BYTES, REQUEST_SPEC
from detector.ingest.write import IngestResult, ingest_file


def messy_lines() -> list[dict | str | bytes]:
    """Good records beside every kind of bad line the contract names, blank lines between."""
    return [
        good_record(0),
        "",
        "   \t ",
        json.dumps(good_record(1, region="eu"), separators=(",", ":")),  # unknown key: extra
        "{this is not json",
        "[1, 2]",
        "42",
        "null",
        "{}",
        good_record(2, input_tokens=-1),
        good_record(3, timestamp="yesterday"),
        good_record(4, client_ip="999.1.1.1"),
        good_record(0, prompt="a second copy of request 0"),  # duplicate id within the file
        good_record(5, messages=[{"role": 1, "content": "x"}]),
        good_record(6, prompt="caf\u00e9 \u2615 and an escaped \u0001 control byte"),
        "  " + json.dumps(good_record(7)),  # leading blanks
        json.dumps(good_record(8)) + "  ",  # trailing blanks
        b'{"request_id": "nul\x00inside"}',  # a raw NUL byte: not JSON
        good_record(9, request_id=None),
        good_record(10, tools="search"),
        good_record(11, prompt="long " * 20_000),
        good_record(12, timestamp=1772366400000),
        good_record(13, status_code=True),
        "",
    ]


def messy_bytes(last: bytes) -> bytes:
    return lines_of(messy_lines()) + last


TRUNCATED = json.dumps(good_record(14)).encode()[:40]  # last line cut, no newline
COMPLETE = json.dumps(good_record(15)).encode()  # last line whole, no newline


def snapshot(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    requests = con.execute(
        "SELECT * EXCLUDE (ingest_run_id) FROM requests ORDER BY source_line, request_id"
    ).fetchall()
    quarantine = con.execute(
        "SELECT source, line, reason, raw FROM quarantine ORDER BY line"
    ).fetchall()
    return requests, quarantine


def counts(result: IngestResult) -> tuple[int, int, int, int]:
    return result.read, result.stored, result.duplicates, result.quarantined


@pytest.fixture
def relation_spy(monkeypatch) -> list[bool]:
    """Whether each `file_relation` call of a default reader offered the DuckDB path (True) or declined (False)."""
    used: list[bool] = []
    original = JsonLinesReader.file_relation

    def spy(self, con, path, spec):
        relation = original(self, con, path, spec)
        if self.scan_in_duckdb:  # not the reference runs through the line splitter
            used.append(relation is not None)
        return relation

    monkeypatch.setattr(JsonLinesReader, "file_relation", spy)
    return used


def ingest_both(
    tmp_path: Path, path: Path, reruns: int = 1
) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection, list[list[IngestResult]]]:
    """Ingest `path` (then again, `reruns` times) through the default reader and through the
    line splitter, into two fresh stores; both stores and the results, pairwise."""
    fast_con = store.connect(tmp_path / "duck.duckdb")
    slow_con = store.connect(tmp_path / "split.duckdb")
    results = []
    for _ in range(1 + reruns):
        [fast] = ingest_files(fast_con, [path])
        slow = ingest_file(
            slow_con,
            path,
            JsonLinesReader(scan_in_duckdb=False),
            REQUEST_SPEC,
            drop_duplicate_requests,
        )
        results.append([fast, slow])
    return fast_con, slow_con, results


@pytest.mark.parametrize("numbering", list(Numbering), ids=[n.value for n in Numbering])
@pytest.mark.parametrize("last", [TRUNCATED, COMPLETE], ids=["truncated-last", "complete-last"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_duckdb_lines_store_and_quarantine_row_for_row_as_the_line_splitter(
    tmp_path, monkeypatch, relation_spy, last, compress, numbering
):
    monkeypatch.setattr(JsonLinesReader, "numbering", numbering)
    data = messy_bytes(last)
    path = tmp_path / ("messy.jsonl.gz" if compress else "messy.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)

    fast_con, slow_con, results = ingest_both(tmp_path, path)

    assert relation_spy == [True, True], "both runs should have taken the DuckDB line path"
    [first_fast, first_slow], [again_fast, again_slow] = results
    assert counts(first_fast) == counts(first_slow)
    assert counts(again_fast) == counts(again_slow)
    for result in (first_fast, again_fast):
        assert_balanced(result)
    # 25 lines, three of them blank: 22 records; 7 good ones and a second copy of request 0,
    # plus the last line when it is complete.
    complete = last == COMPLETE
    assert first_fast.read == 22
    assert first_fast.stored == 7 + complete
    assert first_fast.duplicates == 1
    assert (again_fast.stored, again_fast.duplicates) == (0, first_fast.stored + 1)

    fast, slow = snapshot(fast_con), snapshot(slow_con)
    assert fast == slow
    requests, quarantine = fast
    assert len(requests) == first_fast.stored
    # Line numbers count blank lines; a rerun quarantines the same lines again.
    runs = fast_con.execute(
        "SELECT list(line ORDER BY line) FROM quarantine GROUP BY ingest_run_id ORDER BY ingest_run_id"
    ).fetchall()
    assert len(runs) == 2 and runs[0] == runs[1]
    assert len(runs[0][0]) == first_fast.quarantined == 13 + (not complete)
    reasons = {line: reason for _, line, reason, _ in quarantine}
    assert reasons[5] == "not valid JSON"
    assert reasons[6] == "JSON array, expected one object per line"
    assert reasons[12] == "invalid client_ip"
    assert reasons[18] == "not valid JSON"
    if not complete:
        assert reasons[25].startswith("truncated last line")
    assert sum(1 for _, line, _, _ in quarantine if line == 5) == 2  # once per run
    stored_lines = {row[-1] for row in requests}
    assert {1, 4, 15, 16, 17, 21, 22} <= stored_lines
    assert 13 not in stored_lines  # the second copy of request 0 is the duplicate
    fast_con.close()
    slow_con.close()


def fallback_cases() -> dict[str, Callable[[Path], Path]]:
    """Files DuckDB's line reader would read differently (or not at all): each must decline."""

    def write(name: str, data: bytes) -> Callable[[Path], Path]:
        def make(tmp_path: Path) -> Path:
            path = tmp_path / name
            path.write_bytes(data)
            return path

        return make

    good = [json.dumps(good_record(i)).encode() for i in range(3)]
    bare_cr = json.dumps(good_record(9)).replace(', "account_id"', ',\r"account_id"').encode()
    array_file = json.dumps([good_record(1), good_record(2)], indent=2).encode()
    over_limit = json.dumps(good_record(8, prompt="x" * MAX_RECORD_BYTES)).encode()
    member_one, member_two = lines_of([good_record(1)]), lines_of([good_record(2), "oops"])
    return {
        "utf8-bom": write("bom.jsonl", b"\xef\xbb\xbf" + b"\n".join(good) + b"\n"),
        "crlf": write("crlf.jsonl", b"\r\n".join(good) + b"\r\n"),
        "bare-carriage-return": write("cr.jsonl", b"\n".join([good[0], bare_cr, good[1]]) + b"\n"),
        "raw-control-byte": write("ctl.jsonl", b"\n".join([good[0], b"x\x01y", good[1]]) + b"\n"),
        "invalid-utf8": write("u.jsonl", b"\n".join([good[0], b'{"a": "\xff\xfe"}', good[1]])),
        "oversize-line": write("big.jsonl", b"\n".join([good[0], over_limit, good[1]]) + b"\n"),
        "pretty-array-file": write("array.json", array_file),
        "multi-member-gzip": write(
            "two.jsonl.gz", gzip.compress(member_one) + gzip.compress(member_two)
        ),
    }


CASES = fallback_cases()


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_input_duckdb_would_read_differently_goes_the_line_splitter_way(
    tmp_path, relation_spy, case
):
    path = CASES[case](tmp_path)
    fast_con, slow_con, results = ingest_both(tmp_path, path, reruns=0)
    assert relation_spy == [False]
    [[fast, slow]] = results
    assert_balanced(fast)
    assert counts(fast) == counts(slow)
    assert snapshot(fast_con) == snapshot(slow_con)
    # The declined survey ran on its own cursor: the file's transaction committed.
    assert fast_con.execute("SELECT status FROM ingest_runs").fetchall() == [("done",)]
    fast_con.close()
    slow_con.close()


@pytest.mark.parametrize("numbering", list(Numbering), ids=[n.value for n in Numbering])
def test_line_just_under_the_record_limit_is_read_by_duckdb(
    tmp_path, monkeypatch, relation_spy, numbering
):
    """A line of `MAX_RECORD_BYTES` with its newline is a record for both paths (one byte more
    and the line splitter rejects it as too large, which DuckDB's reader declines above)."""
    monkeypatch.setattr(JsonLinesReader, "numbering", numbering)
    base = json.dumps(good_record(1, prompt=""))
    pad = MAX_RECORD_BYTES - 1 - len(base.encode())
    line = json.dumps(good_record(1, prompt="y" * pad))
    assert len(line.encode()) + 1 == MAX_RECORD_BYTES
    path = tmp_path / "edge.jsonl"
    path.write_bytes(lines_of([good_record(0), line, good_record(2)]))
    fast_con, slow_con, results = ingest_both(tmp_path, path, reruns=0)
    assert relation_spy == [True]
    [[fast, slow]] = results
    assert counts(fast) == counts(slow) == (3, 3, 0, 0)
    assert snapshot(fast_con) == snapshot(slow_con)
    fast_con.close()
    slow_con.close()


def test_empty_and_blank_files_read_by_duckdb(tmp_path, relation_spy):
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_bytes(b"")
    blank.write_bytes(b"\n  \n\n")
    con = store.connect(tmp_path / "s.duckdb")
    results = ingest_files(con, [empty, blank])
    assert relation_spy == [True, True]
    assert [counts(r) for r in results] == [(0, 0, 0, 0), (0, 0, 0, 0)]
    con.close()


@pytest.mark.parametrize(
    ("numbering", "cap"), [(Numbering.ORDINALITY, "256MB"), (Numbering.SPLITTER, "384MB")]
)
def test_duckdb_line_path_streams_under_a_small_memory_cap(
    tmp_path, monkeypatch, relation_spy, numbering, cap
):
    """The one statement holds a memory cap well under the default (768 MB) on a file of 60 MB
    of 50 KB lines; the splitter's stream has a few 32 MB chunks in flight, so needs more."""
    monkeypatch.setattr(JsonLinesReader, "numbering", numbering)
    import detector.ingest as ingest
    from detector.ingest import write

    records = [good_record(i, prompt=f"{i} " + "lorem ipsum " * 4200) for i in range(1200)]
    records[700] = good_record(700, input_tokens=-1)
    path = tmp_path / "big.jsonl"
    path.write_bytes(lines_of(records))
    assert path.stat().st_size > 56 * 2**20
    completed: list[int] = []
    whole_file = write._insert_relation

    def recording(*args, **kwargs):
        result = whole_file(*args, **kwargs)
        completed.append(result.appended)
        return result

    monkeypatch.setattr(write, "_insert_relation", recording)
    monkeypatch.setattr(ingest, "INGEST_MEMORY_LIMIT", cap)
    con = store.connect(tmp_path / "s.duckdb")
    [result] = ingest_files(con, [path])
    # Out of memory on two threads, the file is stored again on one (`write.ingest_file`), still
    # by the one statement: never through the batch path.
    assert relation_spy and all(relation_spy)
    assert completed == [1199], "the one-statement path should have stored the file"
    assert counts(result) == (1200, 1199, 0, 1)
    assert con.execute("SELECT line FROM quarantine").fetchall() == [(701,)]
    con.close()
