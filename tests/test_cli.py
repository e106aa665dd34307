"""The command line as users meet it: every command documented, errors as one line."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from detector.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


def command_names() -> list[str]:
    group = get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_contract_commands_exist():
    assert {"ingest", "simulate", "evaluate", "status"} <= set(command_names())


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_with_an_example(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"`distillguard {name} --help` shows no example"
    assert "--db" in result.output


@pytest.mark.parametrize("name", command_names())
def test_every_command_is_in_the_readme(name):
    assert re.search(rf"distillguard {name}\b", README.read_text()), f"README lacks `distillguard {name}`"


def test_unknown_option_is_a_usage_error():
    result = runner.invoke(app, ["status", "--no-such-option"])
    assert result.exit_code == 2


def test_status_of_a_missing_store_fails_with_one_line(tmp_path):
    result = runner.invoke(app, ["status", "--db", str(tmp_path / "absent.duckdb")])
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0
    assert "no store" in result.output


def test_status_reports_an_empty_store(tmp_path):
    from detector import store

    db = tmp_path / "s.duckdb"
    store.connect(db).close()
    result = runner.invoke(app, ["status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert re.search(r"requests\s+0\b", result.output)
    assert re.search(r"quarantined\s+0\b", result.output)


def test_simulate_with_db_ingests_what_it_wrote(tmp_path):
    from detector import store

    db = tmp_path / "sim.duckdb"
    result = runner.invoke(
        app,
        ["simulate", "--out", str(tmp_path / "sim"), "--scale", "tiny", "--days", "2",
         "--seed", "5", "--bundled-prompts", "--db", str(db)],
    )
    assert result.exit_code == 0, result.output
    written = sum(1 for _ in (tmp_path / "sim" / "requests.jsonl").open())
    accounts = sum(1 for _ in (tmp_path / "sim" / "accounts.jsonl").open())
    con = store.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM requests").fetchall() == [(written,)]
    assert con.execute("SELECT count(*) FROM accounts").fetchall() == [(accounts,)]
    assert f"read {written:,}  stored {written:,}" in result.output
