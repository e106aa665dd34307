"""Write a scan's campaigns, account scores and rule hits to the store in one transaction.

Old campaigns that this scan no longer finds are removed, except those an analyst has
confirmed or dismissed: their verdict is history worth keeping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from detector.campaigns.assemble import CampaignDraft
from detector.campaigns.evidence import CampaignEvidence, to_json

DERIVED_DDL = (
    """
    CREATE TABLE IF NOT EXISTS rule_hits (
        entity_type  VARCHAR NOT NULL,   -- 'account' or 'cluster'
        entity_id    VARCHAR NOT NULL,
        rule_id      VARCHAR NOT NULL,
        scan_run_id  BIGINT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS campaign_lifecycle (
        campaign_id  VARCHAR NOT NULL,
        state        VARCHAR NOT NULL,   -- 'active' (found by the last scan) or 'closed'
        since_run    BIGINT,             -- the scan that put the campaign in this state
        since_at     TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS campaign_evidence (
        campaign_id     VARCHAR NOT NULL,
        capability_mix  JSON,
        sample_prompts  JSON,
        unit            VARCHAR,
        scan_run_id     BIGINT
    )
    """,
)


@dataclass(frozen=True)
class KnownCampaigns:
    """Campaigns already in the store: members, status, alerted flag and creation time."""

    members: dict[str, frozenset[str]]
    status: dict[str, str]
    alerted: dict[str, bool]
    created_at: dict[str, datetime]
    score: dict[str, float]
    severity: dict[str, str] = field(default_factory=dict)
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, tuple[str, int | None, datetime | None]] = field(default_factory=dict)
    last_seen: dict[str, datetime | None] = field(default_factory=dict)

    def retained(self, current: set[str]) -> frozenset[str]:
        """Ids kept although this scan did not find them again: those with a verdict."""
        return frozenset(
            cid for cid, status in self.status.items()
            if cid not in current and status in ("confirmed", "dismissed")
        )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in DERIVED_DDL:
        con.execute(ddl)


def known_campaigns(con: duckdb.DuckDBPyConnection) -> KnownCampaigns:
    members: dict[str, set[str]] = {}
    for cid, account in con.execute("SELECT campaign_id, account_id FROM campaign_accounts").fetchall():
        members.setdefault(str(cid), set()).add(str(account))
    rows = con.execute(
        "SELECT campaign_id, status, alerted, created_at, score, severity, rules, tags, signals,"
        " last_seen FROM campaigns"
    ).fetchall()
    state = {
        str(r[0]): (str(r[1]), r[2], r[3])
        for r in con.execute("SELECT campaign_id, state, since_run, since_at FROM campaign_lifecycle").fetchall()
    }

    def parsed(text: Any, default: Any) -> Any:
        return json.loads(text) if isinstance(text, str) and text else default

    return KnownCampaigns(
        members={cid: frozenset(m) for cid, m in members.items()},
        status={str(r[0]): str(r[1]) for r in rows},
        alerted={str(r[0]): bool(r[2]) for r in rows},
        created_at={str(r[0]): r[3] for r in rows},
        score={str(r[0]): float(r[4]) for r in rows},
        severity={str(r[0]): str(r[5]) for r in rows},
        rules={str(r[0]): tuple(parsed(r[6], [])) for r in rows},
        tags={str(r[0]): tuple(parsed(r[7], [])) for r in rows},
        signals={str(r[0]): dict(parsed(r[8], {})) for r in rows},
        state=state,
        last_seen={str(r[0]): r[9] for r in rows},
    )


def title_for(draft: CampaignDraft, evidence: CampaignEvidence) -> str:
    focus = next(iter(evidence.capability_mix), None)
    who = f"{len(draft.members)} accounts" if len(draft.members) > 1 else f"account {draft.members[0]}"
    about = f", mostly {focus}" if focus else ""
    return f"Possible model extraction by {who}{about}: {' + '.join(draft.families)}"


def publish(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: int,
    now: datetime,
    drafts: Sequence[CampaignDraft],
    evidence: dict[str, CampaignEvidence],
    scores: pl.DataFrame,
    hits: pl.DataFrame,
    known: KnownCampaigns,
    closed: frozenset[str] = frozenset(),
) -> None:
    """Replace the scan outputs with this scan's; the caller wraps it in a transaction.

    `closed` names the drafts carried over from earlier scans (see `carry_closed`): their
    lifecycle state becomes (or stays) 'closed'; every other draft is 'active'.
    """
    current = {d.campaign_id for d in drafts}
    keep = sorted(known.retained(current))
    con.execute("DELETE FROM campaign_accounts WHERE NOT list_contains(?::VARCHAR[], campaign_id)", [keep])
    con.execute("DELETE FROM campaigns WHERE NOT list_contains(?::VARCHAR[], campaign_id)", [keep])
    con.execute("DELETE FROM campaign_evidence WHERE NOT list_contains(?::VARCHAR[], campaign_id)", [keep])
    campaign_rows = []
    evidence_rows = []
    for d in drafts:
        ev = evidence.get(d.campaign_id, CampaignEvidence())
        campaign_rows.append((
            d.campaign_id, d.alert_id, title_for(d, ev), d.severity, d.score, d.alerted,
            ev.request_count, ev.first_seen, ev.last_seen,
            to_json({**d.signals, "capability_mix": ev.capability_mix}),
            to_json(list(d.rules)), to_json(ev.indicators), to_json(list(d.tags)), d.status,
            known.created_at.get(d.campaign_id, now), now, run_id,
        ))
        evidence_rows.append((d.campaign_id, to_json(ev.capability_mix), to_json(ev.sample_prompts), d.unit, run_id))
    if campaign_rows:
        con.executemany(
            "INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted,"
            " request_count, first_seen, last_seen, signals, rules, indicators, tags, status,"
            " created_at, updated_at, scan_run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            campaign_rows,
        )
        con.executemany("INSERT INTO campaign_evidence VALUES (?, ?, ?, ?, ?)", evidence_rows)
    members = pl.DataFrame(
        {"campaign_id": [d.campaign_id for d in drafts for _ in d.members],
         "account_id": [m for d in drafts for m in d.members]},
        schema={"campaign_id": pl.String, "account_id": pl.String},
    )
    con.register("publish_members_v", members.to_arrow())
    con.register("publish_scores_v", scores.to_arrow())
    con.register("publish_hits_v", hits.to_arrow())
    try:
        con.execute("INSERT INTO campaign_accounts SELECT campaign_id, account_id FROM publish_members_v")
        con.execute("DELETE FROM account_scores")
        con.execute(
            "INSERT INTO account_scores SELECT account_id, score, campaign_id, flagged,"
            " CAST(contributions AS JSON), ? FROM publish_scores_v",
            [run_id],
        )
        lifecycle = []
        for d in drafts:
            state = "closed" if d.campaign_id in closed else "active"
            old = known.state.get(d.campaign_id)
            since_run, since_at = (old[1], old[2]) if old and old[0] == state else (run_id, now)
            lifecycle.append((d.campaign_id, state, since_run, since_at))
        con.execute("DELETE FROM campaign_lifecycle")
        if lifecycle:
            con.executemany("INSERT INTO campaign_lifecycle VALUES (?, ?, ?, ?)", lifecycle)
        con.execute("DELETE FROM rule_hits")
        con.execute(
            "INSERT INTO rule_hits SELECT entity_type, entity_id, rule_id, ? FROM publish_hits_v",
            [run_id],
        )
    finally:
        for view in ("publish_members_v", "publish_scores_v", "publish_hits_v"):
            con.unregister(view)
