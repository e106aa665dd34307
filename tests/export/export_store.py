"""A hand-built store holding scan outputs, so export tests need no scan.

Campaigns: an untouched new alert (IPv4 and IPv6 indicators, a title with a comma, quotes and
non-ASCII), an alert an analyst confirmed after the scan (verdict newer than the scan), a
dismissed campaign the scan no longer alerts on, and a campaign that never alerted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from detector import store

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
SECRET_PROMPT = "Explain step by step, think out loud: SECRET-PROMPT-TEXT"


@dataclass(frozen=True)
class Row:
    campaign_id: str
    alert_id: str
    title: str
    severity: str
    score: float
    alerted: bool
    status: str
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    accounts: tuple[str, ...]
    indicators: dict[str, list[Any]]
    rules: tuple[str, ...] = ("dg.cluster.shared_templates", "dg.account.cot_harvest")
    tags: tuple[str, ...] = ("AML.T0024.002", "attack.exfiltration")
    request_count: int = 1200


ATTACK = Row(
    "cmp-7f3a01", "alr-7f3a01", 'Possible model extraction by 3 accounts, mostly "math": café',
    "high", 0.91, True, "new",
    T0, T0 + timedelta(days=6), T0 + timedelta(days=7), T0 + timedelta(days=7),
    ("acct-0041", "acct-0042", "acct-0043"),
    {"ips": ["203.0.113.7", "2001:db8:5::9"], "prefixes": ["203.0.113.0/24", "2001:db8:5::/48"],
     "asns": [64500], "payment_fingerprints": ["pf-9a1c"], "template_fingerprints": ["9f86d081884c7d65"]},
)
CONFIRMED = Row(
    "cmp-22be90", "alr-22be90", "Possible model extraction by 2 accounts, mostly code", "critical", 0.97,
    True, "new",
    T0 - timedelta(days=20), T0 - timedelta(days=10), T0 - timedelta(days=19), T0 - timedelta(days=9),
    ("acct-0100", "acct-0101"),
    {"ips": ["198.51.100.20"], "prefixes": ["198.51.100.0/24"], "asns": [64501],
     "payment_fingerprints": [], "template_fingerprints": ["60303ae22b998861", "fd61a03af4f77d87"]},
)
DISMISSED = Row(
    "cmp-5d1e44", "alr-5d1e44", "Possible model extraction by account acct-0200", "medium", 0.62,
    False, "dismissed",
    T0 - timedelta(days=3), T0 + timedelta(days=2), T0 - timedelta(days=2), T0 + timedelta(days=3),
    ("acct-0200",),
    {"ips": ["192.0.2.44"], "prefixes": ["192.0.2.0/24"], "asns": [64502],
     "payment_fingerprints": [], "template_fingerprints": []},
)
QUIET = Row(
    "cmp-000q01", "alr-000q01", "Below alert threshold", "low", 0.31, False, "new",
    T0, T0 + timedelta(days=1), T0 + timedelta(days=1), T0 + timedelta(days=1),
    ("acct-0300", "acct-0301"),
    {"ips": ["192.0.2.99"], "prefixes": [], "asns": [], "payment_fingerprints": [], "template_fingerprints": []},
)
ROWS = (ATTACK, CONFIRMED, DISMISSED, QUIET)
# account_id -> (score, campaign_id, flagged); acct-0500 belongs to no campaign.
SCORES = {
    "acct-0041": (0.93, ATTACK.campaign_id, True), "acct-0042": (0.9, ATTACK.campaign_id, True),
    "acct-0043": (0.88, ATTACK.campaign_id, True), "acct-0100": (0.97, CONFIRMED.campaign_id, True),
    "acct-0101": (0.95, CONFIRMED.campaign_id, True), "acct-0200": (0.6, DISMISSED.campaign_id, False),
    "acct-0300": (0.3, QUIET.campaign_id, False), "acct-0301": (0.29, QUIET.campaign_id, False),
    "acct-0500": (0.02, None, False),
}


def write_campaigns(path: Path, rows: tuple[Row, ...] = ROWS, *, scan_run_id: int = 1) -> None:
    """Replace the scan outputs in the store at `path` with `rows`, as a scan's publish would."""
    con = store.connect(path)
    try:
        with store.transaction(con):
            for table in ("campaigns", "campaign_accounts", "account_scores"):
                con.execute(f"DELETE FROM {table}")
            con.execute(
                "CREATE TABLE IF NOT EXISTS campaign_evidence (campaign_id VARCHAR NOT NULL,"
                " capability_mix JSON, sample_prompts JSON, unit VARCHAR, scan_run_id BIGINT)"
            )
            con.execute("DELETE FROM campaign_evidence")
            for r in rows:
                con.execute(
                    "INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted,"
                    " request_count, first_seen, last_seen, signals, rules, indicators, tags, status,"
                    " created_at, updated_at, scan_run_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [r.campaign_id, r.alert_id, r.title, r.severity, r.score, r.alerted,
                     r.request_count, r.first_seen, r.last_seen,
                     json.dumps({"families": ["graph", "rules"], "cot_share": 0.71}),
                     json.dumps(list(r.rules)), json.dumps(r.indicators), json.dumps(list(r.tags)),
                     r.status, r.created_at, r.updated_at, scan_run_id],
                )
                con.executemany(
                    "INSERT INTO campaign_accounts VALUES (?, ?)", [(r.campaign_id, a) for a in r.accounts]
                )
                con.execute(
                    "INSERT INTO campaign_evidence VALUES (?, '{}', ?, 'cluster:1', ?)",
                    [r.campaign_id, json.dumps([SECRET_PROMPT]), scan_run_id],
                )
            con.executemany(
                "INSERT INTO account_scores VALUES (?, ?, ?, ?, '{}', ?)",
                [(a, s, c, f, scan_run_id) for a, (s, c, f) in SCORES.items()],
            )
    finally:
        con.close()


def build_store(path: Path) -> Path:
    """The four campaigns, their accounts and scores, and the confirming verdict."""
    write_campaigns(path)
    con = store.connect(path)
    try:
        con.execute(
            "INSERT INTO verdicts VALUES ('campaign', ?, 'confirmed', 'analyst@example.com', 'seen it', ?)",
            [CONFIRMED.campaign_id, T0],
        )
    finally:
        con.close()
    return path


def rescanned(rows: tuple[Row, ...] = ROWS, hours: int = 6) -> tuple[Row, ...]:
    """The same campaigns as a later scan republishes them: new update time, later last sighting."""
    later = timedelta(hours=hours)
    return tuple(replace(r, updated_at=r.updated_at + later, last_seen=r.last_seen + later) for r in rows)
