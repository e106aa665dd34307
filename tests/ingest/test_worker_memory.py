"""A batch that does not fit the validation worker's memory is split, not lost or fatal."""

from __future__ import annotations

from ingest_records import assert_balanced, good_record, quarantine_reasons

from detector.ingest import ingest_files, lines, write
from detector.ingest.jsonl_reader import JsonLinesReader


def test_batch_over_the_worker_memory_limit_is_validated_in_parts(con, write_jsonl, monkeypatch):
    records = [good_record(i, prompt=f"{i} " + "lorem ipsum " * 2000) for i in range(1000)]
    records[700] = good_record(700, input_tokens=-1)
    path = write_jsonl("big.jsonl", records)
    assert path.stat().st_size < lines.CHUNK_BYTES  # one chunk: any split is the memory fallback
    splits: list[int] = []
    validate = write._validated_batch

    def counting(work, reader, spec, table):
        splits.append(table.num_rows)
        return validate(work, reader, spec, table)

    monkeypatch.setattr(write, "_validated_batch", counting)
    monkeypatch.setattr(write, "WORKER_MEMORY_LIMIT", "24MB")
    monkeypatch.setattr(JsonLinesReader, "scan_in_duckdb", False)  # the line-splitter path

    [result] = ingest_files(con, [path])

    assert_balanced(result)
    assert (result.read, result.stored, result.quarantined) == (1000, 999, 1)
    assert list(quarantine_reasons(con)) == [701]
    assert len(splits) > 1, "the batch should have been split under a 24 MB worker limit"
    stored = con.execute("SELECT count(DISTINCT request_id), min(length(prompt)) FROM requests").fetchall()
    assert stored == [(999, len("0 " + "lorem ipsum " * 2000))]



def test_parquet_file_over_the_memory_cap_of_one_statement_is_stored_in_batches(con, tmp_path, monkeypatch):
    """Big row groups can exhaust the cap in the one-statement path after it has appended rows:
    the file's transaction is rolled back and the file stored again, with one thread and then,
    as that fails too here, through the batch path."""
    import json

    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [good_record(i) for i in range(500)]
    records[300] = good_record(300, input_tokens=-1)
    for record in records:  # JSON text cells, as many exporters write them
        record["messages"] = json.dumps(record["messages"])
        record["tools"] = json.dumps(record["tools"])
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    whole_file = write._insert_relation
    appended_before_failing: list[int] = []

    def runs_out_of_memory(con, *args, **kwargs):
        counts = whole_file(con, *args, **kwargs)
        appended_before_failing.append(counts.appended)
        raise duckdb.OutOfMemoryException("failed to allocate data of size 4.0 MiB")

    monkeypatch.setattr(write, "_insert_relation", runs_out_of_memory)

    [result] = ingest_files(con, [path])

    assert appended_before_failing == [499, 499]
    assert_balanced(result)
    assert (result.read, result.stored, result.quarantined) == (500, 499, 1)
    assert list(quarantine_reasons(con)) == [301]
    stored = con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()
    assert stored == [(499, 499)]
    runs = con.execute("SELECT status, count(*) FROM ingest_runs GROUP BY status").fetchall()
    assert runs == [("done", 1)]


def test_parquet_with_big_row_groups_starts_on_one_thread(con, tmp_path, monkeypatch):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [good_record(i) for i in range(200)]
    for record in records:
        record["messages"] = json.dumps(record["messages"])
        record["tools"] = json.dumps(record["tools"])
    small_groups, one_group = tmp_path / "small.parquet", tmp_path / "one.parquet"
    pq.write_table(pa.Table.from_pylist(records[:100]), small_groups, row_group_size=10)
    pq.write_table(pa.Table.from_pylist(records[100:]), one_group, row_group_size=100)
    largest: dict[str, int] = {}
    for path in (small_groups, one_group):
        metadata = pq.ParquetFile(path).metadata
        largest[path.name] = max(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    assert largest["small.parquet"] < largest["one.parquet"]
    monkeypatch.setattr(write, "ROW_GROUP_BYTES_FOR_TWO_THREADS", largest["small.parquet"])
    threads_seen: dict[str, str] = {}
    whole_file = write._insert_relation

    def recording(con, path, *args, **kwargs):
        threads_seen[path.name] = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        return whole_file(con, path, *args, **kwargs)

    monkeypatch.setattr(write, "_insert_relation", recording)
    con.execute("SET threads = 2")

    results = ingest_files(con, [small_groups, one_group])

    assert [r.stored for r in results] == [100, 100]
    assert threads_seen == {"small.parquet": 2, "one.parquet": 1}
    assert con.execute("SELECT current_setting('threads')").fetchall() == [(2,)]
