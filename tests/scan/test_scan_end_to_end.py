"""Simulate tiny traffic, ingest it, scan it: the chain a user runs finds a real campaign."""

import csv
import importlib.util
import json

import pytest
from typer.testing import CliRunner

from detector import store
from detector.cli import (
    app,
    scan_cmd,  # noqa: F401  (registers `scan` on the app)
)

STAGE_MODULES = ("detector.simulate", "detector.ingest", "detector.features.pipeline", "detector.graph")
missing = [m for m in STAGE_MODULES if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing), reason=f"pipeline stage missing: {', '.join(missing)}"),
]
runner = CliRunner()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    out, db = root / "sim", root / "e2e.duckdb"
    sim = runner.invoke(app, ["simulate", "--out", str(out), "--scale", "tiny", "--seed", "3"])
    assert sim.exit_code == 0, sim.output
    ingest = runner.invoke(
        app, ["ingest", str(out / "requests.jsonl"), "--accounts", str(out / "accounts.jsonl"), "--db", str(db)]
    )
    assert ingest.exit_code == 0, ingest.output
    scan = runner.invoke(app, ["scan", "--db", str(db), "--fail-on-alert"])
    return out, db, scan


def test_scan_alerts_on_a_simulated_campaign(scanned):
    out, db, scan = scanned
    assert scan.exit_code == 1, scan.output  # new alerts
    with (out / "truth.csv").open() as fh:
        truth = {row["account_id"]: row["label"] for row in csv.DictReader(fh)}
    con = store.connect(db)
    try:
        alerts = con.execute("SELECT campaign_id, tags FROM campaigns WHERE alerted").fetchall()
        members = con.execute(
            "SELECT campaign_id, account_id FROM campaign_accounts JOIN campaigns USING (campaign_id)"
            " WHERE alerted"
        ).fetchall()
        runs = con.execute("SELECT status, stats FROM scan_runs").fetchall()
    finally:
        con.close()
    assert alerts, scan.output
    assert all("AML.T0024.002" in json.loads(tags) for _, tags in alerts)
    by_alert: dict[str, list[str]] = {}
    for cid, account in members:
        by_alert.setdefault(cid, []).append(truth.get(account, "benign"))
    # each alert is mostly one true campaign, never mostly benign accounts
    for labels in by_alert.values():
        top = max(set(labels), key=labels.count)
        assert top != "benign" and labels.count(top) / len(labels) >= 0.8, labels
    (status, stats), = runs
    stages = json.loads(stats)["stages"]
    assert status == "done" and set(stages) == {"features", "graph", "scoring", "rules", "campaigns"}


def test_second_scan_finds_nothing_new(scanned):
    _, db, _ = scanned
    again = runner.invoke(app, ["scan", "--db", str(db), "--fail-on-alert"])
    assert again.exit_code == 0, again.output
    assert "0 new requests" in again.output and "0 new," in again.output
