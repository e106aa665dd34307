"""Account-account edges: a self-join on shared attribute values after pruning, plus synchrony.

Per pair and family the shared values combine as a noisy-OR of their weights, damped by the
share of the busier account's evidence they cover; families add up
with their family weight; synchrony adds its own term. Pairs below the threshold are dropped,
then each account keeps its strongest `top_k_edges` edges.
"""

from __future__ import annotations

import duckdb

from detector.graph.params import FAMILIES, GraphParams
from detector.graph.sql import scalar
from detector.graph.synchrony import SYNC_PAIRS_TABLE
from detector.graph.template_sets import TEMPLATE_PAIRS_TABLE
from detector.graph.weighting import VALUE_WEIGHT_SQL

ACCOUNT_EDGES_DDL = """
CREATE TABLE IF NOT EXISTS account_edges (
    account_a       VARCHAR NOT NULL,   -- account_a < account_b
    account_b       VARCHAR NOT NULL,
    score           DOUBLE NOT NULL,
    network         DOUBLE NOT NULL,    -- per-family evidence in [0, 1], before family weights
    client          DOUBLE NOT NULL,
    payment         DOUBLE NOT NULL,
    signup          DOUBLE NOT NULL,
    email           DOUBLE NOT NULL,
    content         DOUBLE NOT NULL,
    synchrony       DOUBLE NOT NULL,    -- chance-corrected co-activity in [0, 1]
    template_similarity DOUBLE NOT NULL, -- Jaccard of the two accounts' template sets
    co_buckets      BIGINT NOT NULL,    -- time buckets both accounts were active in
    shared_values   BIGINT NOT NULL     -- shared, unpruned attribute values
)
"""

# A weight of 1 would make the noisy-OR's logarithm infinite.
_MAX_WEIGHT = 0.999999
# How far below the threshold a score bound may fall and still be checked exactly.
_ROUNDING_SLACK = 1e-6


def _add_network_evidence(
    con: duckdb.DuckDBPyConnection, params: GraphParams, network: int, network_weight: float
) -> None:
    """Fill temp table `graph_network_pairs(pair, <families>, shared_values)` with the network
    evidence of the pairs of `graph_partial_pairs` that it could lift to the edge threshold
    (the others keep a score without it, which stays below the threshold)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_network_live AS
        SELECT vertex, value_id, family, weight, log_miss
        FROM graph_live_attributes WHERE family = {network}
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_network_candidates AS
        SELECT CAST(pair // 4294967296 AS INTEGER) AS vertex_a,
               CAST(pair % 4294967296 AS INTEGER) AS vertex_b
        FROM graph_partial_pairs WHERE score + ? >= ?
        """,
        [network_weight, params.edge_threshold - _ROUNDING_SLACK],
    )
    # Two statements, so that the optimizer cannot start with the full self-join on values:
    # each candidate meets the few values of its first account, then keeps those the second
    # account holds too.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_network_probes AS
        SELECT c.vertex_a, c.vertex_b, x.value_id, x.family, x.weight, x.log_miss
        FROM graph_network_candidates c JOIN graph_network_live x ON x.vertex = c.vertex_a
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE graph_network_pairs AS "
        + _shared_evidence_sql(
            """SELECT p.vertex_a, p.vertex_b, p.family, p.weight, p.log_miss
               FROM graph_network_probes p
               SEMI JOIN graph_network_live y ON y.vertex = p.vertex_b AND y.value_id = p.value_id"""
        ),
        [params.coverage_exponent],
    )
    for table in (
        "graph_network_live",
        "graph_network_candidates",
        "graph_network_probes",
    ):
        con.execute(f"DROP TABLE {table}")


def _family_score_sql(params: GraphParams) -> tuple[str, list[float]]:
    """The pair score over the family columns and `synchrony`, `template_similarity` (unrounded),
    with its parameters in order."""
    # Template-set similarity is content evidence too: it competes with the shared rare
    # templates and system prompts (max), it does not add to them.
    weighted_sum = " + ".join(
        "? * greatest(content, least(1.0, template_similarity / ?))"
        if f == "content"
        else f"? * {f}"
        for f in FAMILIES
    )
    weights: list[float] = []
    for family in FAMILIES:
        weights.append(float(params.family_weights.get(family, 0.0)))
        if family == "content":
            weights.append(params.template_set_saturation)
    sync_weight = float(params.family_weights.get("synchrony", 0.0))
    sql = f"{weighted_sum} + ? * greatest(0.0, least(1.0, (synchrony - ?) / (? - ?)))"
    return sql, [
        *weights,
        sync_weight,
        params.synchrony_floor,
        params.synchrony_saturation,
        params.synchrony_floor,
    ]


