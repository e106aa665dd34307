"""Per-account capability mix: shares, entropy, divergence from the population, high-value and CoT shares."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from detector.features.capability_taxonomy import Taxonomy, load_taxonomy
from detector.features.cot import COT_SHARE_THRESHOLD


def account_capability_features(
    request_features: pl.DataFrame,
    taxonomy: Taxonomy | None = None,
    population: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """One row per account_id from rows of (account_id, capability, cot_score).

    Columns: `cap_<name>_share` for every capability, `capability_entropy` (bits),
    `capability_divergence` (Jensen-Shannon divergence, base 2, in [0, 1], against
    `population` or else the pooled distribution of all requests in the frame),
    `high_value_share`, `cot_share` (share of requests with cot_score >= COT_SHARE_THRESHOLD)
    and `cot_intensity` (mean cot_score). Labels outside the taxonomy count as `other`.
    """
    taxonomy = load_taxonomy() if taxonomy is None else taxonomy
    counts = request_features.group_by("account_id", "capability").agg(pl.len().alias("requests"))
    cot = request_features.group_by("account_id").agg(
        pl.len().alias("requests"),
        (pl.col("cot_score").fill_null(0.0) >= COT_SHARE_THRESHOLD).sum().alias("cot_requests"),
        pl.col("cot_score").fill_null(0.0).sum().alias("cot_score_sum"),
    )
    return account_capability_from_counts(counts, cot, taxonomy, population)


def account_capability_from_counts(
    counts: pl.DataFrame,
    cot: pl.DataFrame,
    taxonomy: Taxonomy | None = None,
    population: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """The columns of `account_capability_features` from per-account counts.

    `counts` has rows (account_id, capability, requests); `cot` has one row per account with
    requests, cot_requests (score >= COT_SHARE_THRESHOLD) and cot_score_sum. Accounts of `cot`
    without capability counts get zero shares.
    """
    taxonomy = load_taxonomy() if taxonomy is None else taxonomy
    names = list(taxonomy.names)
    fallback = "other" if "other" in names else names[-1]
    labelled = counts.select(
        "account_id",
        pl.when(pl.col("capability").is_in(names)).then(pl.col("capability")).otherwise(pl.lit(fallback)).alias("capability"),
        pl.col("requests").cast(pl.Float64),
    )
    per_account = (
        cot.select(
            "account_id",
            (pl.col("cot_requests") / pl.col("requests")).cast(pl.Float64).alias("cot_share"),
            (pl.col("cot_score_sum") / pl.col("requests")).cast(pl.Float64).alias("cot_intensity"),
        )
        .join(
            labelled.group_by("account_id").agg(
                *[pl.col("requests").filter(pl.col("capability") == name).sum().alias(name) for name in names]
            ),
            on="account_id",
            how="left",
        )
        .with_columns(pl.col(names).fill_null(0.0))
        .sort("account_id")
    )
    matrix = per_account.select(names).to_numpy().astype(np.float64)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1.0)
    if population is None:
        reference = matrix.sum(axis=0) / max(matrix.sum(), 1.0)
    else:
        reference = np.array([float(population.get(name, 0.0)) for name in names])
        reference = reference / max(reference.sum(), np.finfo(float).tiny)
    high_value = np.array([name in taxonomy.high_value for name in names])
    return pl.DataFrame(
        {
            "account_id": per_account.get_column("account_id"),
            **{f"cap_{name}_share": shares[:, j] for j, name in enumerate(names)},
            "capability_entropy": entropy_bits(shares),
            "capability_divergence": jensen_shannon(shares, reference[np.newaxis, :]),
            "high_value_share": shares[:, high_value].sum(axis=1),
            "cot_share": per_account.get_column("cot_share"),
            "cot_intensity": per_account.get_column("cot_intensity"),
        }
    )


def entropy_bits(distributions: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of each row (0 log 0 = 0)."""
    logs = np.log2(distributions, out=np.zeros_like(distributions), where=distributions > 0)
    return np.asarray(-(distributions * logs).sum(axis=1))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between the rows of p and q."""
    m = (p + q) / 2.0
    return np.clip(0.5 * _kl(p, m) + 0.5 * _kl(np.broadcast_to(q, p.shape), m), 0.0, 1.0)


def _kl(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    ratio = np.divide(p, m, out=np.ones_like(p), where=p > 0)
    return np.asarray((p * np.log2(ratio)).sum(axis=1))
