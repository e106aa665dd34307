"""`evaluate`: score what the last scan stored against ground truth, beside naive baselines.

The evaluation universe is every account in the truth, in `account_scores` or in `requests`.
An account missing from `account_scores` has score 0 and is not flagged; an account missing
from the truth counts as benign, in the population `(not in truth)`. Every method is scored
over that same universe.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from detector.errors import DistillguardError
from detector.evaluate.baselines import (
    VOLUME_FEATURES,
    BaselineConfig,
    BaselineResult,
    account_volume_features,
    cot_keyword,
    isolation_forest,
    top_k_volume,
)
from detector.evaluate.campaigns import (
    alert_outcomes,
    alert_summary,
    campaign_outcomes,
    labelled_members,
)
from detector.evaluate.metrics import AccountMetrics, account_metrics
from detector.evaluate.report import Coverage, EvaluationReport
from detector.evaluate.scan_results import ScanResults, read_scan_results
from detector.evaluate.truth import BENIGN, load_truth

NOT_IN_TRUTH_KIND = "(not in truth)"
SCAN_DESCRIPTION = "the last scan: account_scores.flagged and score"
TRUTH_FRAME_COLUMNS = frozenset({"account_id", "label", "kind", "is_attack"})


def evaluate(
    con: duckdb.DuckDBPyConnection,
    truth: str | Path | pl.DataFrame,
    *,
    config: BaselineConfig | None = None,
    truth_source: str | None = None,
) -> EvaluationReport:
    """Score the store's scan results and the baselines against `truth`.

    `truth` is a `truth.csv` path or a frame from `truth.truth_frame` (columns `account_id`,
    `label`, `kind`, `is_attack`). Raises `DistillguardError` when the store has no scan
    results or shares no account with the truth.
    """
    config = config or BaselineConfig()
    if isinstance(truth, pl.DataFrame):
        missing = TRUTH_FRAME_COLUMNS - set(truth.columns)
        if missing:
            raise DistillguardError(
                f"truth frame lacks {', '.join(sorted(missing))}; build it with truth_frame()"
            )
        truth_frame, source = truth, truth_source or "truth frame"
    else:
        truth_frame, source = load_truth(truth), truth_source or str(truth)
    results = read_scan_results(con)
    volume = account_volume_features(con)
    universe = build_universe(truth_frame, results, volume)

    in_store = universe.filter(pl.col("in_truth") & (pl.col("scored") | pl.col("has_requests")))
    if in_store.height == 0:
        raise DistillguardError(
            f"none of the {truth_frame.height} accounts in {source} appear in the store; "
            "is it the truth for this data?"
        )

    coverage = _coverage(universe, truth_frame)
    notes = _coverage_notes(coverage)

    is_attack = universe["is_attack"].to_numpy()
    kind = universe["kind"].to_numpy().astype(object)
    requests = universe["requests"].to_numpy().astype(np.int64)
    scan_flagged = universe["flagged"].to_numpy()

    scan, scan_notes = account_metrics(
        "scan",
        SCAN_DESCRIPTION,
        is_attack=is_attack,
        score=universe["score"].to_numpy(),
        flagged=scan_flagged,
        kind=kind,
        requests=requests,
    )
    notes.extend(scan_notes)

    k, k_source = int(scan_flagged.sum()), "scan_flagged"
    if k == 0:
        k, k_source = int(is_attack.sum()), "true_attack_accounts"
        notes.append(
            f"the scan flagged nothing: volume baselines flag the top k = {k} "
            "(the number of true attack accounts)"
        )
    baselines: list[AccountMetrics] = []
    for baseline in _baselines(universe, k, config):
        metrics, baseline_notes = account_metrics(
            baseline.method,
            baseline.description,
            is_attack=is_attack,
            score=baseline.score,
            flagged=baseline.flagged,
            kind=kind,
            requests=requests,
        )
        baselines.append(metrics)
        notes.extend(baseline_notes)

    members = labelled_members(results.alert_members, universe)
    campaigns = campaign_outcomes(universe, results.alerts, members)
    alerts = alert_outcomes(results.alerts, members)
    if len(alerts) < results.alerts.height:
        notes.append(
            f"{results.alerts.height - len(alerts)} alerted campaign(s) have no accounts "
            "and are left out of purity"
        )
    summary = alert_summary(alerts, campaigns)
    if summary.alerts == 0:
        notes.append("no alerts: purity and fragmentation are undefined (NaN)")

    return EvaluationReport(
        truth_source=source,
        last_scan_run=results.last_run,
        coverage=coverage,
        scan=scan,
        campaigns=campaigns,
        alerts=alerts,
        alert_summary=summary,
        baseline_k=k,
        baseline_k_source=k_source,
        baselines=tuple(baselines),
        notes=tuple(dict.fromkeys(notes)),  # once each, in order
    )


def build_universe(truth: pl.DataFrame, results: ScanResults, volume: pl.DataFrame) -> pl.DataFrame:
    """One row per account in the truth, the scores or the requests, sorted by account id."""
    ids = (
        pl.concat(
            [
                truth.select("account_id"),
                results.accounts.select("account_id"),
                volume.select("account_id"),
            ]
        )
        .unique()
        .sort("account_id")
    )
    return (
        ids.join(
            truth.select("account_id", "label", "kind", "is_attack"), on="account_id", how="left"
        )
        .join(results.accounts.with_columns(scored=pl.lit(True)), on="account_id", how="left")
        .join(volume.with_columns(has_requests=pl.lit(True)), on="account_id", how="left")
        .with_columns(
            in_truth=pl.col("label").is_not_null(),
            label=pl.col("label").fill_null(BENIGN),
            kind=pl.col("kind").fill_null(NOT_IN_TRUTH_KIND),
            is_attack=pl.col("is_attack").fill_null(False),
            score=pl.col("score").fill_null(0.0).cast(pl.Float64),
            flagged=pl.col("flagged").fill_null(False),
            scored=pl.col("scored").fill_null(False),
            has_requests=pl.col("has_requests").fill_null(False),
        )
        .with_columns(pl.col(*VOLUME_FEATURES, "cot_keyword_share").fill_null(0.0))
    )


def _coverage(universe: pl.DataFrame, truth: pl.DataFrame) -> Coverage:
    in_truth, scored, has_requests = pl.col("in_truth"), pl.col("scored"), pl.col("has_requests")
    counts = universe.select(
        truth_accounts_unscored=(in_truth & ~scored).sum(),
        attack_accounts_unscored=(pl.col("is_attack") & ~scored).sum(),
        truth_accounts_without_requests=(in_truth & ~has_requests).sum(),
        scored_not_in_truth=(scored & ~in_truth).sum(),
        requests_not_in_truth=(has_requests & ~scored & ~in_truth).sum(),
        scored=scored.sum(),
        attack_requests=pl.col("requests").filter(pl.col("is_attack")).sum(),
    ).row(0, named=True)
    attack = truth.filter(pl.col("is_attack"))
    return Coverage(
        universe_accounts=universe.height,
        truth_accounts=truth.height,
        attack_accounts=attack.height,
        benign_accounts=truth.height - attack.height,
        true_campaigns=attack["label"].n_unique(),
        scored_accounts=int(counts["scored"]),
        truth_accounts_unscored=int(counts["truth_accounts_unscored"]),
        attack_accounts_unscored=int(counts["attack_accounts_unscored"]),
        truth_accounts_without_requests=int(counts["truth_accounts_without_requests"]),
        scored_accounts_not_in_truth=int(counts["scored_not_in_truth"]),
        request_accounts_not_in_truth=int(counts["requests_not_in_truth"]),
        attack_requests=int(counts["attack_requests"] or 0),
    )


def _coverage_notes(coverage: Coverage) -> list[str]:
    notes = []
    if coverage.truth_accounts_unscored:
        notes.append(
            f"{coverage.truth_accounts_unscored} truth account(s) have no score "
            f"({coverage.attack_accounts_unscored} of them attack; "
            f"{coverage.truth_accounts_without_requests} truth account(s) have no requests at "
            "all): counted as score 0, not flagged"
        )
    if coverage.scored_accounts_not_in_truth or coverage.request_accounts_not_in_truth:
        notes.append(
            f"{coverage.scored_accounts_not_in_truth} scored and "
            f"{coverage.request_accounts_not_in_truth} other stored account(s) are not in the "
            f"truth: counted as benign, population {NOT_IN_TRUTH_KIND!r}"
        )
    return notes


def _baselines(universe: pl.DataFrame, k: int, config: BaselineConfig) -> list[BaselineResult]:
    return [
        top_k_volume(universe["requests"].to_numpy(), k),
        isolation_forest(universe.select(VOLUME_FEATURES).to_numpy(), k, config),
        cot_keyword(universe["cot_keyword_share"].to_numpy(), config),
    ]
