"""`distillguard export` as users run it: files, stdout, and exit codes."""

from __future__ import annotations

import json

from export_store import ATTACK, CONFIRMED, DISMISSED
from typer.testing import CliRunner

from detector.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["export", *args])


def test_stdout_when_no_out(store_path):
    result = run("--db", str(store_path), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["campaign_id"] for line in result.stdout.splitlines()]
    assert ids == [CONFIRMED.campaign_id, DISMISSED.campaign_id, ATTACK.campaign_id]


def test_out_file_is_written_whole_and_leaves_no_temp_file(store_path, tmp_path):
    out = tmp_path / "alerts" / "findings.jsonl"
    out.parent.mkdir()
    out.write_text("stale content\n")
    result = run("--db", str(store_path), "--format", "ocsf", "--out", str(out), "--status", "new")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    [finding] = [json.loads(line) for line in out.read_text().splitlines()]
    assert finding["finding_info"]["uid"] == ATTACK.alert_id
    assert sorted(p.name for p in out.parent.iterdir()) == ["findings.jsonl"]


def test_since_option_filters(store_path):
    result = run("--db", str(store_path), "--format", "csv", "--since", "2026-03-05T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert [line.split(",")[1] for line in result.stdout.splitlines()[1:]] == [ATTACK.campaign_id]


def test_account_level_csv(store_path):
    result = run("--db", str(store_path), "--format", "csv", "--level", "account")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "account_id,score,campaign_id,flagged"


def test_bad_format_is_a_usage_error(store_path):
    assert run("--db", str(store_path), "--format", "xml").exit_code == 2


def test_bad_options_are_usage_errors(store_path):
    assert run("--db", str(store_path), "--format", "jsonl", "--status", "open").exit_code == 2
    assert run("--db", str(store_path), "--format", "jsonl", "--since", "yesterday").exit_code == 2
    assert run("--db", str(store_path), "--format", "stix", "--level", "account").exit_code == 2


def test_missing_store_exits_3_with_one_line(tmp_path):
    result = run("--db", str(tmp_path / "nope.duckdb"), "--format", "jsonl")
    assert result.exit_code == 3
    assert result.stderr.strip().startswith("distillguard: error: no store at")
    assert len(result.stderr.strip().splitlines()) == 1


def test_out_in_a_missing_folder_exits_3(store_path, tmp_path):
    result = run("--db", str(store_path), "--format", "stix", "--out", str(tmp_path / "no" / "b.json"))
    assert result.exit_code == 3 and "does not exist" in result.stderr


def test_help_has_an_example():
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0 and "Example" in result.output
