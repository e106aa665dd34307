"""Campaigns that end: an alert, once raised, does not vanish when its campaign goes quiet.

A campaign this scan no longer finds is *closed*, not deleted, when it was alerted (or
confirmed), its accounts have gone quiet (no request in the last `close_after` of the store's
data) and this scan's campaigns have not absorbed it: it is carried over with its members,
score, severity, rules and alert, so exports and the account scores keep it and a later scan
that finds it again updates it instead of raising a new alert. A campaign whose members mostly
moved into a campaign of this scan was merged, and is dropped; one whose accounts are still
active lost its evidence, and is withdrawn. Dismissed campaigns are kept by
`KnownCampaigns.retained` as before. Only an analyst's verdict withdraws an alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

from detector.campaigns.assemble import CampaignDraft
from detector.campaigns.identity import alert_id_for
from detector.campaigns.publish import KnownCampaigns
from detector.scoring.verdicts import Verdicts


def carry_closed(
    known: KnownCampaigns,
    drafts: Sequence[CampaignDraft],
    verdicts: Verdicts,
    excluded: frozenset[str] = frozenset(),
    *,
    data_end: datetime | None = None,
    close_after: timedelta = timedelta(hours=24),
    activity: Mapping[str, datetime] | None = None,
) -> list[CampaignDraft]:
    """Drafts for the alerted or confirmed campaigns this scan lost and did not absorb.

    `excluded` accounts (allowlisted) are taken out; a campaign left without members is not
    carried. `data_end` is the newest request time in the store; a campaign last seen within
    `close_after` of it is still active, so losing it is a withdrawal, not a closure (confirmed
    campaigns are carried regardless). `activity` maps accounts to their last request in the
    store: a campaign's members that are still sending keep it active, whatever the campaign's
    stored `last_seen` (the time it was last *found*) says.
    """
    current = {d.campaign_id for d in drafts}
    claimed = {a for d in drafts for a in d.members}
    carried: list[CampaignDraft] = []
    for cid in sorted(known.members):
        status = verdicts.campaign_status(cid)
        if cid in current or status == "dismissed":
            continue
        if not (known.alerted.get(cid) or status == "confirmed"):
            continue
        last_seen = known.last_seen.get(cid)
        seen = [activity[a] for a in known.members[cid] if activity and a in activity]
        if seen:
            last_seen = max(seen)
        active = data_end is not None and (last_seen is None or last_seen > data_end - close_after)
        if active and status != "confirmed":
            continue
        members = tuple(sorted(known.members[cid] - excluded))
        if not members or 2 * len(claimed.intersection(members)) > len(members):
            continue
        signals = known.signals.get(cid, {})
        families = tuple(signals.get("families") or ())
        carried.append(CampaignDraft(
            campaign_id=cid,
            alert_id=alert_id_for(cid),
            unit=f"closed:{cid}",
            members=members,
            families=families,
            rules=known.rules.get(cid, ()),
            score=known.score.get(cid, 0.0),
            anomaly_score=float(signals.get("anomaly_score") or 0.0),
            severity=known.severity.get(cid, "low"),
            alerted=True,
            status=status,
            tags=known.tags.get(cid, ()),
            signals={k: v for k, v in signals.items() if k != "capability_mix"},
        ))
    return carried


def member_activity(accounts: pl.DataFrame) -> dict[str, datetime]:
    """Each account's last request (`last_seen` of the account features), for `carry_closed`."""
    if not {"account_id", "last_seen"} <= set(accounts.columns):
        return {}
    rows = accounts.select(pl.col("account_id").cast(pl.String), "last_seen").drop_nulls()
    return dict(rows.iter_rows())
