"""Incremental review builds over several scans give exactly the tables a full rebuild gives,
and leave campaigns whose content did not change alone."""

from __future__ import annotations

import shutil
from datetime import timedelta

from review_store import START, rescan, write_feature_partials

from detector import store
from detector.review import PRECOMPUTED_TABLES, STATE_TABLES, precompute


def _contents(db) -> dict[str, list[tuple]]:
    """Every review table's rows in a canonical order (dash_meta without its build time)."""
    con = store.connect(db, read_only=True)
    try:
        out = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in (*PRECOMPUTED_TABLES, *STATE_TABLES) if t != "dash_meta"
        }
        out["dash_meta"] = con.execute(
            "SELECT scan_run_id, requests, accounts, ingest_run_id, version FROM dash_meta"
        ).fetchall()
        return out
    finally:
        con.close()


def _full_rebuild(db, tmp_path) -> dict[str, list[tuple]]:
    copy = tmp_path / "full.duckdb"
    shutil.copy(db, copy)
    con = store.connect(copy)
    try:
        precompute(con, full=True)
    finally:
        con.close()
    return _contents(copy)


def _ingest_more(db, run_id: int, day_offset: int) -> None:
    """A later ingest run: a new day for three attack accounts and one benign account, plus a
    late request of a benign account on the first day; the feature tables follow."""
    con = store.connect(db)
    try:
        with store.transaction(con):
            con.execute(
                "INSERT INTO ingest_runs (run_id, source, format, kind, started_at, finished_at,"
                " status, read, stored, quarantined) VALUES (?, 'logs/more.jsonl', 'jsonl', 'requests',"
                " ?, ?, 'done', 0, 0, 0)", [run_id, START, START])
            rows = [
                (f"{a}-late{run_id}-{h}", START + timedelta(days=day_offset, hours=h), a,
                 f"203.0.113.{h % 6 + 1}", "m-2-new", f"late prompt {h} for {a}", run_id)
                for a in ("atk-000", "atk-001", "atk-005") for h in range(6)
            ] + [
                (f"user-0007-late{run_id}", START + timedelta(days=day_offset, hours=3), "user-0007",
                 "192.0.2.77", "m-3", "a new question", run_id),
                (f"user-0011-late{run_id}", START + timedelta(hours=1), "user-0011",
                 "192.0.2.78", "m-1", "a late question", run_id),
            ]
            con.executemany(
                'INSERT INTO requests (request_id, "timestamp", account_id, client_ip, model, prompt,'
                " ip_prefix, asn, as_name, network_class, user_agent, ingest_run_id)"
                " VALUES (?, ?, ?, ?, ?, ?, '203.0.113.0/24', 64500, 'EXAMPLE-HOSTING', 'hosting',"
                " 'python-httpx/0.27', ?)", rows)
            con.execute(
                'INSERT INTO request_features SELECT request_id, account_id, "timestamp",'
                " CAST(\"timestamp\" AS DATE), '0f1e2d3c4b5a6978', 'math_reasoning', 0.8"
                " FROM requests WHERE ingest_run_id = ?", [run_id])
            write_feature_partials(con)
    finally:
        con.close()


def test_incremental_builds_equal_a_full_rebuild_over_several_scans(review_db, tmp_path):
    # Scan 2: new requests (new days and a late one) for some accounts.
    _ingest_more(review_db, 10, 3)
    rescan(review_db)
    assert _contents(review_db) == _full_rebuild(review_db, tmp_path)

    # Scan 3: more data, then an analyst-visible change of campaigns: one gone, one new.
    _ingest_more(review_db, 11, 4)
    rescan(review_db)
    con = store.connect(review_db)
    try:
        gone = con.execute("SELECT min(campaign_id) FROM campaigns").fetchall()[0][0]
        con.execute("DELETE FROM campaign_accounts WHERE campaign_id = ?", [gone])
        con.execute("DELETE FROM campaigns WHERE campaign_id = ?", [gone])
        con.execute("INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted,"
                    " request_count, status, created_at, updated_at) VALUES ('cmp-pair', 'alr-pair',"
                    " 'pair', 'medium', 0.6, true, 96, 'new', now(), now())")
        con.execute("INSERT INTO campaign_accounts VALUES ('cmp-pair', 'atk-002'), ('cmp-pair', 'atk-004')")
        steps = precompute(con)
        leftovers = con.execute("SELECT count(*) FROM dash_campaign_hourly WHERE campaign_id = ?", [gone]).fetchall()
    finally:
        con.close()
    assert steps["campaigns_rebuilt"] == 2 and leftovers == [(0,)]
    incremental = _contents(review_db)
    assert incremental == _full_rebuild(review_db, tmp_path)
    assert any(r[0] == "cmp-pair" for r in incremental["dash_campaign_hourly"])


def test_a_scan_without_new_data_rebuilds_no_campaign(review_db):
    con = store.connect(review_db)
    try:
        before = con.execute("SELECT * FROM dash_graph_nodes ORDER BY ALL").fetchall()
        steps = precompute(con)
        after = con.execute("SELECT * FROM dash_graph_nodes ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert steps["campaigns_rebuilt"] == 0 and steps["capability_days_rebuilt"] == 0
    assert before == after and before


def test_new_requests_rebuild_only_the_campaigns_of_their_accounts(review_db):
    _ingest_more(review_db, 10, 3)
    con = store.connect(review_db)
    try:
        campaigns = con.execute("SELECT count(DISTINCT campaign_id) FROM campaign_accounts").fetchall()[0][0]
        touched = con.execute(
            "SELECT count(DISTINCT campaign_id) FROM campaign_accounts"
            " WHERE account_id IN ('atk-000', 'atk-001', 'atk-005', 'user-0007', 'user-0011')"
        ).fetchall()[0][0]
        steps = precompute(con)
        ips = con.execute("SELECT count(*) FROM dash_ip_info WHERE client_ip LIKE '192.0.2.%'").fetchall()
    finally:
        con.close()
    assert touched > 0 and steps["campaigns_rebuilt"] == touched <= campaigns
    assert ips == [(2,)]  # the two new IPs were added; the known ones were not read again
