"""A batch that does not fit the validation worker's memory is split, not lost or fatal."""

from __future__ import annotations

from ingest_records import assert_balanced, good_record, quarantine_reasons

from detector.ingest import ingest_files, lines, write


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

    [result] = ingest_files(con, [path])

    assert_balanced(result)
    assert (result.read, result.stored, result.quarantined) == (1000, 999, 1)
    assert list(quarantine_reasons(con)) == [701]
    assert len(splits) > 1, "the batch should have been split under a 24 MB worker limit"
    stored = con.execute("SELECT count(DISTINCT request_id), min(length(prompt)) FROM requests").fetchall()
    assert stored == [(999, len("0 " + "lorem ipsum " * 2000))]
