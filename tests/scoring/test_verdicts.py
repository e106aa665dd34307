"""Verdicts as the scan reads them: the latest decision per subject wins."""

from datetime import UTC, datetime, timedelta

from detector import store
from detector.scoring import load_verdicts


def test_latest_verdict_per_subject_wins(tmp_path):
    con = store.connect(tmp_path / "v.duckdb")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        ("campaign", "cmp-a", "dismissed", t0),
        ("campaign", "cmp-a", "confirmed", t0 + timedelta(hours=1)),  # changed their mind
        ("campaign", "cmp-b", "dismissed", t0),
        ("account", "acct-1", "allowlisted", t0),
        ("ORG", "org-x", "allowlisted", t0),
        ("account", "acct-2", "allowlisted", t0),
        ("account", "acct-2", "confirmed", t0 + timedelta(days=1)),  # allowlist revoked
    ]
    for subject_type, subject_id, verdict, at in rows:
        con.execute("INSERT INTO verdicts VALUES (?, ?, ?, 'ana', NULL, ?)", [subject_type, subject_id, verdict, at])
    v = load_verdicts(con)
    con.close()
    assert v.confirmed_campaigns == {"cmp-a"} and v.dismissed_campaigns == {"cmp-b"}
    assert v.allowlisted_accounts == {"acct-1"} and v.allowlisted_orgs == {"org-x"}
    assert v.campaign_status("cmp-a") == "confirmed" and v.campaign_status("cmp-z") == "new"
