"""`scan` end to end over a hand-built store: campaigns, stable ids, verdicts, run log."""

import json
from datetime import UTC, datetime

from detector import store
from detector.scan import ScanOptions, run_scan, scan


def rows(db, sql, params=()):
    con = store.connect(db)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_scan_finds_the_attack_cluster_and_nothing_else(built_store, stages):
    db, pop = built_store
    summary = run_scan(db, stages=stages)
    assert summary.new_alerts == 1 and len(summary.new) == 1
    (cid, alerted, severity, score, tags, indicators, signals, count) = rows(
        db, "SELECT campaign_id, alerted, severity, score, tags, indicators, signals, request_count"
        " FROM campaigns"
    )[0]
    members = {a for (a,) in rows(db, "SELECT account_id FROM campaign_accounts WHERE campaign_id = ?", [cid])}
    assert members == set(pop.attack)
    assert alerted and severity in ("high", "critical") and 0.5 < score <= 1.0
    assert "AML.T0024.002" in json.loads(tags)
    ind = json.loads(indicators)
    assert set(ind["payment_fingerprints"]) == {"card-0", "card-1", "card-2"}
    assert ind["prefixes"] == ["203.0.113.0/24"]
    assert count == 3 * len(pop.attack)
    sig = json.loads(signals)
    assert {"cot", "metadata", "infrastructure"} <= set(sig["families"])
    # the evaluation organisation (CoT + shared benchmark templates, one org) stays quiet
    flagged = {a for (a,) in rows(db, "SELECT account_id FROM account_scores WHERE flagged")}
    assert flagged == set(pop.attack)
    seen = rows(db, "SELECT count(*), min(score), max(score) FROM account_scores")[0]
    assert seen[0] == len(pop.attack) + len(pop.nat) + len(pop.evals) + len(pop.benign)
    assert seen[1] >= 0.0 and seen[2] <= 1.0


def test_account_scores_rank_attackers_above_benign(built_store, stages):
    db, pop = built_store
    run_scan(db, stages=stages)
    scores = dict(rows(db, "SELECT account_id, score FROM account_scores"))
    worst_attacker = min(scores[a] for a in pop.attack)
    benign = [scores[a] for a in pop.benign + pop.nat]
    assert sum(s >= worst_attacker for s in benign) == 0


def test_campaign_keeps_its_id_when_it_grows(tmp_path, rebuild, stages):
    db = tmp_path / "grow.duckdb"
    rebuild(db, attack_size=12)
    first = run_scan(db, stages=stages)
    (cid,) = [c.campaign_id for c in first.new]
    created = rows(db, "SELECT created_at FROM campaigns WHERE campaign_id = ?", [cid])[0][0]
    rebuild(db, attack_size=12, extra_attack=8, ingest_run=2)  # eight new accounts join
    second = run_scan(db, stages=stages)
    assert second.new == () and second.new_alerts == 0
    assert [c.campaign_id for c in second.updated] == [cid]
    assert second.updated[0].accounts == 20
    assert rows(db, "SELECT count(*) FROM campaign_accounts WHERE campaign_id = ?", [cid])[0][0] == 20
    assert rows(db, "SELECT created_at FROM campaigns WHERE campaign_id = ?", [cid])[0][0] == created
    assert second.new_requests == 8 * 3


def test_rescan_without_new_data_changes_nothing(built_store, stages):
    db, _ = built_store
    first = run_scan(db, stages=stages)
    again = run_scan(db, stages=stages)
    assert again.new == () and again.updated == () and again.unchanged == len(first.new)
    assert again.new_requests == 0


def test_dismissed_campaign_is_suppressed_and_stays_dismissed(built_store, stages):
    db, _pop = built_store
    (line,) = run_scan(db, stages=stages).new
    con = store.connect(db)
    con.execute(
        "INSERT INTO verdicts VALUES ('campaign', ?, 'dismissed', 'ana', 'load test', ?)",
        [line.campaign_id, datetime.now(UTC)],
    )
    con.close()
    after = run_scan(db, stages=stages)
    assert after.new_alerts == 0 and after.alerts == 0
    status, alerted = rows(db, "SELECT status, alerted FROM campaigns WHERE campaign_id = ?", [line.campaign_id])[0]
    assert (status, alerted) == ("dismissed", False)
    assert rows(db, "SELECT count(*) FROM account_scores WHERE flagged")[0][0] == 0


def test_allowlisted_accounts_and_orgs_leave_the_campaign(built_store, stages):
    db, pop = built_store
    con = store.connect(db)
    now = datetime.now(UTC)
    con.execute("INSERT INTO verdicts VALUES ('account', ?, 'allowlisted', 'ana', NULL, ?)", [pop.attack[0], now])
    con.execute("UPDATE accounts SET org_id = 'org-partner' WHERE account_id = ?", [pop.attack[1]])
    con.execute("INSERT INTO verdicts VALUES ('org', 'org-partner', 'allowlisted', 'ana', NULL, ?)", [now])
    con.close()
    (line,) = run_scan(db, stages=stages).new
    members = {a for (a,) in rows(db, "SELECT account_id FROM campaign_accounts")}
    assert members == set(pop.attack[2:])
    assert line.accounts == len(pop.attack) - 2
    flagged = dict(rows(db, "SELECT account_id, flagged FROM account_scores"))
    assert not flagged[pop.attack[0]] and not flagged[pop.attack[1]]


def test_run_log_records_stages_counts_and_watermark(built_store, stages):
    db, pop = built_store
    run_scan(db, stages=stages)
    status, watermark, stats = rows(db, "SELECT status, watermark, stats FROM scan_runs")[0]
    stats = json.loads(stats)
    assert status == "done" and watermark is not None
    assert set(stats["stages"]) == {"scoring", "rules", "campaigns"}
    assert all(s["seconds"] >= 0 for s in stats["stages"].values())
    assert stats["ingest_run_id"] == 1 and stats["new_alerts"] == 1
    assert stats["stages"]["scoring"]["accounts"] == len(pop.attack) + len(pop.nat) + len(pop.evals) + len(pop.benign)


def test_stages_run_under_the_scan_memory_cap_and_the_session_gets_its_own_back(built_store, stages):
    db, _ = built_store
    seen: list[str] = []

    def probe(ctx):
        seen.append(ctx.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return {}

    con = store.connect(db)
    try:
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        scan(con, ScanOptions(memory_limit="700MB", review_tables=False), [("probe", probe), *stages])
        assert seen == ["667.5 MiB"]  # 700 MB in DuckDB's binary units
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() != [(seen[0],)]
        assert before != [(seen[0],)]
    finally:
        con.close()
