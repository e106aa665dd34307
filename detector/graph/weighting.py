"""Attribute weighting: inverse-degree IDF per value, hub pruning, per-type weights."""

from __future__ import annotations

import math

import duckdb

from detector.graph.params import ATTRIBUTE_FAMILIES, GraphParams


def rarity(accounts: float, reference_accounts: int) -> float:
    """Inverse-degree IDF of a value held by `accounts` accounts, in [0, 1] (1 for a pair)."""
    if accounts <= 2:
        return 1.0
    value = math.log(reference_accounts / accounts) / math.log(reference_accounts / 2)
    return min(1.0, max(0.0, value))


def write_weighted_attributes(con: duckdb.DuckDBPyConnection, params: GraphParams) -> None:
    """Rewrite `account_attributes` from `graph_raw_attributes` with degrees and weights.

    A value held by one account links nothing; a value held by more than
    `max_accounts_per_value` accounts is a hub: both are kept for evidence but marked pruned.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE graph_type_weights "
        "(attr_type VARCHAR, family VARCHAR, type_weight DOUBLE, max_accounts BIGINT)"
    )
    con.executemany(
        "INSERT INTO graph_type_weights VALUES (?, ?, ?, ?)",
        [
            [
                attr_type,
                family,
                float(params.type_weights.get(attr_type, 0.0)),
                int(params.max_accounts_by_type.get(attr_type, params.max_accounts_per_value)),
            ]
            for attr_type, family in ATTRIBUTE_FAMILIES.items()
        ],
    )
    reference = float(params.idf_reference_accounts)
    con.execute("DELETE FROM account_attributes")
    # Values are admitted rarest first, per type, while the pairs they would create stay
    # within `max_pairs_per_type`: the self-join that builds edges is bounded whatever the data.
    con.execute(
        """
        INSERT INTO account_attributes
        WITH degrees AS (
            SELECT attr_type, attr_value, count(*) AS accounts
            FROM graph_raw_attributes GROUP BY attr_type, attr_value
        ), budget AS (
            -- only values that can link (2 to max_accounts holders) compete for the budget
            SELECT d.attr_type, d.attr_value,
                   sum(accounts * (accounts - 1) / 2) OVER (
                       PARTITION BY d.attr_type ORDER BY accounts, attr_value
                       ROWS UNBOUNDED PRECEDING) AS cumulative_pairs
            FROM degrees d JOIN graph_type_weights w USING (attr_type)
            WHERE d.accounts BETWEEN 2 AND w.max_accounts
        ), budgeted AS (
            SELECT d.*, w.family, w.type_weight, w.max_accounts,
                   coalesce(b.cumulative_pairs, 0) AS cumulative_pairs
            FROM degrees d JOIN graph_type_weights w USING (attr_type)
            LEFT JOIN budget b USING (attr_type, attr_value)
        ), weighted AS (
            SELECT r.account_id, r.attr_type, r.attr_value, b.family, b.accounts,
                   CASE WHEN b.accounts <= 2 THEN 1.0
                        ELSE greatest(0.0, least(1.0, ln(? / b.accounts) / ln(? / 2.0)))
                   END AS rarity,
                   b.type_weight,
                   b.accounts < 2 OR b.accounts > b.max_accounts OR b.type_weight <= 0
                       OR b.cumulative_pairs > ? AS pruned
            FROM graph_raw_attributes r JOIN budgeted b USING (attr_type, attr_value)
        )
        SELECT account_id, attr_type, attr_value, family, accounts, rarity,
               CASE WHEN pruned THEN 0.0 ELSE type_weight * rarity END, pruned
        FROM weighted
        """,
        [reference, reference, params.max_pairs_per_type],
    )
