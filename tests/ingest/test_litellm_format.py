"""LiteLLM spend-log rows (JSONL and CSV): mapping, account fallback, and bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from format_traffic import litellm_rows, traffic, write_litellm_csv, write_litellm_jsonl

from detector.ingest.sources import SourceOptions, ingest_sources


def test_rows_map_onto_the_contract(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = litellm_rows(traffic(3))
    rows[1]["user"] = ""  # no user: the account falls back to the hashed api_key
    rows[2]["metadata"] = json.dumps({"user_api_key_org_id": "org-7"})  # metadata as JSON text
    rows[2]["status"] = "failure"
    path = write_litellm_jsonl(tmp_path / "spend.jsonl", rows)
    result = ingest_sources(con, [path], SourceOptions(fmt="litellm"))[0].result
    assert (result.format, result.stored, result.quarantined) == ("litellm", 3, 0)
    stored = con.sql(
        "SELECT request_id, account_id, api_key_id, org_id, status_code, system_prompt, timestamp "
        "FROM requests ORDER BY request_id"
    ).fetchall()
    assert stored[0][1] == "acct-0" and stored[0][4] == 200
    assert stored[1][1] == rows[1]["api_key"]
    assert stored[2][3] == "org-7" and stored[2][4] is None
    assert stored[0][5] == "You are assistant #0."
    assert stored[0][6].isoformat() == "2026-03-01T12:00:00+00:00"  # naive LiteLLM time is UTC
    extra = json.loads(con.sql("SELECT extra FROM requests LIMIT 1").fetchall()[0][0])
    assert extra["call_type"] == "acompletion" and "messages" not in extra


def test_account_column_is_configurable(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write_litellm_csv(tmp_path / "spend.csv", litellm_rows(traffic(2)))
    ingest_sources(con, [path], SourceOptions(account_keys=("team_id",)))
    assert con.sql("SELECT DISTINCT account_id FROM requests").fetchall() == [("team-1",)]


def test_malformed_rows_go_to_quarantine(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = litellm_rows(traffic(5))
    rows[0]["startTime"] = "not a time"
    rows[1]["prompt_tokens"] = -3
    rows[2]["messages"] = {}  # prompts not stored by LiteLLM
    rows[3]["requester_ip_address"] = None
    jsonl = write_litellm_jsonl(tmp_path / "spend.jsonl", rows)
    with jsonl.open("a") as handle:
        handle.write('{"request_id": "cut", "startTime": "2026-03-01\n')
    result = ingest_sources(con, [jsonl], SourceOptions(fmt="litellm"))[0].result
    assert (result.read, result.stored, result.quarantined) == (6, 1, 5)
    reasons = [row[0] for row in con.sql("SELECT reason FROM quarantine ORDER BY line").fetchall()]
    assert "unparseable timestamp" in reasons[0]
    assert "negative input_tokens" in reasons[1]
    assert "missing prompt" in reasons[2]
    assert "missing client_ip" in reasons[3]
    assert reasons[4] == "not valid JSON"


def test_csv_rows_with_bad_cells_or_wrong_field_counts(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = litellm_rows(traffic(3))
    rows[0]["completion_tokens"] = "many"
    path = write_litellm_csv(tmp_path / "spend.csv", rows)
    with path.open("a") as handle:
        handle.write("only,three,fields\n")
    result = ingest_sources(con, [path])[0].result
    assert (result.format, result.stored, result.quarantined) == ("litellm", 2, 2)
    reasons = sorted(row[0] for row in con.sql("SELECT reason FROM quarantine").fetchall())
    assert reasons[0] == "malformed CSV row (wrong number of fields)"
    assert "output_tokens must be an integer" in reasons[1]
