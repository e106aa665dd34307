"""The baselines: per-account features from SQL, and each naive detector's known failure."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detector.evaluate import evaluate
from detector.evaluate.baselines import (
    COT_PATTERN,
    COT_PHRASES,
    VOLUME_FEATURES,
    BaselineConfig,
    account_volume_features,
    isolation_forest,
    top_k_mask,
)


def baselines_of(report):
    return {baseline.method: baseline for baseline in report.baselines}


def test_top_k_volume_catches_the_high_volume_batch_jobs(build, perfect):
    built = build(perfect)
    report = evaluate(built.con, built.truth)
    top_k = baselines_of(report)["top_k_volume"]
    # k = 24 flagged by the scan; the 3 batch accounts (600 requests) outrank the 24 attack
    # accounts (40 each), which outrank everyone else: 3 false positives, 21 hits.
    assert report.baseline_k == 24
    assert (top_k.true_positives, top_k.false_positives) == (21, 3)
    batch = {rate.kind: rate for rate in top_k.populations}["enterprise_batch"]
    assert batch.false_positive_rate == 1.0
    assert top_k.f1 < report.scan.f1


def test_cot_keyword_flags_eval_harnesses_and_the_reasoning_campaign(build, perfect):
    built = build(perfect)
    report = evaluate(built.con, built.truth)
    keyword = baselines_of(report)["cot_keyword"]
    # reasoning-trace accounts (8, share 0.9) and eval harnesses (4, share 0.8) pass 0.3.
    assert (keyword.true_positives, keyword.false_positives) == (8, 4)
    harness = {rate.kind: rate for rate in keyword.populations}["eval_harness"]
    assert harness.flagged == 4


def test_isolation_forest_is_reported_at_the_scan_operating_point(build, perfect):
    built = build(perfect)
    report = evaluate(built.con, built.truth)
    forest = baselines_of(report)["isolation_forest"]
    assert forest.flagged == report.baseline_k
    assert 0.0 <= forest.roc_auc <= 1.0


def test_account_volume_features_by_hand(build, scenario):
    scenario.add("a", 1, "camp", "hydra", requests=40, ips=4, cot_share=0.9)
    scenario.add("b", 1, "benign", "casual", requests=3)
    built = build(scenario)
    features = {
        row["account_id"]: row for row in account_volume_features(built.con).iter_rows(named=True)
    }
    a, b = features["a-0000"], features["b-0000"]
    # 40 requests one minute apart from midnight: one active hour and day, one per minute.
    assert (a["requests"], a["active_hours"], a["active_days"], a["peak_per_minute"]) == (
        40,
        1,
        1,
        1,
    )
    assert a["requests_per_active_hour"] == 40
    assert (a["distinct_ips"], a["distinct_prefixes"]) == (4, 0)  # no enrichment in this store
    assert (a["input_tokens"], a["output_tokens"]) == (4000, 12000)
    assert a["cot_keyword_share"] == pytest.approx(36 / 40)
    assert b["cot_keyword_share"] == 0.0 and b["requests"] == 3
    assert set(VOLUME_FEATURES) <= set(features["a-0000"])


def test_every_cot_phrase_matches_case_insensitively_and_plain_text_does_not():
    con = duckdb.connect()
    texts = [f"Please, {phrase.upper()} for this one." for phrase in COT_PHRASES]
    texts += ["What is a good name for a grey cat?", "Steps to bake bread", "a chain of stores"]
    matched = [
        con.execute("SELECT regexp_matches(lower(?), ?)", [text, COT_PATTERN]).fetchone()[0]
        for text in texts
    ]
    assert matched == [True] * len(COT_PHRASES) + [False, False, False]


def test_top_k_mask_breaks_ties_by_position_and_caps_k():
    score = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    assert top_k_mask(score, 2).tolist() == [False, True, True, False, False]
    assert top_k_mask(score, 10).all()
    assert not top_k_mask(score, 0).any()


def volume_outliers(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """1,000 ordinary accounts and 50 whose volume, hours and IPs are ten times larger."""
    rng = np.random.default_rng(seed)
    normal = rng.lognormal(mean=2.0, sigma=0.5, size=(1000, len(VOLUME_FEATURES)))
    outliers = rng.lognormal(mean=2.0 + np.log(10), sigma=0.5, size=(50, len(VOLUME_FEATURES)))
    return np.vstack([normal, outliers]), np.r_[np.zeros(1000, bool), np.ones(50, bool)]


def test_isolation_forest_is_seeded_and_finds_volume_outliers():
    features, is_outlier = volume_outliers(seed=3)
    first = isolation_forest(features, k=50, config=BaselineConfig(seed=5))
    again = isolation_forest(features, k=50, config=BaselineConfig(seed=5))
    assert np.array_equal(first.score, again.score)
    assert roc_auc_score(is_outlier, first.score) >= 0.95
    assert (first.flagged & is_outlier).sum() >= 40