def _shared_evidence_sql(shared_rows: str) -> str:
    """Per pair (`pair`, one column per family, `shared_values`) from `shared_rows`, rows of
    (vertex_a, vertex_b, family, weight, log_miss), one per shared value.

    Per pair and family: noisy-OR of the shared values' weights, damped by how much of the
    busier account's evidence the pair shares, so that an account holding thousands of values
    (a router, a reseller) is not tied to everyone it overlaps with a little.
    """
    family_cols = ",\n".join(
        f"coalesce(max(CASE WHEN p.family = {i} THEN p.evidence END), 0.0) AS {f}"
        for i, f in enumerate(FAMILIES)
    )
    return f"""
        WITH shared AS (
            SELECT vertex_a, vertex_b, family, sum(log_miss) AS log_miss,
                   sum(weight) AS shared_weight, count(*) AS shared_values
            FROM ({shared_rows}) GROUP BY vertex_a, vertex_b, family
        ), evidence AS (
            SELECT s.vertex_a, s.vertex_b, s.family, s.shared_values,
                   (1.0 - exp(s.log_miss))
                   * pow(least(1.0, s.shared_weight / greatest(ta.total, tb.total)), ?)
                       AS evidence
            FROM shared s
            JOIN graph_family_totals ta ON ta.vertex = s.vertex_a AND ta.family = s.family
            JOIN graph_family_totals tb ON tb.vertex = s.vertex_b AND tb.family = s.family
        )
        SELECT CAST(p.vertex_a AS BIGINT) * 4294967296 + p.vertex_b AS pair,
               {family_cols},
               sum(p.shared_values) AS shared_values
        FROM evidence p
        GROUP BY p.vertex_a, p.vertex_b"""


