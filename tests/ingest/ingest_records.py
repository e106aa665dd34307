"""Builders of canonical records and files, and checks shared by the ingestion tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb


def good_record(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid canonical request; `overrides` replace fields (None removes one)."""
    record: dict[str, Any] = {
        "request_id": f"req-{index:06d}",
        "timestamp": "2026-03-01T12:00:00Z",
        "account_id": f"acct-{index % 7}",
        "api_key_id": "key-1",
        "org_id": "org-1",
        "client_ip": "203.0.113.7",
        "user_agent": "python-httpx/0.27",
        "model": "frontier-large",
        "system_prompt": "You are helpful.",
        "prompt": f"Explain sorting algorithm number {index}.",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "tools": ["search", {"type": "function", "function": {"name": "read_file"}}],
        "input_tokens": 12,
        "output_tokens": 345,
        "status_code": 200,
    }
    for key, value in overrides.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def lines_of(records: Iterable[dict[str, Any] | str | bytes]) -> bytes:
    """JSONL bytes: dicts are serialized, str/bytes lines are written as given, each ending in \\n."""
    out = bytearray()
    for item in records:
        if isinstance(item, dict):
            out += json.dumps(item).encode()
        elif isinstance(item, str):
            out += item.encode()
        else:
            out += item
        out += b"\n"
    return bytes(out)


def quarantine_reasons(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """line -> reason of every quarantined record."""
    return dict(con.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall())


def assert_balanced(result: Any) -> None:
    assert result.read == result.stored + result.duplicates + result.quarantined
