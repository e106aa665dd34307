"""CSV and Parquet ingestion: typed and untyped columns map onto the same contract checks."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from ingest_records import assert_balanced, good_record, quarantine_reasons

from detector.ingest import ingest_files

CSV_FIELDS = list(good_record(0).keys())


def write_csv(path, records, fields=CSV_FIELDS):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            row = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()}
            writer.writerow(row)
    return path


def test_csv_rows_are_stored_with_json_cells_parsed(con, tmp_path):
    records = [good_record(i, prompt=f'multi\nline, "quoted" prompt {i}') for i in range(4)]
    [result] = ingest_files(con, [write_csv(tmp_path / "r.csv", records)])
    assert (result.format, result.read, result.stored, result.quarantined) == ("csv", 4, 4, 0)
    row = con.execute(
        "SELECT prompt, input_tokens, json_array_length(messages), timestamp FROM requests ORDER BY request_id"
    ).fetchone()
    assert row == ('multi\nline, "quoted" prompt 0', 12, 2, datetime(2026, 3, 1, 12, tzinfo=UTC))


def test_csv_bad_cells_are_quarantined_with_row_number_and_row_as_json(con, tmp_path):
    records = [
        good_record(1),
        good_record(2, input_tokens="-4"),
        good_record(3, messages="not json"),
    ]
    [result] = ingest_files(con, [write_csv(tmp_path / "r.csv", records)])
    assert (result.stored, result.quarantined) == (1, 2)
    assert quarantine_reasons(con) == {2: "negative input_tokens", 3: "messages must be an array"}
    raw = con.execute("SELECT raw FROM quarantine WHERE line = 2").fetchone()[0]
    assert json.loads(raw)["request_id"] == "req-000002"


def test_csv_missing_required_column_quarantines_every_row(con, tmp_path):
    fields = [f for f in CSV_FIELDS if f != "client_ip"]
    [result] = ingest_files(
        con, [write_csv(tmp_path / "r.csv", [good_record(i) for i in range(3)], fields)]
    )
    assert (result.read, result.stored, result.quarantined) == (3, 0, 3)
    assert set(quarantine_reasons(con).values()) == {"missing client_ip"}


def test_csv_extra_columns_are_kept_in_extra(con, tmp_path):
    records = [good_record(i, region="eu-west", shard=str(i)) for i in range(2)]
    write_csv(tmp_path / "r.csv", records, [*CSV_FIELDS, "region", "shard"])
    [result] = ingest_files(con, [tmp_path / "r.csv"])
    assert result.stored == 2
    extra = con.execute("SELECT extra FROM requests ORDER BY request_id").fetchone()[0]
    assert json.loads(extra) == {"region": "eu-west", "shard": "0"}


def test_csv_row_with_wrong_number_of_fields_is_quarantined(con, tmp_path):
    path = write_csv(tmp_path / "r.csv", [good_record(1), good_record(2)])
    with path.open("a") as handle:
        handle.write("only,three,fields\n")
    [result] = ingest_files(con, [path])
    assert_balanced(result)
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    reason, raw = con.execute("SELECT reason, raw FROM quarantine").fetchone()
    assert reason.startswith("malformed CSV row")
    assert raw == "only,three,fields"


def test_empty_csv_file(con, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    [result] = ingest_files(con, [path])
    assert result.read == 0


def parquet_table(records):
    messages_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return pa.table(
        {
            "request_id": pa.array([r["request_id"] for r in records]),
            "timestamp": pa.array(
                [datetime(2026, 3, 1, 12, i, tzinfo=UTC) for i in range(len(records))],
                pa.timestamp("us", tz="UTC"),
            ),
            "account_id": pa.array([r["account_id"] for r in records]),
            "client_ip": pa.array([r["client_ip"] for r in records]),
            "model": pa.array([r["model"] for r in records]),
            "prompt": pa.array([r["prompt"] for r in records]),
            "messages": pa.array([r["messages"] for r in records], messages_type),
            "tools": pa.array([json.dumps(r["tools"]) for r in records]),
            "input_tokens": pa.array([r["input_tokens"] for r in records], pa.int32()),
            "latency_ms": pa.array([1.5] * len(records)),
        }
    )


def test_parquet_typed_and_nested_columns(con, tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(parquet_table([good_record(i) for i in range(5)]), path)
    [result] = ingest_files(con, [path])
    assert (result.format, result.read, result.stored, result.quarantined) == ("parquet", 5, 5, 0)
    row = con.execute(
        "SELECT timestamp, messages->>'$[0].content', tools->>'$[0]', input_tokens, extra"
        " FROM requests ORDER BY request_id LIMIT 1"
    ).fetchone()
    assert row[:4] == (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "hi", "search", 12)
    assert json.loads(row[4]) == {"latency_ms": 1.5}


def test_parquet_column_of_the_wrong_type_quarantines_with_row_numbers(con, tmp_path):
    table = parquet_table([good_record(i) for i in range(3)])
    table = table.set_column(0, "request_id", pa.array([1, 2, 3], pa.int64()))
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    [result] = ingest_files(con, [path])
    assert (result.stored, result.quarantined) == (0, 3)
    assert quarantine_reasons(con) == {
        1: "request_id must be a string",
        2: "request_id must be a string",
        3: "request_id must be a string",
    }


def test_parquet_in_many_batches_numbers_rows_across_batches(con, tmp_path):
    from detector.ingest.parquet_reader import ParquetReader

    records = [good_record(i) for i in range(10)]
    records[7]["client_ip"] = "bogus"
    path = tmp_path / "r.parquet"
    pq.write_table(parquet_table(records), path, row_group_size=3)
    from detector.ingest.dedupe import drop_duplicate_requests
    from detector.ingest.schema import REQUEST_SPEC
    from detector.ingest.write import ingest_file

    result = ingest_file(
        con, path, ParquetReader(batch_rows=3), REQUEST_SPEC, drop_duplicate_requests
    )
    assert (result.stored, result.quarantined) == (9, 1)
    assert quarantine_reasons(con) == {8: "invalid client_ip"}
