"""The Parquet whole-file fast path stores exactly what the generic batch path stores; a reader
with only `batches` + `canonical` still ingests; gzip CSV; a file that is one JSON array."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from ingest_records import assert_balanced, good_record, quarantine_reasons

from detector import store
from detector.ingest import ingest_files
from detector.ingest.dedupe import drop_duplicate_requests
from detector.ingest.jsonl_reader import WHOLE_ARRAY_REASON
from detector.ingest.parquet_reader import ParquetReader
from detector.ingest.readers import Batch
from detector.ingest.schema import REQUEST_SPEC, RecordSpec
from detector.ingest.write import IngestResult, ingest_file

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


class BatchOnlyReader:
    """A reader with nothing but the `Reader` protocol (no `file_relation` fast path)."""

    format = "parquet"

    def __init__(self) -> None:
        self._inner = ParquetReader(batch_rows=3)

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        return self._inner.batches(path, spec)

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        return self._inner.canonical(table, spec)


def tricky_parquet(path: Path) -> None:
    """Typed columns of every mapped kind, with good rows and rows breaking one rule each."""
    n = 10
    stamp = datetime(2026, 3, 1, 12, tzinfo=UTC)
    messages = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]] * n
    messages[2] = [{"role": None, "content": "x"}]  # role missing: quarantined
    messages[3] = []  # an empty conversation is fine
    messages[4] = None
    tools: list[list[str | None] | None] = [["search"]] * n
    tools[5] = ["search", None]  # a null tool: quarantined
    tools[6] = None
    table = pa.table(
        {
            "request_id": [f"req-{i}" for i in range(n - 1)] + ["req-3"],  # last repeats row 4
            "timestamp": pa.array(
                [stamp] * 7 + [datetime(1990, 1, 1, tzinfo=UTC), stamp, stamp],
                pa.timestamp("us", tz="UTC"),
            ),
            "account_id": [f"acct-{i % 3}" for i in range(n)],
            "client_ip": ["203.0.113.7"] * 8 + ["not-an-ip", "2001:db8::1"],
            "model": ["m"] * n,
            "prompt": [f"prompt {i}" for i in range(n)],
            "messages": pa.array(messages, pa.list_(MESSAGE)),
            "tools": pa.array(tools, pa.list_(pa.string())),
            "input_tokens": pa.array([5, -1] + [5] * (n - 2), pa.int32()),
            "output_tokens": pa.array([2**64 - 1] + [7] * (n - 1), pa.uint64()),
            "status_code": pa.array([200] * n, pa.int16()),
            "region": ["eu"] * n,  # unknown: kept in `extra`
            "score": [0.5] * n,
        }
    )
    pq.write_table(table, path)


def stored(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    requests = con.execute(
        "SELECT * EXCLUDE (ingest_run_id) FROM requests ORDER BY source_line"
    ).fetchall()
    quarantine = con.execute("SELECT line, reason, raw FROM quarantine ORDER BY line").fetchall()
    return requests, quarantine


def test_parquet_fast_path_stores_what_the_batch_path_stores(tmp_path, monkeypatch):
    path = tmp_path / "tricky.parquet"
    tricky_parquet(path)
    used: list[bool] = []
    original = ParquetReader.file_relation

    def spy(self, work, file, spec):
        relation = original(self, work, file, spec)
        used.append(relation is not None)
        return relation

    monkeypatch.setattr(ParquetReader, "file_relation", spy)
    fast_con = store.connect(tmp_path / "fast.duckdb")
    [fast] = ingest_files(fast_con, [path])
    assert used == [True]

    slow_con = store.connect(tmp_path / "slow.duckdb")
    slow = ingest_file(slow_con, path, BatchOnlyReader(), REQUEST_SPEC, drop_duplicate_requests)

    for result in (fast, slow):
        assert_balanced(result)
        assert (result.read, result.stored, result.duplicates) == (10, 3, 1)
    assert stored(fast_con) == stored(slow_con)
    reasons = quarantine_reasons(fast_con)
    assert reasons == {
        1: "output_tokens out of range",
        2: "negative input_tokens",
        3: "messages items must be {role: string, content: string}",
        6: "tools items must be tool names or tool definition objects",
        8: "timestamp out of range (2000-2100)",
        9: "invalid client_ip",
    }
    row = fast_con.execute(
        "SELECT extra ->> 'region', messages, tools, input_tokens FROM requests WHERE source_line = 4"
    ).fetchall()
    assert row == [("eu", "[]", '["search"]', 5)]
    fast_con.close()
    slow_con.close()


def test_parquet_with_an_unmapped_column_type_falls_back_to_batches(con, tmp_path):
    path = tmp_path / "blob.parquet"
    record = good_record(0, messages=None, tools=None, user_agent=None)
    table = pa.table({key: [value] for key, value in record.items()})
    table = table.append_column("user_agent", pa.array([b"curl"], pa.binary()))
    pq.write_table(table, path)
    assert ParquetReader().file_relation(duckdb.connect(), path, REQUEST_SPEC) is None
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (1, 0, 1)
    assert quarantine_reasons(con) == {1: "user_agent must be a string"}


def test_gzip_csv_stores_the_same_rows_as_plain_csv(tmp_path):
    records = [good_record(i) for i in range(50)] + [good_record(50, input_tokens=-3)]
    table = pa.table(
        {
            key: [json.dumps(r[key]) if isinstance(r[key], list) else str(r[key]) for r in records]
            for key in records[0]
        }
    )
    plain = tmp_path / "requests.csv"
    pacsv.write_csv(table, plain)
    packed = tmp_path / "requests.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    results: list[IngestResult] = []
    rows = []
    for name, path in (("plain", plain), ("gzip", packed)):
        con = store.connect(tmp_path / f"{name}.duckdb")
        [result] = ingest_files(con, [path], fmt="auto")
        results.append(result)
        rows.append(stored(con))
        con.close()
    assert [(r.read, r.stored, r.quarantined) for r in results] == [(51, 50, 1)] * 2
    assert rows[0] == rows[1]


def test_corrupt_gzip_csv_fails_with_input_error(con, tmp_path):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(gzip.compress(b"request_id,prompt\n" + b"r,p\n" * 1000)[:60])
    from detector.errors import InputError

    with pytest.raises(InputError):
        ingest_files(con, [path], fmt="csv")
    assert con.execute("SELECT count(*) FROM requests").fetchall() == [(0,)]


def test_a_file_that_is_one_json_array_is_quarantined_once(con, tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([good_record(1), good_record(2)], indent=2))
    [result] = ingest_files(con, [path], fmt="jsonl")
    assert (result.read, result.stored, result.quarantined) == (1, 0, 1)
    [(line, reason, raw)] = con.execute("SELECT line, reason, raw FROM quarantine").fetchall()
    assert (line, reason) == (1, WHOLE_ARRAY_REASON)
    assert raw.startswith("[") and '"request_id": "req-000001"' in raw


def test_a_one_line_array_among_objects_is_still_one_bad_line(con, write_jsonl):
    path = write_jsonl(
        "mixed.jsonl", [json.dumps([good_record(1)]), good_record(2), good_record(3)]
    )
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    assert quarantine_reasons(con) == {1: "JSON array, expected one object per line"}


def test_jsonl_progress_advances_batch_by_batch_to_the_end(con, tmp_path, monkeypatch):
    from contextlib import contextmanager

    from detector.ingest import jsonl_reader, write

    positions: list[int] = []

    @contextmanager
    def recording(label, total, enabled):
        assert enabled
        yield positions.append

    monkeypatch.setattr(write, "file_progress", recording)
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(good_record(i)) + "\n" for i in range(1_000)))
    monkeypatch.setattr(jsonl_reader.lines, "CHUNK_BYTES", path.stat().st_size // 5)
    monkeypatch.setattr(jsonl_reader.JsonLinesReader, "scan_in_duckdb", False)
    [result] = ingest_files(con, [path], progress=True)
    assert result.stored == 1_000
    assert positions == sorted(positions) and positions[-1] == path.stat().st_size
    assert len(positions) > 1


@pytest.fixture
def progress_positions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions reported to the progress bar, which counts as shown."""
    from contextlib import contextmanager

    from detector.ingest import progress

    positions: list[int] = []

    @contextmanager
    def recording(label, total, enabled):
        yield positions.append

    monkeypatch.setattr(progress, "file_progress", recording)
    monkeypatch.setattr(progress, "shows_progress", lambda enabled: enabled)
    return positions


