"""Alerts do not flap when a campaign ends: a lost, quiet campaign is closed, not deleted."""

from datetime import UTC, datetime, timedelta

from detector.campaigns.assemble import CampaignDraft
from detector.campaigns.lifecycle import carry_closed
from detector.campaigns.publish import KnownCampaigns
from detector.scoring import Verdicts

END = datetime(2026, 3, 20, tzinfo=UTC)


def known(last_seen, *, alerted=True, status="new", members=("a1", "a2", "a3")):
    cid = "cmp-old"
    return KnownCampaigns(
        members={cid: frozenset(members)}, status={cid: status}, alerted={cid: alerted},
        created_at={cid: END - timedelta(days=9)}, score={cid: 0.91}, severity={cid: "high"},
        rules={cid: ("r1",)}, tags={cid: ("AML.T0024.002",)},
        signals={cid: {"families": ["infrastructure", "metadata"], "anomaly_score": 0.8}},
        last_seen={cid: last_seen},
    )


def draft(cid, members):
    return CampaignDraft(cid, "alr", "cluster:x", tuple(members), ("cot",), (), 0.7, 0.5, "low", True, "new", ())


def test_a_quiet_alerted_campaign_is_carried_with_its_alert():
    (closed,) = carry_closed(known(END - timedelta(days=3)), [], Verdicts(), data_end=END)
    assert closed.campaign_id == "cmp-old" and closed.alerted
    assert closed.members == ("a1", "a2", "a3") and closed.score == 0.91 and closed.severity == "high"
    assert closed.families == ("infrastructure", "metadata") and closed.unit == "closed:cmp-old"


def test_a_campaign_lost_while_its_accounts_are_active_is_withdrawn():
    assert carry_closed(known(END - timedelta(hours=2)), [], Verdicts(), data_end=END) == []


def test_a_confirmed_campaign_is_kept_even_while_active():
    verdicts = Verdicts(confirmed_campaigns=frozenset({"cmp-old"}))
    (kept,) = carry_closed(known(END), [], verdicts, data_end=END)
    assert kept.status == "confirmed" and kept.alerted


def test_absorbed_dismissed_or_never_alerted_campaigns_are_not_carried():
    quiet = END - timedelta(days=3)
    absorbed = [draft("cmp-new", ["a1", "a2", "z"])]
    assert carry_closed(known(quiet), absorbed, Verdicts(), data_end=END) == []
    dismissed = Verdicts(dismissed_campaigns=frozenset({"cmp-old"}))
    assert carry_closed(known(quiet), [], dismissed, data_end=END) == []
    assert carry_closed(known(quiet, alerted=False), [], Verdicts(), data_end=END) == []
    # found again this scan: nothing to carry
    assert carry_closed(known(quiet), [draft("cmp-old", ["a1"])], Verdicts(), data_end=END) == []


def test_allowlisted_members_leave_a_closed_campaign():
    (closed,) = carry_closed(
        known(END - timedelta(days=3)), [], Verdicts(), frozenset({"a2"}), data_end=END
    )
    assert closed.members == ("a1", "a3")


def test_members_still_sending_keep_a_lost_campaign_active_so_it_is_withdrawn():
    # found three days ago and not since, but its accounts sent requests an hour ago: the
    # evidence is gone while the accounts are active, so the alert is withdrawn, not closed
    stale = known(END - timedelta(days=3))
    recent = {"a1": END - timedelta(hours=1), "a2": END - timedelta(days=5)}
    assert carry_closed(stale, [], Verdicts(), data_end=END, activity=recent) == []
    quiet = {"a1": END - timedelta(days=2), "a2": END - timedelta(days=5)}
    (closed,) = carry_closed(stale, [], Verdicts(), data_end=END, activity=quiet)
    assert closed.alerted
