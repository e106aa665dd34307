"""Attribute weighting: inverse-degree IDF per value, hub pruning, per-type weights, and a
discount for values whose holders are otherwise unrelated (dispersed hubs)."""

from __future__ import annotations

import math

import duckdb

from detector.graph.params import ATTRIBUTE_FAMILIES, GraphParams
from detector.graph.sql import scalar


def rarity(accounts: float, reference_accounts: int) -> float:
    """Inverse-degree IDF of a value held by `accounts` accounts, in [0, 1] (1 for a pair)."""
    if accounts <= 2:
        return 1.0
    value = math.log(reference_accounts / accounts) / math.log(reference_accounts / 2)
    return min(1.0, max(0.0, value))


# The one definition of the dispersion ramp, used by the weighting SQL and by `dispersion_factor`.
_DISPERSION_FACTOR_MACRO = """
CREATE OR REPLACE TEMP MACRO graph_dispersion_factor(spread, low, high) AS
    CASE WHEN spread IS NULL THEN 1.0
         ELSE 1.0 - greatest(0.0, least(1.0, (spread - low) / (high - low))) END
"""


def define_dispersion_factor(con: duckdb.DuckDBPyConnection) -> None:
    """Define the SQL macro `graph_dispersion_factor(spread, low, high)` on `con`."""
    con.execute(_DISPERSION_FACTOR_MACRO)


def dispersion_factor(
    con: duckdb.DuckDBPyConnection, spread: float | None, low: float, high: float
) -> float:
    """Weight multiplier of a value from its holders' spread: 1 up to `low`, 0 from `high`
    (NULL spread: 1), evaluated by the same macro the weighting SQL uses."""
    define_dispersion_factor(con)
    return float(
        scalar(con, "SELECT graph_dispersion_factor(?::DOUBLE, ?::DOUBLE, ?::DOUBLE)",
               [spread, low, high])
    )


def write_value_spread(con: duckdb.DuckDBPyConnection, params: GraphParams) -> None:
    """Fill temp table `graph_value_spread(value_key, spread)`.

    For each value of a `dispersion_types` type held by at least `dispersion_min_accounts`
    accounts: how spread out its holders are over home networks (the prefix most of an
    account's requests come from) and over sign-up days, each as the distinct count among the
    holders over the distinct count expected of as many accounts drawn at random from the
    population. An operator's accounts concentrate in at least one of the two (rented blocks,
    sign-up waves), so `spread` is the smaller ratio: near 1 means the holders look like a
    random sample of the population -- a popular product's system prompt or template.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_signup AS
        SELECT v.vertex, CAST(min(a.created_at) AS DATE) AS signup_day
        FROM accounts a JOIN graph_vertices v USING (account_id)
        WHERE a.created_at IS NOT NULL GROUP BY v.vertex
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_value_spread AS
        WITH wide AS (
            -- values that a spread could still change: not already over their type's cap
            -- (or, for templates, the template-set cap)
            SELECT d.value_key FROM graph_value_degrees d JOIN graph_type_weights w USING (attr_type)
            WHERE d.attr_type IN (SELECT unnest(?::VARCHAR[])) AND d.accounts >= ?
              AND d.accounts <= CASE WHEN d.attr_type = 'template_fp'
                                     THEN greatest(w.max_accounts, ?) ELSE w.max_accounts END
        ), holders AS (
            SELECT r.value_key, h.home, s.signup_day
            FROM graph_raw_attributes r SEMI JOIN wide w USING (value_key)
            LEFT JOIN graph_account_home h USING (vertex)
            LEFT JOIN graph_account_signup s USING (vertex)
        ), observed AS (
            SELECT value_key,
                   count(DISTINCT home) AS networks, count(home) AS with_network,
                   count(DISTINCT signup_day) AS signup_days, count(signup_day) AS with_signup
            FROM holders GROUP BY value_key
        ), network_classes AS (
            -- home networks grouped by how many accounts they hold: few distinct sizes
            SELECT held, count(*) AS networks, sum(count(*) * held) OVER () AS total
            FROM (SELECT count(*) AS held FROM graph_account_home GROUP BY home)
            GROUP BY held
        ), day_classes AS (
            SELECT held, count(*) AS days, sum(count(*) * held) OVER () AS total
            FROM (SELECT count(*) AS held FROM graph_account_signup GROUP BY signup_day)
            GROUP BY held
        ), expected_networks AS (
            -- E[distinct networks among n random accounts] = sum_k 1 - (1 - p_k)^n
            SELECT n, sum(c.networks * (1.0 - pow(1.0 - c.held / c.total, n))) AS expected
            FROM (SELECT DISTINCT with_network AS n FROM observed) CROSS JOIN network_classes c
            GROUP BY n
        ), expected_days AS (
            SELECT n, sum(c.days * (1.0 - pow(1.0 - c.held / c.total, n))) AS expected
            FROM (SELECT DISTINCT with_signup AS n FROM observed) CROSS JOIN day_classes c
            GROUP BY n
        )
        SELECT o.value_key,
               round(least(CASE WHEN o.with_network > 1 THEN o.networks / en.expected END,
                           CASE WHEN o.with_signup > 1 THEN o.signup_days / ed.expected END), 9)
                   AS spread
        FROM observed o
        LEFT JOIN expected_networks en ON en.n = o.with_network
        LEFT JOIN expected_days ed ON ed.n = o.with_signup
        """,
        [
            list(params.dispersion_types),
            params.dispersion_min_accounts,
            params.max_accounts_per_template_set_item,
        ],
    )
    con.execute("DROP TABLE graph_account_signup")


