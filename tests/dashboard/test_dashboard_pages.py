"""Every page of the dashboard rendered by Streamlit's AppTest on a small scanned store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from review_store import XSS_ACCOUNT, XSS_PROMPT
from streamlit.testing.v1 import AppTest

from detector import store
from detector.paths import PROJECT_ROOT

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


def _app(db: Path, monkeypatch: pytest.MonkeyPatch, **state: str) -> AppTest:
    monkeypatch.setenv("DISTILLGUARD_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["analyst"] = "pytest-analyst"
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(e.value for e in at.text)


def _top(db: Path) -> tuple[str, str]:
    con = store.connect(db, read_only=True)
    try:
        return con.execute("SELECT campaign_id, title FROM dash_campaigns ORDER BY severity_rank DESC,"
                           " score DESC, campaign_id LIMIT 1").fetchall()[0]
    finally:
        con.close()


def test_queue_lists_campaigns_by_severity_with_counts(review_db, monkeypatch):
    at = _app(review_db, monkeypatch).run()
    assert not at.exception
    assert at.title[0].value == "Review queue"
    metrics = {m.label: m.value for m in at.metric}
    con = store.connect(review_db, read_only=True)
    n = con.execute("SELECT count(*) FROM campaigns").fetchall()[0][0]
    con.close()
    assert metrics["Campaigns"] == str(n) and metrics["Awaiting review"] == str(n)
    assert metrics["New since last visit"] == "0"  # a first visit marks nothing
    _cid, title = _top(review_db)
    assert title in _texts(at)
    assert _texts(at).index(title) < _texts(at).index("critical") + 10_000
    # The second visit (a new session) marks campaigns created after the first one as new.
    at2 = _app(review_db, monkeypatch).run()
    assert {m.label: m.value for m in at2.metric}["New since last visit"] == "0"
    # Filtering by a status nobody has yet empties the list.
    at.multiselect(key="q_status").set_value(["confirmed"]).run()
    assert f"0 of {n} campaigns match the filters." in [c.value for c in at.caption]


def test_campaign_page_shows_the_case_and_records_a_verdict(review_db, monkeypatch):
    cid, _title = _top(review_db)
    at = _app(review_db, monkeypatch, campaign=cid)
    at.switch_page("app_pages/campaign.py").run()
    assert not at.exception
    assert cid in at.caption[0].value.replace("\\", "")
    assert {m.label for m in at.metric} >= {"Score", "Severity", "Status", "Accounts", "Requests", "CoT elicitation"}
    assert "Independent signal families" in _texts(at)
    headers = [m.value for m in at.markdown]
    for section in ("#### Why", "#### Accounts", "#### Infrastructure", "#### Activity by hour",
                    "#### Capability mix", "#### Model pivot", "#### Top templates"):
        assert section in headers
    assert any("step" in c.value for c in at.code), "sample prompts are shown"
    at.radio(key="campaign_verdict_verdict").set_value("Dismiss")
    at.text_area(key="campaign_verdict_note").input("a benchmark run by a partner")
    at.button[[b.label for b in at.button].index("Record verdict")].click().run()
    assert not at.exception
    assert any("Recorded: dismissed by pytest" in s.value for s in at.success)
    con = store.connect(review_db, read_only=True)
    try:
        rows = con.execute("SELECT subject_type, subject_id, verdict, analyst, note FROM verdicts").fetchall()
    finally:
        con.close()
    assert rows == [("campaign", cid, "dismissed", "pytest-analyst", "a benchmark run by a partner")]
    # The queue now counts it as dismissed (cached reads were dropped after the write).
    at.switch_page("app_pages/queue.py").run()
    assert {m.label: m.value for m in at.metric}["Dismissed"] == "1"


def test_account_page_renders_html_in_prompts_as_text(review_db, monkeypatch):
    at = _app(review_db, monkeypatch, account=XSS_ACCOUNT)
    at.switch_page("app_pages/account.py").run()
    assert not at.exception
    assert at.subheader[0].value.replace("\\", "") == XSS_ACCOUNT
    shown = [c.value for c in at.code]
    assert len(shown) == 5 and all(c.startswith(XSS_PROMPT) for c in shown), "prompts are shown verbatim in code blocks"
    for element in at.markdown:
        assert not element.proto.allow_html
        assert "<script" not in element.value and "<img" not in element.value
    assert "Member of campaign cmp-" in _texts(at)
    assert {m.label: m.value for m in at.metric}["Requests"] == "48"


def test_verdicts_page_shows_the_audit_trail(review_db, monkeypatch):
    cid, _ = _top(review_db)
    con = store.connect(review_db)
    con.execute("INSERT INTO verdicts VALUES ('campaign', ?, 'confirmed', 'ana', '<b>bold</b> note', now())", [cid])
    con.close()
    at = _app(review_db, monkeypatch)
    at.switch_page("app_pages/verdicts.py").run()
    assert not at.exception
    trail = at.dataframe[0].value
    assert list(trail["subject_id"]) == [cid] and list(trail["note"]) == ["<b>bold</b> note"]


def test_export_page_writes_the_contract_formats(review_db, monkeypatch):
    cid, _ = _top(review_db)
    at = _app(review_db, monkeypatch, campaign=cid)
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    alert = json.loads(at.code[0].value.splitlines()[0])
    assert alert["campaign_id"] == cid and "AML.T0024.002" in alert["tags"] and alert["status"] == "new"
    at.radio(key="x_fmt").set_value("stix").run()
    assert at.code[0].value.startswith('{\n  "id": "bundle--')


def test_runs_page_shows_ingests_scans_and_quarantine_reasons(review_db, monkeypatch):
    at = _app(review_db, monkeypatch)
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Quarantined records"] == "3"
    frames = [d.value for d in at.dataframe]
    reasons = frames[2]
    assert list(reasons["reason"]) == ["missing field: prompt", "unparseable timestamp"]
    assert list(frames[0]["status"]) == ["done"] and list(frames[1]["run_id"]) == [2, 1]


def test_a_store_held_by_a_scan_gives_a_message_not_a_trace(review_db, monkeypatch):
    # DuckDB lets no reader in while another process writes: the page says so and waits.
    cid, _title = _top(review_db)
    lock = review_db.with_name(review_db.name + ".scan.lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True);"
         " time.sleep(60)", str(review_db)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock.write_text(f"{holder.pid}\n")
        at = _app(review_db, monkeypatch, campaign=cid)
        at.switch_page("app_pages/campaign.py").run()
        assert not at.exception
        assert any("A scan is running" in i.value for i in at.sidebar.info)
        assert any("The store is busy" in w.value for w in at.warning)
        assert "Record verdict" not in [b.label for b in at.button]
    finally:
        holder.kill()
        holder.wait(timeout=10)
        lock.unlink(missing_ok=True)
    con = store.connect(review_db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM verdicts").fetchall() == [(0,)]
    finally:
        con.close()


def test_an_unscanned_store_explains_what_to_do(tmp_path, monkeypatch):
    db = tmp_path / "empty.duckdb"
    store.connect(db).close()
    at = _app(db, monkeypatch).run()
    assert not at.exception
    assert any("distillguard scan" in i.value for i in at.info)


def test_campaigns_created_since_the_last_visit_are_marked(review_db, monkeypatch):
    con = store.connect(review_db, read_only=True)
    created = con.execute("SELECT min(created_at), count(*) FROM campaigns").fetchall()[0]
    con.close()
    visits = review_db.with_name(review_db.name + ".review-visits.json")
    before = created[0].isoformat().replace("+00:00", "") + "+00:00"
    visits.write_text(json.dumps({"pytest-analyst": "2000-01-01T00:00:00+00:00", "other": before}))
    at = _app(review_db, monkeypatch).run()
    assert {m.label: m.value for m in at.metric}["New since last visit"] == str(created[1])
    assert sum(t.value.endswith("· NEW") for t in at.text) == min(created[1], 25)
    # This visit is recorded for the analyst; another analyst's mark is left alone.
    saved = json.loads(visits.read_text())
    assert saved["pytest-analyst"] > "2026" and saved["other"] == before
