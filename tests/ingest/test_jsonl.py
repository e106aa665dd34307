"""JSON Lines ingestion: good records land typed and enriched; every kind of bad line is
quarantined with its line number, reason and raw text, and never crashes the run."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
from ingest_records import assert_balanced, good_record, lines_of, quarantine_reasons

from detector.ingest import ingest_files


def test_good_records_are_stored_typed_and_enriched(con, write_jsonl):
    path = write_jsonl("a.jsonl", [good_record(i) for i in range(3)])
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.duplicates, result.quarantined) == (3, 3, 0, 0)
    row = con.execute(
        "SELECT request_id, timestamp, input_tokens, status_code, json_array_length(messages),"
        " tools->>'$[1].function.name', ip_prefix, network_class, ingest_run_id, extra"
        " FROM requests ORDER BY request_id LIMIT 1"
    ).fetchone()
    assert row[0] == "req-000000"
    assert row[1] == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert row[2:6] == (12, 200, 2, "read_file")
    assert row[6] == "203.0.113.0/24"
    assert row[7] is not None
    assert row[8] == result.run_id
    assert row[9] is None
    run = con.execute(
        "SELECT status, read, stored, duplicates, quarantined, enrichment_version FROM ingest_runs"
    ).fetchone()
    assert run[:5] == ("done", 3, 3, 0, 0)
    assert run[5]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2026-03-01T12:00:00.250Z", datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (1772366400, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # epoch seconds
        (1772366400000, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # epoch milliseconds
        (1772366400.5, datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("1772366400", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # epoch as text
    ],
)
def test_timestamp_forms_are_stored_as_utc(con, write_jsonl, stamp, expected):
    path = write_jsonl("t.jsonl", [good_record(timestamp=stamp)])
    [result] = ingest_files(con, [path])
    assert result.stored == 1
    assert con.execute("SELECT timestamp FROM requests").fetchone()[0] == expected


BAD_RECORDS = [
    (good_record(request_id=None), "missing request_id"),
    (good_record(account_id=""), "missing account_id"),
    (good_record(prompt=None, model=None), "missing model; missing prompt"),
    (good_record(request_id=123), "request_id must be a string"),
    (good_record(prompt=["a"]), "prompt must be a string"),
    (good_record(input_tokens="many"), "input_tokens must be an integer"),
    (good_record(input_tokens=1.5), "input_tokens must be an integer"),
    (good_record(output_tokens=-3), "negative output_tokens"),
    (good_record(status_code=True), "status_code must be an integer"),
    (good_record(timestamp="yesterday"), "unparseable timestamp"),
    (good_record(timestamp="2026-03-01T12:00:00"), "unparseable timestamp"),  # no offset
    (good_record(timestamp="2026-02-30T12:00:00Z"), "unparseable timestamp"),
    (good_record(timestamp="1999-12-31T23:59:59Z"), "timestamp out of range"),
    (good_record(timestamp=4_200_000_000_000_000), "timestamp out of range"),
    (good_record(timestamp={"s": 1}), "timestamp must be a string or a number"),
    (good_record(client_ip="999.1.1.1"), "invalid client_ip"),
    (good_record(client_ip="not-an-ip"), "invalid client_ip"),
    (good_record(client_ip=None), "missing client_ip"),
    (good_record(messages={"role": "user"}), "messages must be an array"),
    (good_record(messages=[{"role": "user"}]), "messages items must be"),
    (good_record(messages=[{"role": 1, "content": "x"}]), "messages items must be"),
    (good_record(messages=["hello"]), "messages items must be"),
    (good_record(tools="search"), "tools must be an array"),
    (good_record(tools=[1, 2]), "tools items must be"),
]


@pytest.mark.parametrize(("record", "reason"), BAD_RECORDS, ids=[r for _, r in BAD_RECORDS])
def test_each_contract_rule_quarantines_with_a_reason(con, write_jsonl, record, reason):
    path = write_jsonl("bad.jsonl", [good_record(1), record, good_record(2)])
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    line, got, raw, source = con.execute(
        "SELECT line, reason, raw, source FROM quarantine"
    ).fetchone()
    assert line == 2
    assert reason in got
    assert json.loads(raw) == record
    assert source == str(path)


def test_null_optional_fields_are_absent_not_errors(con, write_jsonl):
    record = good_record(3)
    record.update(messages=None, tools=None, input_tokens=None, user_agent=None)
    [result] = ingest_files(con, [write_jsonl("n.jsonl", [record])])
    assert result.stored == 1
    assert con.execute(
        "SELECT messages, tools, input_tokens, user_agent FROM requests"
    ).fetchone() == (
        None,
        None,
        None,
        None,
    )


def test_unknown_fields_are_kept_in_extra(con, write_jsonl):
    spaced = json.dumps(good_record(1, region="eu", latency_ms=12))  # ", " / ": " separators
    minified = json.dumps(good_record(2, trace={"id": "t"}), separators=(",", ":"))
    plain = json.dumps(good_record(3), separators=(",", ":"))
    non_ascii = json.dumps(good_record(4, prompt="café ☕"))  # \\u escapes: the slower path
    ingest_files(con, [write_jsonl("x.jsonl", [spaced, minified, plain, non_ascii])])
    rows = dict(con.execute("SELECT request_id, extra FROM requests").fetchall())
    assert json.loads(rows["req-000001"]) == {"region": "eu", "latency_ms": 12}
    assert json.loads(rows["req-000002"]) == {"trace": {"id": "t"}}
    assert rows["req-000003"] is None
    assert rows["req-000004"] is None
    assert (
        con.execute("SELECT prompt FROM requests WHERE request_id = 'req-000004'").fetchone()[0]
        == "café ☕"
    )


def test_escaped_strings_are_unescaped(con, write_jsonl):
    prompt = 'line one\nsays "hi" \\ back\ttab'
    ingest_files(con, [write_jsonl("e.jsonl", [good_record(prompt=prompt)])])
    assert con.execute("SELECT prompt FROM requests").fetchone()[0] == prompt


def test_line_that_is_not_json(con, write_jsonl):
    path = write_jsonl(
        "j.jsonl", [good_record(1), "{this is not json", "plain words", good_record(2)]
    )
    [result] = ingest_files(con, [path])
    assert_balanced(result)
    assert quarantine_reasons(con) == {2: "not valid JSON", 3: "not valid JSON"}


def test_json_array_lines_and_scalars(con, write_jsonl):
    array_line = json.dumps([good_record(1), good_record(2)])
    path = write_jsonl("arr.jsonl", [array_line, "42", good_record(3)])
    [result] = ingest_files(con, [path])
    assert (result.stored, result.quarantined) == (1, 2)
    reasons = quarantine_reasons(con)
    assert reasons[1] == "JSON array, expected one object per line"
    assert "expected an object" in reasons[2]


def test_top_level_pretty_printed_array_file_is_quarantined_line_by_line(con, tmp_path):
    path = tmp_path / "array.json"
    path.write_text(json.dumps([good_record(1), good_record(2)], indent=2))
    [result] = ingest_files(con, [path])
    assert result.stored == 0
    assert result.quarantined == result.read > 0
    assert_balanced(result)


def test_truncated_last_line(con, tmp_path):
    text = lines_of([good_record(1), good_record(2)]) + json.dumps(good_record(3)).encode()[:40]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(text)
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    assert quarantine_reasons(con)[3].startswith("truncated last line")


def test_complete_last_line_without_newline_is_accepted(con, tmp_path):
    path = tmp_path / "no-newline.jsonl"
    path.write_bytes(lines_of([good_record(1)]) + json.dumps(good_record(2)).encode())
    [result] = ingest_files(con, [path])
    assert result.stored == 2


def test_invalid_utf8(con, write_jsonl):
    bad = json.dumps(good_record(2)).encode().replace(b"Explain", b"Expl\xff\xfein")
    path = write_jsonl("u.jsonl", [good_record(1), bad, good_record(3)])
    [result] = ingest_files(con, [path])
    assert (result.stored, result.quarantined) == (2, 1)
    reason, raw = con.execute("SELECT reason, raw FROM quarantine").fetchone()
    assert reason == "invalid UTF-8"
    assert "Expl\ufffd\ufffdin" in raw


def test_empty_file(con, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.duplicates, result.quarantined) == (0, 0, 0, 0)
    assert con.execute("SELECT status, read FROM ingest_runs").fetchone() == ("done", 0)


def test_blank_lines_are_skipped_and_numbering_kept(con, write_jsonl):
    path = write_jsonl("b.jsonl", [good_record(1), "", "   ", good_record(2), "oops"])
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    assert quarantine_reasons(con) == {5: "not valid JSON"}


def test_five_megabyte_prompt_is_quarantined_not_crashing(con, write_jsonl):
    huge = good_record(2, prompt="x" * (5 * 1024 * 1024))
    path = write_jsonl("huge.jsonl", [good_record(1), huge, good_record(3)])
    [result] = ingest_files(con, [path])
    assert (result.read, result.stored, result.quarantined) == (3, 2, 1)
    line, reason, size = con.execute("SELECT line, reason, strlen(raw) FROM quarantine").fetchone()
    assert line == 2
    assert reason.startswith("record too large")
    assert size <= 64 * 1024


def test_gzip_file_is_read_the_same(con, tmp_path):
    path = tmp_path / "logs.jsonl.gz"
    path.write_bytes(gzip.compress(lines_of([good_record(i) for i in range(50)] + ["nope"])))
    [result] = ingest_files(con, [path])
    assert (result.format, result.read, result.stored, result.quarantined) == ("jsonl", 51, 50, 1)
    assert quarantine_reasons(con) == {51: "not valid JSON"}


def test_crlf_line_endings(con, tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\r\n".join(json.dumps(good_record(i)).encode() for i in range(3)) + b"\r\n")
    [result] = ingest_files(con, [path])
    assert result.stored == 3
