"""Naive detectors computed from `requests` in the same run, to put the scan's figures in context.

- `top_k_volume`: the k accounts with the most requests (score = request count).
- `isolation_forest`: a seeded IsolationForest on plain per-account volume features
  (log-scaled); score = anomaly score, the k most anomalous accounts flagged.
- `cot_keyword`: score = share of an account's prompts containing one of a small fixed list
  of chain-of-thought phrases; flagged when the share reaches a threshold.

k is the number of accounts the scan flagged (so the two volume baselines are compared at the
scan's operating point), or the number of true attack accounts when the scan flagged none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.ensemble import IsolationForest

from detector.evaluate.scan_results import query_frame

COT_PHRASES: tuple[str, ...] = (
    "step by step",
    "step-by-step",
    "chain of thought",
    "chain-of-thought",
    "show your reasoning",
    "show your work",
    "show all your work",
    "explain your reasoning",
    "your reasoning process",
    "reasoning trace",
    "internal reasoning",
    "every intermediate step",
    "each intermediate step",
    "think carefully",
    "let's think",
    "<thinking>",
)
COT_PATTERN = "|".join(re.escape(phrase) for phrase in COT_PHRASES)

VOLUME_FEATURES: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "active_hours",
    "active_days",
    "requests_per_active_hour",
    "peak_per_minute",
    "distinct_ips",
    "distinct_prefixes",
    "distinct_user_agents",
    "distinct_models",
)

# One pass over `requests` for every baseline feature; the CoT pattern is a bound parameter.
ACCOUNT_VOLUME_SQL = """
    WITH per_minute AS (
        SELECT account_id, max(n) AS peak_per_minute
        FROM (
            SELECT account_id, date_trunc('minute', "timestamp") AS minute, count(*) AS n
            FROM requests
            GROUP BY ALL
        )
        GROUP BY account_id
    ),
    per_account AS (
        SELECT
            account_id,
            count(*) AS requests,
            coalesce(sum(input_tokens), 0) AS input_tokens,
            coalesce(sum(output_tokens), 0) AS output_tokens,
            count(DISTINCT date_trunc('hour', "timestamp")) AS active_hours,
            count(DISTINCT CAST("timestamp" AS DATE)) AS active_days,
            count(DISTINCT client_ip) AS distinct_ips,
            count(DISTINCT ip_prefix) AS distinct_prefixes,
            count(DISTINCT user_agent) AS distinct_user_agents,
            count(DISTINCT model) AS distinct_models,
            avg(CAST(regexp_matches(lower(prompt), $cot_pattern) AS DOUBLE)) AS cot_keyword_share
        FROM requests
        GROUP BY account_id
    )
    SELECT a.*, a.requests / a.active_hours AS requests_per_active_hour, m.peak_per_minute
    FROM per_account AS a JOIN per_minute AS m USING (account_id)
"""


@dataclass(frozen=True)
class BaselineConfig:
    """Parameters of the baselines; the defaults are what `distillguard evaluate` uses."""

    seed: int = 0
    isolation_trees: int = 100
    cot_share_threshold: float = 0.3


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's score and decision per account, aligned with the evaluation universe."""

    method: str
    description: str
    score: npt.NDArray[np.float64]
    flagged: npt.NDArray[np.bool_]


def account_volume_features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per-account volume features and CoT keyword share, from `requests` in one SQL pass."""
    frame = query_frame(con, ACCOUNT_VOLUME_SQL, {"cot_pattern": COT_PATTERN})
    return frame.with_columns(
        pl.col(name).cast(pl.Float64) for name in (*VOLUME_FEATURES, "cot_keyword_share")
    )


def top_k_mask(score: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.bool_]:
    """The k highest scores; ties go to the earlier position (the universe is sorted by id)."""
    mask = np.zeros(score.size, dtype=bool)
    if k > 0:
        mask[np.argsort(-score, kind="stable")[: min(k, score.size)]] = True
    return mask


def top_k_volume(requests: npt.NDArray[np.float64], k: int) -> BaselineResult:
    """Flag the k accounts with the most requests; the ranking score is the request count."""
    return BaselineResult(
        method="top_k_volume",
        description=f"top {k} accounts by request count",
        score=requests.astype(np.float64),
        flagged=top_k_mask(requests.astype(np.float64), k),
    )


def isolation_forest(
    features: npt.NDArray[np.float64], k: int, config: BaselineConfig
) -> BaselineResult:
    """A seeded IsolationForest on log-scaled volume features; flag the k most anomalous."""
    if features.shape[0] < 2:
        score = np.zeros(features.shape[0])
    else:
        model = IsolationForest(
            n_estimators=config.isolation_trees, random_state=config.seed, n_jobs=1
        ).fit(np.log1p(features))
        score = -model.score_samples(np.log1p(features))  # higher = more anomalous
    return BaselineResult(
        method="isolation_forest",
        description=f"IsolationForest on {len(VOLUME_FEATURES)} volume features, top {k} flagged",
        score=score.astype(np.float64),
        flagged=top_k_mask(score, k),
    )


def cot_keyword(share: npt.NDArray[np.float64], config: BaselineConfig) -> BaselineResult:
    """Flag accounts whose share of prompts with a fixed CoT phrase reaches the threshold."""
    return BaselineResult(
        method="cot_keyword",
        description=(
            f"share of prompts with one of {len(COT_PHRASES)} CoT phrases "
            f">= {config.cot_share_threshold:g}"
        ),
        score=share.astype(np.float64),
        flagged=share >= config.cot_share_threshold,
    )
