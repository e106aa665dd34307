"""The review tables: complete, consistent with the store, and rebuilt idempotently."""

from __future__ import annotations

import pytest
from review_store import START, XSS_ACCOUNT, XSS_PROMPT

from detector import store
from detector.review import PRECOMPUTED_TABLES, fetch_prompts, precompute


def _rows(db, sql, params=()):
    con = store.connect(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_every_table_is_built_and_matches_the_store(review_db, population):
    tables = {r[0] for r in _rows(review_db, "SELECT table_name FROM information_schema.tables")}
    assert set(PRECOMPUTED_TABLES) <= tables
    assert _rows(review_db, "SELECT count(*) FROM dash_campaigns") == _rows(review_db, "SELECT count(*) FROM campaigns")
    everyone = len(population.attack + population.nat + population.evals + population.benign)
    assert _rows(review_db, "SELECT count(*), sum(requests) FROM dash_accounts") == [(everyone, 12 * 48 + 3 * (everyone - 12))]
    # An attack account was active every hour for two days: 48 hourly cells, one request each.
    assert _rows(review_db, "SELECT count(*), sum(requests) FROM dash_campaign_hourly WHERE account_id = 'atk-000'") == [(48, 48)]
    share = _rows(review_db, "SELECT sum(share) FROM dash_population_capability")[0][0]
    assert share == pytest.approx(1.0)
    # The campaign's model pivot: m-1 on day one, the new model on day two.
    pivot = _rows(review_db, "SELECT day, model FROM dash_campaign_models WHERE campaign_id = (SELECT campaign_id FROM campaign_accounts WHERE account_id = 'atk-000') ORDER BY day")
    assert [m for _, m in pivot] == ["m-1", "m-2-new"] and pivot[0][0] == START.date()


def test_samples_point_at_requests_whose_prompts_come_back_verbatim(review_db):
    con = store.connect(review_db, read_only=True)
    try:
        picks = con.execute('SELECT request_id, "timestamp" FROM dash_account_samples WHERE account_id = ?',
                            [XSS_ACCOUNT]).fetchall()
        prompts = fetch_prompts(con, picks)
        templates = con.execute(
            "SELECT template_fp, requests, samples FROM dash_campaign_templates WHERE campaign_id ="
            " (SELECT campaign_id FROM campaign_accounts WHERE account_id = ?)", [XSS_ACCOUNT]).fetchall()
        members = con.execute("SELECT count(*) FROM campaign_accounts WHERE campaign_id ="
                              " (SELECT campaign_id FROM campaign_accounts WHERE account_id = ?)",
                              [XSS_ACCOUNT]).fetchall()[0][0]
        template_prompts = fetch_prompts(con, [(p["request_id"], p["timestamp"]) for _, _, s in templates for p in s])
    finally:
        con.close()
    assert len(picks) == 5 and len(prompts) == 5
    assert all(text.startswith(XSS_PROMPT + " #") and model in ("m-1", "m-2-new") for text, model in prompts.values())
    # Every attack account sent 48 requests, each under one of three templates; every sample
    # pointer resolves to a stored request.
    assert sum(n for _, n, _ in templates) == 48 * members and all(1 <= len(s) <= 3 for _, _, s in templates)
    assert len(template_prompts) == sum(len(s) for _, _, s in templates)


def test_graph_links_accounts_through_what_they_share(review_db):
    # A three-account campaign: the graph shows their common IPs, prefix and payment card.
    con = store.connect(review_db)
    try:
        con.execute("INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted, request_count,"
                    " status, created_at, updated_at) VALUES ('cmp-trio', 'alr-trio', 'trio', 'high', 0.8, true, 144,"
                    " 'new', now(), now())")
        con.execute("INSERT INTO campaign_accounts VALUES ('cmp-trio', 'atk-000'), ('cmp-trio', 'atk-003'),"
                    " ('cmp-trio', 'atk-006')")
        precompute(con)
        nodes = dict(con.execute("SELECT kind, count(*) FROM dash_graph_nodes WHERE campaign_id = 'cmp-trio' GROUP BY kind").fetchall())
        edges = con.execute("SELECT count(*), count(DISTINCT account_id) FROM dash_graph_edges WHERE campaign_id = 'cmp-trio'").fetchall()
        coords = con.execute("SELECT min(x), max(x) FROM dash_graph_nodes WHERE campaign_id = 'cmp-trio'").fetchall()[0]
    finally:
        con.close()
    # atk-000, -003, -006 all use the four IPs 203.0.113.1-4, one /24, one client string, and
    # cards card-0, card-0, card-0 (i % 3 == 0): each value node links all three accounts.
    assert nodes == {"account": 3, "ip": 4, "prefix": 1, "user_agent": 1, "payment": 1}
    assert edges == [(3 * 7, 3)]
    assert coords[0] < coords[1]


def test_precompute_is_idempotent(review_db):
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in PRECOMPUTED_TABLES if t != "dash_meta")
    before = _rows(review_db, counts)
    con = store.connect(review_db)
    try:
        precompute(con)
        precompute(con)
    finally:
        con.close()
    assert _rows(review_db, counts) == before
