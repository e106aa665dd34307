"""Verdict writes: validation, the audit trail, and that the next scan honours them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from review_store import XSS_ACCOUNT, rescan

from detector import store
from detector.export.alerts import load_alerts
from detector.review import VerdictError, record_verdict, save_verdict, verdict_history
from detector.scoring import load_verdicts


def _top_campaign(db) -> tuple[str, list[str]]:
    con = store.connect(db, read_only=True)
    try:
        cid = con.execute("SELECT campaign_id FROM dash_campaigns ORDER BY severity_rank DESC, score DESC, campaign_id LIMIT 1").fetchall()[0][0]
        members = [r[0] for r in con.execute("SELECT account_id FROM campaign_accounts WHERE campaign_id = ?", [cid]).fetchall()]
        return cid, members
    finally:
        con.close()


@pytest.mark.parametrize(
    ("subject_type", "subject_id", "verdict", "analyst", "message"),
    [
        ("campaign", "cmp-nope", "dismissed", "ana", "no campaign"),
        ("campaign", "CID", "ignored", "ana", "unknown verdict"),
        ("cluster", "CID", "dismissed", "ana", "unknown subject type"),
        ("campaign", "CID", "dismissed", "  ", "analyst"),
        ("account", "", "allowlisted", "ana", "needs the id"),
    ],
)
def test_invalid_verdicts_are_refused_and_nothing_is_written(review_db, subject_type, subject_id, verdict, analyst, message):
    cid, _ = _top_campaign(review_db)
    con = store.connect(review_db)
    try:
        with pytest.raises(VerdictError, match=message):
            record_verdict(con, subject_type, cid if subject_id == "CID" else subject_id, verdict, analyst)
        assert con.execute("SELECT count(*) FROM verdicts").fetchall()[0][0] == 0
    finally:
        con.close()


def test_sql_in_a_note_is_stored_verbatim(review_db):
    cid, _ = _top_campaign(review_db)
    note = "x'); DROP TABLE verdicts; --"
    saved = save_verdict(review_db, "campaign", cid, "Confirmed", "O'Brien", note)
    assert saved.verdict == "confirmed"
    con = store.connect(review_db, read_only=True)
    try:
        assert con.execute("SELECT analyst, note FROM verdicts").fetchall() == [("O'Brien", note)]
    finally:
        con.close()


def test_audit_trail_keeps_every_decision_and_the_newest_wins(review_db):
    cid, _ = _top_campaign(review_db)
    t0 = datetime(2026, 3, 5, 12, tzinfo=UTC)
    con = store.connect(review_db)
    try:
        record_verdict(con, "campaign", cid, "confirmed", "ana", "looks real", decided_at=t0)
        record_verdict(con, "campaign", cid, "dismissed", "bo", "eval partner", decided_at=t0 + timedelta(hours=1))
        trail = verdict_history(con, subject_type="campaign", subject_id=cid)
        assert [(v.verdict, v.analyst) for v in trail] == [("dismissed", "bo"), ("confirmed", "ana")]
        assert cid in load_verdicts(con).dismissed_campaigns
        assert cid not in load_verdicts(con).confirmed_campaigns
    finally:
        con.close()


def test_next_scan_honours_a_dismissal(review_db):
    cid, _ = _top_campaign(review_db)
    save_verdict(review_db, "campaign", cid, "dismissed", "ana", "known evaluation partner")
    rescan(review_db)
    con = store.connect(review_db, read_only=True)
    try:
        status, alerted = con.execute("SELECT status, alerted FROM campaigns WHERE campaign_id = ?", [cid]).fetchall()[0]
        assert (status, alerted) == ("dismissed", False)
        # The precomputed queue row follows the scan, and the export reports the verdict.
        assert con.execute("SELECT scan_status, alerted FROM dash_campaigns WHERE campaign_id = ?", [cid]).fetchall() == [("dismissed", False)]
        assert {a.campaign_id: a.status for a in load_alerts(con)}[cid] == "dismissed"
        others = con.execute("SELECT count(*) FILTER (WHERE alerted), count(*) FROM campaigns WHERE campaign_id <> ?", [cid]).fetchall()[0]
        assert others[0] == others[1], "dismissing one campaign must not silence the others"
    finally:
        con.close()


def test_next_scan_honours_an_allowlisted_account(review_db):
    con = store.connect(review_db, read_only=True)
    try:
        before = con.execute("SELECT count(*) FROM campaign_accounts WHERE account_id = ?", [XSS_ACCOUNT]).fetchall()[0][0]
    finally:
        con.close()
    assert before == 1
    save_verdict(review_db, "account", XSS_ACCOUNT, "allowlisted", "ana", "our own red team")
    rescan(review_db)
    con = store.connect(review_db, read_only=True)
    try:
        live = con.execute(
            "SELECT count(*) FROM campaign_accounts ca JOIN campaigns c USING (campaign_id)"
            " WHERE ca.account_id = ? AND c.alerted", [XSS_ACCOUNT]).fetchall()[0][0]
        assert live == 0
        assert con.execute("SELECT flagged FROM dash_accounts WHERE account_id = ?", [XSS_ACCOUNT]).fetchall() == [(False,)]
    finally:
        con.close()
