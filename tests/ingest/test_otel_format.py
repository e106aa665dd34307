"""OpenTelemetry GenAI spans: real SDK output, hand-written OTLP variants, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
from format_traffic import traffic, write_otel
from typer.testing import CliRunner

from detector.cli import app
from detector.ingest import ingest_files
from detector.ingest.sources import SourceOptions, ingest_sources


def _attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def _export(*spans: dict[str, Any], resource: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": resource or []},
                    "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}],
                }
            ]
        }
    )


def _span(
    span_id: str, *attributes: dict[str, Any], start: Any = "1772366400000000000", **more: Any
) -> dict[str, Any]:
    return {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": start,
        "attributes": list(attributes),
        **more,
    }


BASE = (
    _attr("gen_ai.operation.name", {"stringValue": "chat"}),
    _attr("gen_ai.request.model", {"stringValue": "frontier-large"}),
    _attr("user.id", {"stringValue": "acct-9"}),
    _attr("client.address", {"stringValue": "203.0.113.50"}),
)


def test_the_library_entry_point_also_records_skipped_spans(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write_otel(tmp_path / "traces.jsonl", traffic(3))
    [result] = ingest_files(con, [path], fmt="otel")
    assert (result.read, result.stored) == (3, 3)
    message = con.sql("SELECT message FROM ingest_runs").fetchall()[0][0]
    assert "skipped 6 spans" in message

def test_sdk_spans_ingest_and_non_inference_spans_are_counted(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    records = traffic(5)
    path = write_otel(tmp_path / "traces.jsonl", records)
    [item] = ingest_sources(con, [path])
    assert (item.result.read, item.result.stored, item.result.quarantined) == (5, 5, 0)
    assert item.skipped == 10  # one HTTP and one embeddings span per request
    message = con.sql("SELECT message FROM ingest_runs").fetchall()[0][0]
    assert "skipped 10" in message
    stored = con.sql(
        "SELECT request_id, account_id, input_tokens, system_prompt FROM requests ORDER BY 1"
    ).fetchall()
    assert stored[0] == ("chatcmpl-0000", "acct-0", 100, "You are assistant #0.")
    again = ingest_sources(con, [path])[0].result
    assert (again.stored, again.duplicates) == (0, 5)


def test_account_attribute_is_configurable(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    records = traffic(3)
    fallback = write_otel(tmp_path / "enduser.jsonl", records, account_attribute="enduser.id")
    assert ingest_sources(con, [fallback])[0].result.stored == 3  # default user.id, then enduser.id
    custom = write_otel(tmp_path / "tenant.jsonl", traffic(4)[3:], account_attribute="tenant.id")
    missing = ingest_sources(con, [custom])[0].result
    assert missing.quarantined == 1
    chosen = ingest_sources(con, [custom], SourceOptions(account_keys=("tenant.id",)))[0].result
    assert chosen.stored == 1
    assert con.sql(
        "SELECT account_id FROM requests WHERE request_id = 'chatcmpl-0003'"
    ).fetchall() == [("acct-3",)]


def test_structured_values_numbers_and_base64_ids(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def text_part(text: str) -> dict[str, Any]:
        return {
            "kvlistValue": {
                "values": [
                    _attr("type", {"stringValue": "text"}),
                    _attr("content", {"stringValue": text}),
                ]
            }
        }

    def message(role: str, text: str) -> dict[str, Any]:
        parts = {"arrayValue": {"values": [text_part(text)]}}
        return {
            "kvlistValue": {"values": [_attr("role", {"stringValue": role}), _attr("parts", parts)]}
        }

    structured = _span(
        "b7ad6b7169203331",
        *BASE,
        _attr(
            "gen_ai.input.messages",
            {
                "arrayValue": {
                    "values": [
                        message("user", "first ]} tricky"),
                        message("assistant", "ok"),
                        message("user", "last"),
                    ]
                }
            },
        ),
        _attr("gen_ai.usage.input_tokens", {"intValue": 9007199254740993}),
        _attr("gen_ai.usage.output_tokens", {"intValue": "42"}),
        _attr(
            "gen_ai.tool.definitions",
            {"stringValue": json.dumps([{"type": "function", "name": "search"}])},
        ),
    )
    base64_ids = _span(
        "AAAAAAAAAAE=",
        *BASE,
        _attr("gen_ai.prompt.0.role", {"stringValue": "system"}),
        _attr("gen_ai.prompt.0.content", {"stringValue": "Be brief."}),
        _attr("gen_ai.prompt.1.role", {"stringValue": "user"}),
        _attr("gen_ai.prompt.1.content", {"stringValue": "flattened"}),
        start=1772366401000000000,
        traceId="AAAAAAAAAAAAAAAAAAAAAQ==",
    )
    events = _span(
        "00000000000000aa",
        *BASE,
        events=[
            {
                "name": "gen_ai.system.message",
                "attributes": [_attr("content", {"stringValue": "sys"})],
            },
            {
                "name": "gen_ai.user.message",
                "attributes": [_attr("content", {"stringValue": "from event"})],
            },
        ],
    )
    path = tmp_path / "hand.jsonl"
    path.write_text(_export(structured, base64_ids) + "\n" + _export(events) + "\n")
    [item] = ingest_sources(con, [path], SourceOptions(fmt="otel"))
    assert item.result.quarantined == 0, con.sql("SELECT reason FROM quarantine").fetchall()
    rows = {
        row[0]: row[1:]
        for row in con.sql(
            "SELECT request_id, prompt, messages, input_tokens, output_tokens, system_prompt, tools, timestamp FROM requests"
        ).fetchall()
    }
    structured_row = rows["otel-5b8efff798038103d269b633813fc60c-b7ad6b7169203331"]
    assert structured_row[0] == "last"
    assert json.loads(structured_row[1])[0] == {"role": "user", "content": "first ]} tricky"}
    assert structured_row[2:4] == (9007199254740993, 42)
    assert json.loads(structured_row[5]) == [{"type": "function", "name": "search"}]
    flattened = rows["otel-00000000000000000000000000000001-0000000000000001"]
    assert flattened[0] == "flattened" and flattened[4] == "Be brief."
    assert flattened[6].isoformat() == "2026-03-01T12:00:01+00:00"
    from_events = rows["otel-5b8efff798038103d269b633813fc60c-00000000000000aa"]
    assert (from_events[0], from_events[4]) == ("from event", "sys")


def test_malformed_variants_go_to_quarantine_with_reasons(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    prompt = _attr("gen_ai.prompt", {"stringValue": "hello"})
    lines = [
        "not json at all",
        json.dumps({"resourceLogs": []}),
        _export(
            _span(
                "0000000000000001",
                *BASE,
                prompt,
                _attr("gen_ai.usage.input_tokens", {"intValue": "12x"}),
            )
        ),
        _export(_span("0000000000000002", *BASE)),  # no prompt captured
        _export(_span("0000000000000003", *BASE, prompt, start="yesterday")),
        _export(
            _span(
                "0000000000000004",
                *BASE,
                prompt,
                _attr("gen_ai.usage.output_tokens", {"intValue": "-5"}),
            )
        ),
        _export(
            _span(
                "0000000000000005",
                *BASE[:3],
                prompt,
                _attr("client.address", {"stringValue": "999.1.1.1"}),
            )
        ),
        _export(
            _span(
                "0000000000000006",
                *BASE,
                prompt,
                _attr("gen_ai.usage.input_tokens", {"intValue": "18446744073709551615"}),
            )
        ),
        _export(_span("0000000000000007", *BASE, prompt)),  # good
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_sources(con, [path], SourceOptions(fmt="otel"))[0].result
    assert (result.read, result.stored) == (9, 1)
    reasons = [row[0] for row in con.sql("SELECT reason FROM quarantine ORDER BY line").fetchall()]
    assert reasons[0] == "not valid JSON"
    assert reasons[1].startswith("not an OTLP trace export")
    assert "input_tokens must be an integer" in reasons[2]
    assert "missing prompt" in reasons[3]
    assert "unparseable timestamp" in reasons[4]
    assert "negative output_tokens" in reasons[5]
    assert "invalid client_ip" in reasons[6]
    assert "input_tokens out of range" in reasons[7]


def test_cli_reports_skipped_spans(tmp_path: Path) -> None:
    path = write_otel(tmp_path / "traces.jsonl", traffic(2))
    outcome = CliRunner().invoke(app, ["ingest", str(path), "--db", str(tmp_path / "s.duckdb")])
    assert outcome.exit_code == 0, outcome.output
    assert "otel" in outcome.output and "stored 2" in outcome.output
    assert "skipped 4 spans" in outcome.output


def test_a_batch_export_line_larger_than_the_record_limit_is_read_span_by_span(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    long_prompt = "p" * 300_000  # each span is under the 1 MB record limit, the line is not
    spans = [
        _span(f"{i:016x}", *BASE, _attr("gen_ai.prompt", {"stringValue": long_prompt + str(i)}))
        for i in range(5)
    ]
    huge = _span(
        "00000000000000ff", *BASE, _attr("gen_ai.prompt", {"stringValue": "x" * 1_100_000})
    )
    path = tmp_path / "batch.jsonl"
    path.write_text(_export(*spans, huge) + "\n" + _export(spans[0]))  # no final newline
    result = ingest_sources(con, [path], SourceOptions(fmt="otel"))[0].result
    assert (result.read, result.stored, result.duplicates, result.quarantined) == (7, 5, 1, 1)
    [(reason,)] = con.sql("SELECT reason FROM quarantine").fetchall()
    assert reason.startswith("record too large")
    assert con.sql("SELECT min(length(prompt)) FROM requests").fetchall() == [(300_001,)]