def test_parquet_progress_follows_the_insert_statement_to_the_end(con, tmp_path, progress_positions):
    positions = progress_positions
    records = [good_record(i, tools=["search"]) for i in range(1_000)]
    path = tmp_path / "requests.parquet"
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=100)
    [result] = ingest_files(con, [path], progress=True)
    assert result.stored == 1_000
    assert positions and positions[-1] == path.stat().st_size
    assert positions == sorted(positions)


def test_statement_progress_reports_a_running_statement(tmp_path, monkeypatch, progress_positions):
    from detector.ingest import progress

    positions = progress_positions
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.02)
    work = duckdb.connect()
    setting = "SELECT current_setting('enable_progress_bar_print')"
    before = work.execute(setting).fetchall()
    with progress.statement_progress(work, "q", 1_000, True):
        work.execute("SELECT sum(a.i * b.j) FROM range(40_000_000) a(i), range(3) b(j)").fetchall()
    assert positions[-1] == 1_000
    assert any(0 < position < 1_000 for position in positions)  # seen while it ran
    assert work.execute(setting).fetchall() == before  # DuckDB's own bar stays as it was


@pytest.mark.parametrize("progress", [False, True])
def test_a_corrupt_parquet_file_fails_whole_and_is_recorded(con, tmp_path, monkeypatch, progress):
    from detector.errors import InputError
    from detector.ingest import progress as progress_module

    monkeypatch.setattr(progress_module, "shows_progress", lambda enabled: enabled)
    path = tmp_path / "torn.parquet"
    records = [good_record(i, messages=None, tools=["search"]) for i in range(3_000)]
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=500)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2_000] = bytes(2_000)  # a torn page in the middle row groups
    path.write_bytes(bytes(data))

    with pytest.raises(InputError, match="cannot read"):
        ingest_files(con, [path], progress=progress)
    assert con.execute("SELECT count(*) FROM requests").fetchall() == [(0,)]
    assert con.execute("SELECT status FROM ingest_runs").fetchall() == [("failed",)]
    [good] = ingest_files(con, [tmp_path / _good_copy(tmp_path, records)])  # the store still works
    assert (good.read, good.stored) == (3_000, 3_000)


