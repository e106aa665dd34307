"""`distillguard evaluate` as users run it: a readable report, JSON, one-line failures."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from detector.cli import app

runner = CliRunner()

# The documented JSON keys (README section "Evaluating against ground truth").
TOP_KEYS = {
    "schema",
    "truth_source",
    "last_scan_run",
    "coverage",
    "scan",
    "campaigns",
    "alerts",
    "alert_summary",
    "baseline_k",
    "baseline_k_source",
    "baselines",
    "notes",
}
METHOD_KEYS = {
    "method",
    "description",
    "flagged",
    "true_positives",
    "false_positives",
    "false_negatives",
    "precision",
    "recall",
    "f1",
    "average_precision",
    "roc_auc",
    "false_positive_rate",
    "request_weighted_recall",
    "populations",
}
CAMPAIGN_KEYS = {
    "label",
    "kind",
    "accounts",
    "flagged_accounts",
    "recall",
    "requests",
    "flagged_requests",
    "request_weighted_recall",
    "alerted",
    "fragmentation",
    "alerts",
}
ALERT_KEYS = {
    "campaign_id",
    "alert_id",
    "accounts",
    "majority_label",
    "majority_accounts",
    "purity",
    "benign_accounts",
}
SUMMARY_KEYS = {
    "alerts",
    "alerts_majority_benign",
    "purity_mean",
    "purity_min",
    "campaigns",
    "campaigns_alerted",
    "fragmentation_mean",
    "fragmentation_max",
}


def closed_store(build, scenario):
    built = build(scenario)
    built.con.close()  # the command opens the store itself
    return built


def one_line_error(result) -> str:
    text = result.output.strip()
    assert text.count("\n") == 0, text
    return text


def test_evaluate_prints_the_report_and_writes_documented_json(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app, ["evaluate", "--db", str(built.db), "--truth", str(built.truth), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    for text in (
        "Account level",
        "top_k_volume",
        "isolation_forest",
        "cot_keyword",
        "camp-hydra",
        "purity",
    ):
        assert text in result.output
    data = json.loads(out.read_text())
    assert set(data) == TOP_KEYS
    assert data["schema"] == "distillguard.evaluate/1"
    assert set(data["scan"]) == METHOD_KEYS
    assert all(set(b) == METHOD_KEYS for b in data["baselines"])
    assert [b["method"] for b in data["baselines"]] == [
        "top_k_volume",
        "isolation_forest",
        "cot_keyword",
    ]
    assert all(set(c) == CAMPAIGN_KEYS for c in data["campaigns"])
    assert all(set(a) == ALERT_KEYS for a in data["alerts"])
    assert set(data["alert_summary"]) == SUMMARY_KEYS
    assert data["scan"]["f1"] == 1.0
    assert data["alert_summary"]["fragmentation_max"] == 1


def test_missing_truth_file_exits_3_with_one_line(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    result = runner.invoke(
        app, ["evaluate", "--db", str(built.db), "--truth", str(tmp_path / "nope.csv")]
    )
    assert result.exit_code == 3
    assert "nope.csv" in one_line_error(result)


def test_malformed_truth_file_exits_3_naming_file_and_line(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,label,kind\nhydra-0000,camp-hydra,hydra\nhydra-0001,,hydra\n")
    result = runner.invoke(app, ["evaluate", "--db", str(built.db), "--truth", str(bad)])
    assert result.exit_code == 3
    assert "bad.csv:3" in one_line_error(result)


def test_wrong_header_exits_3(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    bad = tmp_path / "bad.csv"
    bad.write_text("id;label;kind\nx;benign;casual\n")
    result = runner.invoke(app, ["evaluate", "--db", str(built.db), "--truth", str(bad)])
    assert result.exit_code == 3
    assert "bad.csv:1" in one_line_error(result)


def test_missing_store_exits_3(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    result = runner.invoke(
        app, ["evaluate", "--db", str(tmp_path / "absent.duckdb"), "--truth", str(built.truth)]
    )
    assert result.exit_code == 3
    assert "no store" in one_line_error(result)


def test_unwritable_json_path_exits_3(build, perfect, tmp_path):
    built = closed_store(build, perfect)
    target = tmp_path / "no-such-dir" / "eval.json"
    result = runner.invoke(
        app, ["evaluate", "--db", str(built.db), "--truth", str(built.truth), "--json", str(target)]
    )
    assert result.exit_code == 3
    assert "eval.json" in result.output.strip().splitlines()[-1]
