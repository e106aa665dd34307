"""Account-level figures for one method: decisions and scores against the truth.

Every method (the scan and each baseline) is scored by the same function over the same
account universe, so the figures sit side by side. Undefined figures are NaN, and the reason
is returned as a note instead of raising.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

NAN = float("nan")


@dataclass(frozen=True)
class PopulationRate:
    """False-positive rate of one method on one benign population (`kind`)."""

    kind: str
    accounts: int
    flagged: int
    false_positive_rate: float


@dataclass(frozen=True)
class AccountMetrics:
    """Account-level precision, recall, F1, ranking quality and request-weighted recall."""

    method: str
    description: str
    flagged: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    average_precision: float
    roc_auc: float
    false_positive_rate: float
    request_weighted_recall: float
    populations: tuple[PopulationRate, ...]


def ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, NaN when the denominator is zero."""
    return numerator / denominator if denominator else NAN


def ranking_scores(
    is_attack: npt.NDArray[np.bool_], score: npt.NDArray[np.float64]
) -> tuple[float, float, str | None]:
    """PR-AUC (average precision) and ROC-AUC of `score`; NaN and a note with one class only."""
    positives = int(is_attack.sum())
    if positives == 0 or positives == is_attack.size:
        which = "no attack accounts" if positives == 0 else "no benign accounts"
        return NAN, NAN, f"PR-AUC and ROC-AUC are undefined (NaN): the truth has {which}"
    return (
        float(average_precision_score(is_attack, score)),
        float(roc_auc_score(is_attack, score)),
        None,
    )


def account_metrics(
    method: str,
    description: str,
    *,
    is_attack: npt.NDArray[np.bool_],
    score: npt.NDArray[np.float64],
    flagged: npt.NDArray[np.bool_],
    kind: npt.NDArray[np.object_],
    requests: npt.NDArray[np.int64],
) -> tuple[AccountMetrics, list[str]]:
    """Score one method's `flagged` decisions and `score` ranking; also return notes.

    All arrays are aligned on the same accounts. `kind` groups benign accounts into
    populations for the per-population false-positive rate; `requests` weights the
    request-weighted recall (share of attack requests sent by flagged accounts).
    """
    notes: list[str] = []
    tp = int(np.count_nonzero(flagged & is_attack))
    fp = int(np.count_nonzero(flagged & ~is_attack))
    fn = int(np.count_nonzero(~flagged & is_attack))
    precision = ratio(tp, tp + fp)
    if math.isnan(precision):
        notes.append(f"{method}: precision is undefined (NaN): nothing was flagged")
    recall = ratio(tp, tp + fn)
    # 2TP / (2TP + FP + FN) equals the harmonic mean and stays defined when nothing is flagged.
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    average_precision, roc_auc, ranking_note = ranking_scores(is_attack, score)
    if ranking_note:
        notes.append(ranking_note)
    attack_requests = int(requests[is_attack].sum())
    request_weighted_recall = ratio(int(requests[is_attack & flagged].sum()), attack_requests)
    benign = ~is_attack
    metrics = AccountMetrics(
        method=method,
        description=description,
        flagged=int(flagged.sum()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        average_precision=average_precision,
        roc_auc=roc_auc,
        false_positive_rate=ratio(fp, int(benign.sum())),
        request_weighted_recall=request_weighted_recall,
        populations=population_rates(kind[benign], flagged[benign]),
    )
    return metrics, notes


def population_rates(
    kind: npt.NDArray[np.object_], flagged: npt.NDArray[np.bool_]
) -> tuple[PopulationRate, ...]:
    """Per benign population: accounts, flagged accounts, false-positive rate; sorted by kind."""
    if kind.size == 0:
        return ()
    grouped = (
        pl.DataFrame({"kind": kind.astype(str), "flagged": flagged})
        .group_by("kind")
        .agg(accounts=pl.len(), flagged=pl.col("flagged").sum())
        .sort("kind")
    )
    return tuple(
        PopulationRate(
            kind=row["kind"],
            accounts=int(row["accounts"]),
            flagged=int(row["flagged"]),
            false_positive_rate=ratio(int(row["flagged"]), int(row["accounts"])),
        )
        for row in grouped.iter_rows(named=True)
    )