def _good_copy(tmp_path: Path, records: list[dict[str, object]]) -> str:
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "whole.parquet")
    return "whole.parquet"


def test_parquet_rows_already_stored_are_duplicates_and_the_accounting_holds(con, tmp_path):
    first = [good_record(i, tools=["search"]) for i in range(0, 60)]
    second = [good_record(i, tools=["search"]) for i in range(40, 100)]
    second[5] = good_record(45, input_tokens=-2, tools=["search"])  # stored before, and bad
    second.append(good_record(99, tools=["search"]))  # repeats a row of its own file
    for name, records in (("first", first), ("second", second)):
        pq.write_table(pa.Table.from_pylist(records), tmp_path / f"{name}.parquet")

    [a] = ingest_files(con, [tmp_path / "first.parquet"])
    [b] = ingest_files(con, [tmp_path / "second.parquet"])
    [c] = ingest_files(con, [tmp_path / "second.parquet"])  # all of it again

    for result in (a, b, c):
        assert_balanced(result)
    assert (a.read, a.stored, a.duplicates, a.quarantined) == (60, 60, 0, 0)
    # 61 rows: ids 40-59 stored before (19 of them good here), one bad, 40 new, one repeat
    assert (b.read, b.stored, b.duplicates, b.quarantined) == (61, 40, 20, 1)
    assert (c.read, c.stored, c.duplicates, c.quarantined) == (61, 0, 60, 1)
    total = con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()
    assert total == [(100, 100)]
    # the stored copy of an id is the first one ingested
    runs = con.execute(
        "SELECT ingest_run_id, count(*) FROM requests GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert runs == [(a.run_id, 60), (b.run_id, 40)]