def write_account_edges(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    *,
    defer_network: bool | None = None,
    from_weighted: bool = False,
) -> tuple[int, int]:
    """Rewrite `account_edges`; returns (candidate pairs scored, edges kept).

    The live attribute values come from `account_attributes`, or, with `from_weighted`, from
    the same rows before they are stored: `graph_raw_attributes` and `graph_value_weights`
    (`weighting.weigh_attributes`), already keyed by vertex and value.

    Shared network values (addresses, prefixes) make most of the pairs, and network evidence
    alone (family weight below the edge threshold) can never make an edge. So when that holds,
    the other families, synchrony and template sets are scored first, and network evidence is
    added only to the pairs it could lift over the threshold: the same edges as scoring every
    pair that shares a value, for a fraction of the self-join.
    """
    family_ids = {family: i for i, family in enumerate(FAMILIES)}
    family_case = " ".join(f"WHEN '{f}' THEN {i}" for f, i in family_ids.items())
    network = family_ids["network"]
    network_weight = float(params.family_weights.get("network", 0.0))
    # the slack covers the rounding of scores to 9 decimals
    can_defer = network_weight < params.edge_threshold - _ROUNDING_SLACK
    defer_network = can_defer if defer_network is None else defer_network and can_defer

    # Integer keys only: value ids, vertex ids, family ids; one pair = one BIGINT.
    # A 64-bit hash of (type, value) keys the value: no sort, and collisions are negligible.
    if from_weighted:
        live = f"""SELECT r.vertex, r.value_key AS value_id, w.family, w.weight
                   FROM graph_raw_attributes r
                   JOIN (SELECT v.value_key, v.family, {VALUE_WEIGHT_SQL} AS weight
                         FROM graph_value_weights v WHERE NOT v.pruned) w USING (value_key)
                   WHERE w.weight > 0"""
    else:
        live = """SELECT v.vertex, hash(a.attr_type, a.attr_value) AS value_id, a.family,
                         a.weight
                  FROM account_attributes a JOIN graph_vertices v USING (account_id)
                  WHERE NOT a.pruned AND a.weight > 0"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_live_attributes AS
        SELECT vertex, value_id, CAST(CASE family {family_case} END AS TINYINT) AS family,
               weight, ln(1.0 - least(weight, {_MAX_WEIGHT})) AS log_miss
        FROM ({live})
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_family_totals AS
        SELECT vertex, family, sum(weight) AS total
        FROM graph_live_attributes GROUP BY vertex, family
        """
    )
    skipped = f"AND x.family <> {network}" if defer_network else ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE graph_attribute_pairs AS "
        + _shared_evidence_sql(
            f"""SELECT x.vertex AS vertex_a, y.vertex AS vertex_b, x.family, x.weight, x.log_miss
                FROM graph_live_attributes x JOIN graph_live_attributes y
                  ON x.value_id = y.value_id AND x.vertex < y.vertex
                WHERE TRUE {skipped}"""
        ),
        [params.coverage_exponent],
    )
    score_sql, score_params = _family_score_sql(params)
    fam_select = ", ".join(f"coalesce(p.{f}, 0.0) AS {f}" for f in FAMILIES)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_partial_pairs AS
        WITH sync AS (
            SELECT CAST(account_a AS BIGINT) * 4294967296 + account_b AS pair, synchrony, co_buckets
            FROM {SYNC_PAIRS_TABLE}
        ), templates AS (
            SELECT CAST(account_a AS BIGINT) * 4294967296 + account_b AS pair, template_similarity
            FROM {TEMPLATE_PAIRS_TABLE}
        ), joined AS (
            SELECT coalesce(p.pair, s.pair, t.pair) AS pair,
                   {fam_select},
                   coalesce(s.synchrony, 0.0) AS synchrony,
                   coalesce(t.template_similarity, 0.0) AS template_similarity,
                   coalesce(s.co_buckets, 0) AS co_buckets,
                   coalesce(p.shared_values, 0) AS shared_values
            FROM graph_attribute_pairs p
            FULL OUTER JOIN sync s ON p.pair = s.pair
            FULL OUTER JOIN templates t ON t.pair = coalesce(p.pair, s.pair)
        )
        SELECT *, {score_sql} AS score FROM joined
        """,
        score_params,
    )
    con.execute("DROP TABLE graph_attribute_pairs")
    if defer_network:
        _add_network_evidence(con, params, network, network_weight)
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE graph_network_pairs AS "
            "SELECT pair, network, shared_values FROM graph_partial_pairs LIMIT 0"
        )
    rounded_families = ", ".join(f"round({f}, 9) AS {f}" for f in FAMILIES)
    # The partial network column is 0 when deferred, and no network pair is added otherwise.
    # Rounded so that parallel float sums cannot flip an edge between re-runs.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_scored_pairs AS
        WITH joined AS (
            SELECT s.* EXCLUDE (network, shared_values, score),
                   s.network + coalesce(n.network, 0.0) AS network,
                   s.shared_values + coalesce(n.shared_values, 0) AS shared_values
            FROM graph_partial_pairs s LEFT JOIN graph_network_pairs n USING (pair)
        )
        SELECT * REPLACE ({rounded_families}), round({score_sql}, 9) AS score FROM joined
        """,
        score_params,
    )
    con.execute("DROP TABLE graph_partial_pairs")
    con.execute("DROP TABLE graph_network_pairs")
    scored = int(scalar(con, "SELECT count(*) FROM graph_scored_pairs"))
    columns = ", ".join(f"s.{f}" for f in FAMILIES)
    con.execute("DELETE FROM account_edges")
    con.execute(
        f"""
        INSERT INTO account_edges
        WITH strong AS (
            SELECT *, pair // 4294967296 AS vertex_a, pair % 4294967296 AS vertex_b
            FROM graph_scored_pairs WHERE score >= ?
        ), ends AS (
            SELECT vertex_a AS node, vertex_b AS other, pair, score FROM strong
            UNION ALL
            SELECT vertex_b, vertex_a, pair, score FROM strong
        ), kept AS (
            SELECT DISTINCT pair FROM ends
            QUALIFY row_number() OVER (PARTITION BY node ORDER BY score DESC, other) <= ?
        )
        SELECT va.account_id, vb.account_id, s.score, {columns}, s.synchrony,
               s.template_similarity, s.co_buckets,
               s.shared_values
        FROM strong s
        JOIN kept USING (pair)
        JOIN graph_vertices va ON va.vertex = s.vertex_a
        JOIN graph_vertices vb ON vb.vertex = s.vertex_b
        ORDER BY va.account_id, vb.account_id
        """,
        [params.edge_threshold, params.top_k_edges],
    )
    for table in (
        "graph_live_attributes",
        "graph_family_totals",
        "graph_scored_pairs",
    ):
        con.execute(f"DROP TABLE {table}")
    kept = int(scalar(con, "SELECT count(*) FROM account_edges"))
    return scored, kept
