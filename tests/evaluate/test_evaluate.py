"""`evaluate` on hand-made scan results whose right answers are known."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from detector.errors import DistillguardError
from detector.evaluate import NOT_IN_TRUTH_KIND, evaluate, render_text, truth_frame


def by_label(report):
    return {campaign.label: campaign for campaign in report.campaigns}


def test_a_perfect_result_scores_perfectly(build, perfect):
    built = build(perfect)
    report = evaluate(built.con, built.truth)
    scan = report.scan
    assert (scan.precision, scan.recall, scan.f1) == (1.0, 1.0, 1.0)
    assert scan.roc_auc == 1.0 and scan.average_precision == 1.0
    assert scan.request_weighted_recall == 1.0
    assert {rate.kind: rate.false_positive_rate for rate in scan.populations} == {
        "casual": 0.0,
        "enterprise_batch": 0.0,
        "eval_harness": 0.0,
        "university_nat": 0.0,
    }
    summary = report.alert_summary
    assert (summary.alerts, summary.purity_mean, summary.purity_min) == (3, 1.0, 1.0)
    assert (summary.campaigns, summary.campaigns_alerted) == (3, 3)
    assert summary.fragmentation_mean == 1.0 and summary.fragmentation_max == 1
    campaigns = by_label(report)
    assert campaigns["camp-hydra"].alerts[0].campaign_id == "scan-hydra"
    assert campaigns["camp-hydra"].alerts[0].accounts == 12
    assert campaigns["camp-trace"].kind == "reasoning_trace"
    assert all(c.recall == 1.0 and c.alerted and c.fragmentation == 1 for c in report.campaigns)
    assert report.coverage.attack_accounts == 24
    assert report.coverage.true_campaigns == 3
    assert report.coverage.attack_requests == 24 * 40
    assert report.notes == ()


def fill_random(scenario, accounts: int = 3000, attack_share: float = 0.1, seed: int = 11):
    """Scores and flags drawn at random, independent of the truth: a detector at chance."""
    rng = np.random.default_rng(seed)
    attack = int(accounts * attack_share)
    for campaign in range(3):
        scenario.add(f"att{campaign}", attack // 3, f"camp-{campaign}", "hydra", requests=1)
    scenario.add("ben", accounts - attack, "benign", "casual", requests=1)
    for account in scenario.accounts:
        account.score = float(rng.uniform())
        account.flagged = bool(rng.uniform() < attack_share)
    flagged = [a.account_id for a in scenario.accounts if a.flagged]
    for index in range(0, len(flagged), 10):
        scenario.campaigns[f"rand-{index:04d}"] = (True, flagged[index : index + 10])
    return scenario


def test_a_random_result_scores_near_chance(build, scenario):
    built = build(fill_random(scenario))
    report = evaluate(built.con, built.truth)
    scan = report.scan
    # 300 attack and 2700 benign accounts: the AUC's standard error is about 0.017.
    assert abs(scan.roc_auc - 0.5) < 0.05
    # Average precision of a random ranking is about the prevalence (0.1).
    assert abs(scan.average_precision - 0.1) < 0.03
    # Random 10 % flags: precision about the prevalence, recall about the flag rate.
    assert abs(scan.precision - 0.1) < 0.05
    assert abs(scan.recall - 0.1) < 0.05
    assert scan.f1 < 0.2
    # Alerts of random accounts are mostly benign.
    assert report.alert_summary.alerts_majority_benign >= 0.8 * report.alert_summary.alerts


def test_merging_two_campaigns_into_one_alert_lowers_purity(build, scenario):
    hydra = scenario.add("hydra", 12, "camp-hydra", "hydra", score=0.9, flagged=True)
    trace = scenario.add("trace", 8, "camp-trace", "reasoning_trace", score=0.9, flagged=True)
    scenario.add("casual", 30, "benign", "casual")
    scenario.campaigns["merged"] = (True, hydra + trace)
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    (alert,) = report.alerts
    assert alert.majority_label == "camp-hydra"
    assert alert.purity == pytest.approx(12 / 20)
    assert report.alert_summary.purity_min < 1.0
    campaigns = by_label(report)
    assert campaigns["camp-trace"].alerted and campaigns["camp-trace"].fragmentation == 1
    assert campaigns["camp-trace"].alerts[0].campaign_id == "merged"
    assert campaigns["camp-trace"].alerts[0].accounts == 8
    assert report.scan.precision == 1.0  # account-level figures do not see the merge


def test_splitting_a_campaign_into_three_alerts_has_fragmentation_three(build, scenario):
    hydra = scenario.add("hydra", 9, "camp-hydra", "hydra", score=0.9, flagged=True)
    scenario.add("casual", 30, "benign", "casual")
    scenario.campaigns["part-a"] = (True, hydra[:5])
    scenario.campaigns["part-b"] = (True, hydra[5:7])
    scenario.campaigns["part-c"] = (True, hydra[7:])
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    campaign = by_label(report)["camp-hydra"]
    assert campaign.fragmentation == 3
    assert [(a.campaign_id, a.accounts) for a in campaign.alerts] == [
        ("part-a", 5),
        ("part-b", 2),
        ("part-c", 2),
    ]
    assert report.alert_summary.fragmentation_max == 3
    assert report.alert_summary.purity_min == 1.0


def test_false_positive_rate_is_counted_per_population(build, scenario):
    scenario.add("hydra", 10, "camp-hydra", "hydra", score=0.9, flagged=True)
    casual = scenario.add("casual", 60, "benign", "casual")
    nat = scenario.add("nat", 20, "benign", "university_nat")
    scenario.add("batch", 3, "benign", "enterprise_batch")
    evalh = scenario.add("evalh", 4, "benign", "eval_harness")
    flagged = set(casual[:6] + nat[:5] + evalh)
    for account in scenario.accounts:
        if account.account_id in flagged:
            account.flagged, account.score = True, 0.8
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    rates = {
        rate.kind: (rate.accounts, rate.flagged, rate.false_positive_rate)
        for rate in report.scan.populations
    }
    assert rates == {
        "casual": (60, 6, 0.1),
        "university_nat": (20, 5, 0.25),
        "enterprise_batch": (3, 0, 0.0),
        "eval_harness": (4, 4, 1.0),
    }
    assert report.scan.false_positives == 15
    assert report.scan.false_positive_rate == pytest.approx(15 / 87)


def test_request_weighted_recall_follows_attack_requests(build, scenario):
    scenario.add("big", 1, "camp-a", "hydra", requests=30, flagged=True, score=0.9)
    scenario.add("small", 1, "camp-a", "hydra", requests=10)
    scenario.add("casual", 5, "benign", "casual", requests=100)
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    assert report.scan.recall == 0.5
    assert report.scan.request_weighted_recall == 0.75
    assert by_label(report)["camp-a"].request_weighted_recall == 0.75


def test_a_campaign_without_alerted_coverage_is_not_alerted(build, scenario):
    hydra = scenario.add("hydra", 6, "camp-hydra", "hydra", score=0.6)
    scenario.add("casual", 10, "benign", "casual")
    scenario.campaigns["quiet"] = (False, hydra)  # a cluster the scan did not alert on
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    campaign = by_label(report)["camp-hydra"]
    assert not campaign.alerted and campaign.fragmentation == 0 and campaign.alerts == ()
    assert report.alert_summary.alerts == 0
    assert math.isnan(report.alert_summary.purity_mean)
    assert any("no alerts" in note for note in report.notes)


def test_membership_through_account_scores_campaign_id_counts(build, scenario):
    hydra = scenario.add("hydra", 4, "camp-hydra", "hydra", score=0.9, flagged=True)
    scenario.add("casual", 10, "benign", "casual")
    scenario.campaigns["c1"] = (True, hydra[:2])
    built = build(scenario)
    built.con.executemany(
        "UPDATE account_scores SET campaign_id = ? WHERE account_id = ?",
        [["c1", a] for a in hydra[2:]],
    )
    report = evaluate(built.con, built.truth)
    assert report.alerts[0].accounts == 4
    assert by_label(report)["camp-hydra"].alerts[0].accounts == 4


def test_accounts_outside_truth_or_scores_are_handled_as_documented(build, scenario):
    scenario.add("hydra", 3, "camp-hydra", "hydra", score=0.9, flagged=True)
    scenario.add("hunscored", 1, "camp-hydra", "hydra", scored=False)
    scenario.add("casual", 10, "benign", "casual")
    scenario.add("stranger", 2, "benign", "casual", in_truth=False, score=0.9, flagged=True)
    scenario.add("quiet", 1, "benign", "casual", in_truth=False, scored=False)
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    coverage = report.coverage
    assert coverage.truth_accounts == 14
    assert coverage.truth_accounts_unscored == 1
    assert coverage.attack_accounts_unscored == 1
    assert coverage.truth_accounts_without_requests == 0
    assert coverage.scored_accounts_not_in_truth == 2
    assert coverage.request_accounts_not_in_truth == 1
    assert coverage.universe_accounts == 17
    # The unscored attack account is a miss; strangers are benign false positives.
    assert (report.scan.true_positives, report.scan.false_negatives) == (3, 1)
    strangers = {rate.kind: rate for rate in report.scan.populations}[NOT_IN_TRUTH_KIND]
    assert (strangers.accounts, strangers.flagged) == (3, 2)
    assert len(report.notes) >= 2


def test_the_newest_scan_run_decides(build, scenario):
    scenario.add("hydra", 2, "camp-hydra", "hydra", score=0.1)
    scenario.add("casual", 4, "benign", "casual")
    built = build(scenario)
    built.con.executemany(
        "INSERT INTO account_scores (account_id, score, flagged, scan_run_id) VALUES (?, 0.95, true, 2)",
        [["hydra-0000"], ["hydra-0001"]],
    )
    report = evaluate(built.con, built.truth)
    assert report.scan.recall == 1.0
    assert report.coverage.scored_accounts == 6


def test_truth_without_attacks_gives_nan_not_a_crash(build, scenario):
    scenario.add("casual", 10, "benign", "casual", score=0.2)
    scenario.accounts[0].flagged = True
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    assert math.isnan(report.scan.roc_auc) and math.isnan(report.scan.recall)
    assert report.scan.false_positive_rate == 0.1
    assert report.campaigns == ()
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["scan"]["roc_auc"] is None
    assert any("no attack accounts" in note for note in data["notes"])
    text = io.StringIO()
    render_text(report, out=text)
    assert "n/a" in text.getvalue() and "note: PR-AUC and ROC-AUC are undefined" in text.getvalue()


def test_a_truth_frame_built_from_rows_evaluates_like_the_file(build, perfect):
    built = build(perfect)
    rows = [(a.account_id, a.label, a.kind) for a in perfect.accounts]
    from_rows = evaluate(
        built.con, truth_frame(rows, source="peer labels"), truth_source="peer labels"
    )
    from_file = evaluate(built.con, built.truth)
    assert from_rows.truth_source == "peer labels"
    assert from_rows.scan == from_file.scan
    assert from_rows.campaigns == from_file.campaigns


def test_when_the_scan_flags_nothing_baselines_use_the_true_attack_count(build, scenario):
    scenario.add("hydra", 5, "camp-hydra", "hydra", requests=50, score=0.4)
    scenario.add("casual", 20, "benign", "casual", requests=3, score=0.1)
    built = build(scenario)
    report = evaluate(built.con, built.truth)
    assert report.baseline_k == 5 and report.baseline_k_source == "true_attack_accounts"
    top_k = {b.method: b for b in report.baselines}["top_k_volume"]
    assert top_k.flagged == 5 and top_k.recall == 1.0
    assert report.scan.f1 == 0.0 and math.isnan(report.scan.precision)


def test_a_store_without_scan_results_is_an_error(build, scenario, tmp_path):
    scenario.add("casual", 3, "benign", "casual", scored=False)
    built = build(scenario)
    with pytest.raises(DistillguardError, match="no scan results"):
        evaluate(built.con, built.truth)


def test_truth_that_shares_no_account_with_the_store_is_an_error(build, perfect, tmp_path):
    built = build(perfect)
    other = tmp_path / "other.csv"
    other.write_text("account_id,label,kind\nnobody-1,benign,casual\nnobody-2,c9,hydra\n")
    with pytest.raises(DistillguardError, match="none of the 2 accounts"):
        evaluate(built.con, other)
