"""JSONL and CSV exports parsed back with `json` and `csv` and compared with the store."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from export_store import ATTACK, CONFIRMED, DISMISSED, QUIET, SCORES, T0

from detector.export import Format, Level, render
from detector.export.csv import LIST_SEPARATOR

CONTRACT_FIELDS = [
    "alert_id", "campaign_id", "title", "severity", "score", "accounts", "request_count",
    "first_seen", "last_seen", "signals", "rules", "indicators", "tags", "status",
]


def text(con, fmt, level=Level.campaign, **kw) -> str:
    return "".join(render(con, fmt, level, **kw))


def parse_z(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")


def test_jsonl_matches_the_store_field_by_field(con):
    lines = text(con, Format.jsonl).splitlines()
    alerts = {a["campaign_id"]: a for a in map(json.loads, lines)}
    # alerted campaigns plus the dismissed one (it carries a verdict); never the quiet one
    assert set(alerts) == {ATTACK.campaign_id, CONFIRMED.campaign_id, DISMISSED.campaign_id}
    stored = {
        r[0]: r for r in con.execute(
            "SELECT campaign_id, alert_id, title, severity, score, request_count, first_seen, last_seen,"
            " indicators, rules FROM campaigns"
        ).fetchall()
    }
    members = con.execute(
        "SELECT campaign_id, list(account_id ORDER BY account_id) FROM campaign_accounts GROUP BY 1"
    ).fetchall()
    for cid, alert in alerts.items():
        assert list(alert) == CONTRACT_FIELDS
        row = stored[cid]
        assert (alert["alert_id"], alert["title"], alert["severity"], alert["score"], alert["request_count"]) == (
            row[1], row[2], row[3], row[4], row[5])
        assert parse_z(alert["first_seen"]) == row[6] and parse_z(alert["last_seen"]) == row[7]
        assert alert["accounts"] == dict(members)[cid]
        assert alert["indicators"] == json.loads(row[8])
        assert alert["rules"] == json.loads(row[9])
        assert "AML.T0024.002" in alert["tags"]
        assert 0 <= alert["score"] <= 1 and alert["severity"] in ("low", "medium", "high", "critical")
    assert alerts[ATTACK.campaign_id]["title"] == ATTACK.title  # quotes and non-ASCII survive
    assert alerts[ATTACK.campaign_id]["indicators"]["ips"] == ["203.0.113.7", "2001:db8:5::9"]


def test_status_is_the_analysts_latest_verdict(con):
    alerts = {a["campaign_id"]: a["status"] for a in map(json.loads, text(con, Format.jsonl).splitlines())}
    # the store row still says 'new'; the verdict recorded after the scan wins
    assert alerts == {ATTACK.campaign_id: "new", CONFIRMED.campaign_id: "confirmed",
                      DISMISSED.campaign_id: "dismissed"}


@pytest.mark.parametrize("status", ["new", "confirmed", "dismissed"])
def test_status_filter(con, status):
    got = [json.loads(line) for line in text(con, Format.jsonl, status=status).splitlines()]
    assert len(got) == 1 and got[0]["status"] == status


def test_since_keeps_alerts_last_seen_at_or_after(con):
    cut = DISMISSED.last_seen
    got = [json.loads(line)["campaign_id"] for line in text(con, Format.jsonl, since=cut).splitlines()]
    assert got == [DISMISSED.campaign_id, ATTACK.campaign_id]  # ordered by last sighting
    later = ATTACK.last_seen + timedelta(seconds=1)
    assert text(con, Format.jsonl, since=later) == ""


def test_ordering_is_by_last_seen_then_id_and_repeatable(con):
    first = text(con, Format.jsonl)
    ids = [json.loads(line)["campaign_id"] for line in first.splitlines()]
    assert ids == [CONFIRMED.campaign_id, DISMISSED.campaign_id, ATTACK.campaign_id]
    assert text(con, Format.jsonl) == first


def test_account_csv_is_contract_section_7(con):
    out = text(con, Format.csv, Level.account)
    assert out.splitlines()[0] == "account_id,score,campaign_id,flagged"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["account_id"] for r in rows] == sorted(SCORES)
    for r in rows:
        score, campaign, flagged = SCORES[r["account_id"]]
        assert float(r["score"]) == score
        assert r["campaign_id"] == (campaign or "")
        assert r["flagged"] == ("true" if flagged else "false")


def test_account_jsonl_carries_the_same_rows(con):
    rows = [json.loads(line) for line in text(con, Format.jsonl, Level.account).splitlines()]
    assert {r["account_id"]: (r["score"], r["campaign_id"], r["flagged"]) for r in rows} == SCORES


def test_campaign_csv_flattens_alerts(con):
    rows = list(csv.DictReader(io.StringIO(text(con, Format.csv))))
    by_id = {r["campaign_id"]: r for r in rows}
    assert set(by_id) == {ATTACK.campaign_id, CONFIRMED.campaign_id, DISMISSED.campaign_id}
    attack = by_id[ATTACK.campaign_id]
    assert attack["title"] == ATTACK.title
    assert attack["accounts"].split(LIST_SEPARATOR) == list(ATTACK.accounts)
    assert attack["prefixes"].split(LIST_SEPARATOR) == ATTACK.indicators["prefixes"]
    assert int(attack["account_count"]) == 3 and float(attack["score"]) == ATTACK.score
    assert "AML.T0024.002" in attack["tags"].split(LIST_SEPARATOR)
    assert json.loads(attack["signals"])["cot_share"] == 0.71
    assert parse_z(attack["first_seen"]) == ATTACK.first_seen
    assert by_id[CONFIRMED.campaign_id]["status"] == "confirmed"


def test_since_compares_instants_not_wall_clocks(con):
    # DISMISSED was last seen 2026-03-03 08:30Z, which is 10:30 at +02:00
    plus_two = timezone(timedelta(hours=2))
    at_same_instant = DISMISSED.last_seen.astimezone(plus_two)
    a_minute_later = at_same_instant + timedelta(minutes=1)
    assert DISMISSED.campaign_id in text(con, Format.jsonl, since=at_same_instant)
    assert DISMISSED.campaign_id not in text(con, Format.jsonl, since=a_minute_later)
    assert QUIET.campaign_id not in text(con, Format.jsonl, since=T0 - timedelta(days=365))


def test_bulk_account_writers_do_not_depend_on_the_batch_size(con):
    from detector.export.alerts import load_account_scores
    from detector.export.csv import account_csv
    from detector.export.jsonl import frame_lines

    frame = load_account_scores(con)
    assert frame.height > 4
    assert "".join(account_csv(frame, batch=4)) == text(con, Format.csv, Level.account)
    assert "".join(frame_lines(frame, batch=3)) == text(con, Format.jsonl, Level.account)
