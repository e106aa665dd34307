"""The same traffic ingested as canonical JSONL, OpenTelemetry spans and LiteLLM spend logs
(JSONL and CSV) is stored identically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from format_traffic import (
    litellm_rows,
    traffic,
    write_canonical,
    write_litellm_csv,
    write_litellm_jsonl,
    write_otel,
)

from detector import store
from detector.ingest.formats import detect_format
from detector.ingest.sources import SourceOptions, ingest_sources

COLUMNS = (
    "request_id, timestamp, account_id, client_ip, user_agent, model, system_prompt, prompt, "
    "messages, tools, input_tokens, output_tokens, status_code, ip_prefix, asn, country, network_class"
)


def _stored(tmp_path: Path, name: str, path: Path, fmt: str = "auto") -> list[tuple[Any, ...]]:
    con = store.connect(tmp_path / f"{name}.duckdb")
    try:
        [item] = ingest_sources(con, [path], SourceOptions(fmt=fmt))
        assert item.result.quarantined == 0, con.sql(
            "SELECT reason, raw FROM quarantine"
        ).fetchall()
        rows = con.execute(f"SELECT {COLUMNS} FROM requests ORDER BY request_id").fetchall()
    finally:
        con.close()
    # messages are JSON: compare them parsed, not by their spacing
    return [(*row[:8], json.loads(row[8]) if row[8] else None, *row[9:]) for row in rows]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return traffic(12)


def test_canonical_otel_and_litellm_store_the_same_requests(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    canonical = _stored(tmp_path, "canonical", write_canonical(tmp_path / "c.jsonl", records))
    assert len(canonical) == len(records)
    forms = {
        "otel": write_otel(tmp_path / "spans.jsonl", records),
        "otel_deprecated": write_otel(tmp_path / "old.jsonl", records, deprecated=True),
        "litellm_jsonl": write_litellm_jsonl(tmp_path / "spend.jsonl", litellm_rows(records)),
        "litellm_csv": write_litellm_csv(tmp_path / "spend.csv", litellm_rows(records)),
    }
    for name, path in forms.items():
        assert _stored(tmp_path, name, path) == canonical, name


def test_auto_detection_tells_the_formats_apart(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    # Names say nothing: only the content tells the formats apart.
    assert detect_format(write_canonical(tmp_path / "a.log.jsonl", records)) == "jsonl"
    assert detect_format(write_otel(tmp_path / "b.jsonl", records[:2])) == "otel"
    assert (
        detect_format(write_litellm_jsonl(tmp_path / "c.jsonl", litellm_rows(records))) == "litellm"
    )
    assert detect_format(write_litellm_csv(tmp_path / "d.csv", litellm_rows(records))) == "litellm"


def test_otel_requests_keep_trace_context_in_extra(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    con = store.connect(tmp_path / "s.duckdb")
    try:
        ingest_sources(con, [write_otel(tmp_path / "spans.jsonl", records[:3])])
        extras = [json.loads(row[0]) for row in con.sql("SELECT extra FROM requests").fetchall()]
    finally:
        con.close()
    assert all(len(extra["trace_id"]) == 32 and len(extra["span_id"]) == 16 for extra in extras)
    assert {extra["provider"] for extra in extras} == {"openai"}
