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


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_progress_reaches_the_end_of_the_file(con, tmp_path, monkeypatch, suffix):
    from contextlib import contextmanager

    from detector.ingest import write

    positions: list[int] = []

    @contextmanager
    def recording(label, total, enabled):
        assert enabled
        yield positions.append

    monkeypatch.setattr(write, "file_progress", recording)
    monkeypatch.setattr(write, "FILE_BATCH_ROWS", 100)
    records = [good_record(i, tools=["search"]) for i in range(1_000)]
    path = tmp_path / f"requests.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=100)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    [result] = ingest_files(con, [path], progress=True)
    assert result.stored == 1_000
    assert positions == sorted(positions) and positions[-1] == path.stat().st_size
    if suffix == "parquet":
        assert len(positions) > 1  # advanced batch by batch, not once at the end