def weigh_attributes(con: duckdb.DuckDBPyConnection, params: GraphParams) -> None:
    """Weigh every value of `graph_raw_attributes` into temp table `graph_value_weights`
    (value_key, attr_type, attr_value, accounts, family, type_weight, max_accounts, spread,
    dispersion_factor, rarity, pruned) and list the template-set items in
    `graph_template_items(vertex, item)`.

    A value held by one account links nothing; a value held by more than
    `max_accounts_per_value` accounts is a hub, and so is a value whose holders are spread
    like a random sample of the population (`write_value_spread`): both are kept for
    evidence but marked pruned -- except template fingerprints, which are listed only when they
    can link accounts. Values in between lose weight with their spread.
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
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_value_degrees AS
        SELECT value_key, any_value(attr_type) AS attr_type, any_value(attr_value) AS attr_value,
               count(*) AS accounts
        FROM graph_raw_attributes GROUP BY value_key
        """
    )
    write_value_spread(con, params)
    reference = float(params.idf_reference_accounts)
    low, high = params.dispersion_low, params.dispersion_high
    define_dispersion_factor(con)
    # Values are admitted rarest first, per type, while the pairs they would create stay
    # within `max_pairs_per_type`: the self-join that builds edges is bounded whatever the data.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_value_weights AS
        WITH scored AS (
            SELECT d.value_key, d.attr_type, d.attr_value, d.accounts, w.family, w.type_weight,
                   w.max_accounts, s.spread,
                   graph_dispersion_factor(s.spread, ?, ?) AS dispersion_factor
            FROM graph_value_degrees d JOIN graph_type_weights w USING (attr_type)
            LEFT JOIN graph_value_spread s USING (value_key)
        ), budget AS (
            -- only values that can link compete for the budget
            SELECT value_key,
                   sum(accounts * (accounts - 1) / 2) OVER (
                       PARTITION BY attr_type ORDER BY accounts, attr_value
                       ROWS UNBOUNDED PRECEDING) AS cumulative_pairs
            FROM scored
            WHERE accounts BETWEEN 2 AND max_accounts AND dispersion_factor > 0
              AND type_weight > 0
        )
        SELECT s.*,
               CASE WHEN s.accounts <= 2 THEN 1.0
                    ELSE greatest(0.0, least(1.0, ln(? / s.accounts) / ln(? / 2.0)))
               END AS rarity,
               s.accounts < 2 OR s.accounts > s.max_accounts OR s.type_weight <= 0
                   OR s.dispersion_factor <= 0 OR coalesce(b.cumulative_pairs, 0) > ?
                   AS pruned
        FROM scored s LEFT JOIN budget b USING (value_key)
        """,
        [low, high, reference, reference, params.max_pairs_per_type],
    )
    # The items of the template-set similarity: templates shared by a few to a few thousand
    # accounts, dispersed hubs left out.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_template_items AS
        SELECT r.vertex, CAST(r.value_key >> 1 AS BIGINT) AS item
        FROM graph_raw_attributes r JOIN graph_value_weights v USING (value_key)
        WHERE v.attr_type = 'template_fp' AND v.accounts BETWEEN 2 AND ?
          AND coalesce(v.spread, 0.0) < ?
        """,
        [params.max_accounts_per_template_set_item, params.dispersion_high],
    )
    con.execute("DROP TABLE graph_value_spread")
    con.execute("DROP TABLE graph_value_degrees")


# The weight of a value as `account_attributes` stores it (v: `graph_value_weights`).
VALUE_WEIGHT_SQL = (
    "CASE WHEN v.pruned THEN 0.0 ELSE v.type_weight * v.rarity * v.dispersion_factor END"
)


def insert_account_attributes(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite `account_attributes` from `graph_raw_attributes` and the weights of
    `weigh_attributes` (then dropped)."""
    con.execute("DELETE FROM account_attributes")
    # Templates are most of the rows: only those that can link accounts are listed (the
    # clusters' template figures are counted from `graph_template_requests`).
    con.execute(
        f"""
        INSERT INTO account_attributes BY NAME
        SELECT r.account_id, r.attr_type, r.attr_value, v.family, v.accounts, v.rarity,
               {VALUE_WEIGHT_SQL} AS weight, v.pruned, v.spread
        FROM graph_raw_attributes r JOIN graph_value_weights v USING (value_key)
        WHERE NOT (v.attr_type = 'template_fp' AND v.pruned)
        """
    )
    con.execute("DROP TABLE graph_value_weights")
