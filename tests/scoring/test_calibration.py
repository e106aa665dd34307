"""Confirmed verdicts calibrate the alert threshold: it may not sit above a confirmed score."""

import polars as pl
import pytest

from detector.campaigns import CampaignParams, assemble_campaigns
from detector.rules import load_rules
from detector.scoring import Verdicts, calibrated_threshold

RULES = load_rules()


def test_threshold_drops_to_the_lowest_confirmed_score_within_bounds():
    assert calibrated_threshold(0.5, 0.3, []) == 0.5
    assert calibrated_threshold(0.5, 0.3, [0.9, 0.42]) == pytest.approx(0.42)
    assert calibrated_threshold(0.5, 0.3, [0.1]) == 0.3  # one odd confirmation cannot open the gates
    assert calibrated_threshold(0.5, 0.3, [0.8]) == 0.5  # confirmations never raise it


def _weak_cluster():
    """Two clusters with the same two low-level families and a low anomaly score."""
    low = {r.signal: r for r in RULES if r.scope == "cluster" and r.level == "low"}
    medium_meta = next(r for r in RULES if r.scope == "cluster" and r.signal == "metadata" and r.level == "medium")
    fired = [low["capability"].id, medium_meta.id]
    # three members each: a pair is judged like one account (CampaignParams.min_coordinated_members)
    ids = ["a1", "a2", "a3", "b1", "b2", "b3"]
    accounts = pl.DataFrame({"account_id": ids, "requests": [50] * 6, "anomaly_score": [0.0] * 6})
    membership = pl.DataFrame({"account_id": ids, "cluster_id": ["A"] * 3 + ["B"] * 3})
    clusters = pl.DataFrame({"cluster_id": ["A", "B"], "anomaly_score": [0.0, 0.0]})
    hits = pl.DataFrame({"entity_id": ["A", "A", "B", "B"], "rule_id": fired * 2})
    no_hits = pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String})
    return accounts, membership, clusters, no_hits, hits


def test_a_confirmed_campaign_lowers_the_threshold_for_its_peers():
    params = CampaignParams(alert_threshold=0.6, min_alert_threshold=0.2)
    drafts = assemble_campaigns(*_weak_cluster(), RULES, params=params)
    assert len(drafts) == 2
    score = drafts[0].score
    assert score < params.alert_threshold, "the fixture must score below the default threshold"
    assert not any(d.alerted for d in drafts)
    confirmed = Verdicts(confirmed_campaigns=frozenset({drafts[0].campaign_id}))
    again = assemble_campaigns(*_weak_cluster(), RULES, params=params, verdicts=confirmed)
    by_id = {d.campaign_id: d for d in again}
    assert by_id[drafts[0].campaign_id].status == "confirmed"
    # the confirmed one and its equally scored peer both alert now
    assert all(d.alerted for d in again)
    assert all(d.signals["alert_threshold"] <= score for d in again)


def test_a_confirmed_account_calibrates_like_a_confirmed_campaign():
    params = CampaignParams(alert_threshold=0.6, min_alert_threshold=0.2)
    verdicts = Verdicts(confirmed_accounts=frozenset({"b1"}))
    drafts = assemble_campaigns(*_weak_cluster(), RULES, params=params, verdicts=verdicts)
    assert all(d.alerted for d in drafts)


def test_stored_confirmed_scores_calibrate_but_not_below_the_floor():
    params = CampaignParams(alert_threshold=0.6, min_alert_threshold=0.59)
    drafts = assemble_campaigns(*_weak_cluster(), RULES, params=params, confirmed_scores=[0.1])
    assert drafts and not any(d.alerted for d in drafts)
    assert drafts[0].signals["alert_threshold"] == pytest.approx(0.59)
