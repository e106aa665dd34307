"""Account-level figures on tiny arrays whose answers can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np

from detector.evaluate.metrics import account_metrics, population_rates, ranking_scores


def metrics_for(is_attack, flagged, score=None, kind=None, requests=None):
    is_attack = np.array(is_attack, dtype=bool)
    flagged = np.array(flagged, dtype=bool)
    n = is_attack.size
    return account_metrics(
        "m",
        "test method",
        is_attack=is_attack,
        score=np.array(score if score is not None else flagged, dtype=float),
        flagged=flagged,
        kind=np.array(kind if kind is not None else ["k"] * n, dtype=object),
        requests=np.array(requests if requests is not None else [1] * n, dtype=np.int64),
    )


def test_counts_precision_recall_f1_by_hand():
    # attack: 4 accounts, 3 flagged; benign: 6 accounts, 1 flagged
    metrics, notes = metrics_for([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    assert (metrics.true_positives, metrics.false_positives, metrics.false_negatives) == (3, 1, 1)
    assert metrics.precision == 0.75
    assert metrics.recall == 0.75
    assert math.isclose(metrics.f1, 0.75)
    assert math.isclose(metrics.false_positive_rate, 1 / 6)
    assert notes == []


def test_request_weighted_recall_weights_by_requests():
    metrics, _ = metrics_for([1, 1, 0], [1, 0, 1], requests=[30, 10, 500])
    assert metrics.recall == 0.5
    assert metrics.request_weighted_recall == 0.75  # 30 of 40 attack requests


def test_nothing_flagged_leaves_precision_undefined_but_f1_zero():
    metrics, notes = metrics_for([1, 0, 0], [0, 0, 0], score=[0.2, 0.1, 0.3])
    assert math.isnan(metrics.precision)
    assert metrics.recall == 0.0
    assert metrics.f1 == 0.0
    assert any("nothing was flagged" in note for note in notes)


def test_single_class_gives_nan_aucs_and_a_note_not_a_crash():
    average_precision, roc_auc, note = ranking_scores(np.zeros(5, dtype=bool), np.linspace(0, 1, 5))
    assert math.isnan(average_precision) and math.isnan(roc_auc)
    assert note is not None and "no attack accounts" in note
    metrics, notes = metrics_for([0, 0, 0], [1, 0, 0])
    assert math.isnan(metrics.recall)
    assert math.isnan(metrics.roc_auc)
    assert metrics.false_positive_rate == 1 / 3
    assert any("undefined" in note for note in notes)


def test_ranking_scores_perfect_and_inverted():
    truth = np.array([1, 1, 0, 0, 0], dtype=bool)
    assert ranking_scores(truth, np.array([0.9, 0.8, 0.1, 0.2, 0.3]))[:2] == (1.0, 1.0)
    assert ranking_scores(truth, np.array([0.1, 0.2, 0.9, 0.8, 0.7]))[1] == 0.0


def test_population_rates_per_kind_sorted():
    kind = np.array(["nat", "casual", "nat", "casual", "casual", "batch"], dtype=object)
    flagged = np.array([1, 0, 0, 1, 1, 0], dtype=bool)
    rates = {rate.kind: rate for rate in population_rates(kind, flagged)}
    assert [rate for rate in rates] == ["batch", "casual", "nat"]
    assert (rates["casual"].accounts, rates["casual"].flagged) == (3, 2)
    assert math.isclose(rates["casual"].false_positive_rate, 2 / 3)
    assert rates["nat"].false_positive_rate == 0.5
    assert rates["batch"].false_positive_rate == 0.0
