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


def write_account_edges(con: duckdb.DuckDBPyConnection, params: GraphParams) -> tuple[int, int]:
    """Rewrite `account_edges`; returns (candidate pairs scored, edges kept)."""
    family_ids = {family: i for i, family in enumerate(FAMILIES)}
    family_case = " ".join(f"WHEN '{f}' THEN {i}" for f, i in family_ids.items())
    family_cols = ",\n".join(
        f"coalesce(max(CASE WHEN p.family = {i} THEN p.evidence END), 0.0) AS {f}"
        for f, i in family_ids.items()
    )
    # Template-set similarity is content evidence too: it competes with the shared rare
    # templates and system prompts (max), it does not add to them.
    weighted_sum = " + ".join(
        "? * greatest(content, least(1.0, template_similarity / ?))"
        if f == "content"
        else f"? * {f}"
        for f in FAMILIES
    )
    family_weights: list[float] = []
    for family in FAMILIES:
        family_weights.append(float(params.family_weights.get(family, 0.0)))
        if family == "content":
            family_weights.append(params.template_set_saturation)
    sync_weight = float(params.family_weights.get("synchrony", 0.0))

    # Integer keys only: value ids, vertex ids, family ids; one pair = one BIGINT.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_live_attributes AS
        SELECT v.vertex,
               -- a 64-bit hash keys the value: no sort, and collisions are negligible
               hash(a.attr_type, a.attr_value) AS value_id,
               CAST(CASE a.family {family_case} END AS TINYINT) AS family,
               a.weight,
               ln(1.0 - least(a.weight, {_MAX_WEIGHT})) AS log_miss
        FROM account_attributes a JOIN graph_vertices v USING (account_id)
        WHERE NOT a.pruned AND a.weight > 0
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_family_totals AS
        SELECT vertex, family, sum(weight) AS total
        FROM graph_live_attributes GROUP BY vertex, family
        """
    )
    # Per pair and family: noisy-OR of the shared values' weights, damped by how much of the
    # busier account's evidence the pair shares, so that an account holding thousands of
    # values (a router, a reseller) is not tied to everyone it overlaps with a little.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_attribute_pairs AS
        WITH shared AS (
            SELECT x.vertex AS vertex_a, y.vertex AS vertex_b, x.family,
                   sum(x.log_miss) AS log_miss, sum(x.weight) AS shared_weight,
                   count(*) AS shared_values
            FROM graph_live_attributes x JOIN graph_live_attributes y
              ON x.value_id = y.value_id AND x.vertex < y.vertex
            GROUP BY x.vertex, y.vertex, x.family
        ), evidence AS (
            SELECT s.vertex_a, s.vertex_b, s.family, s.shared_values,
                   (1.0 - exp(s.log_miss))
                   * pow(least(1.0, s.shared_weight / greatest(ta.total, tb.total)), ?)
                       AS evidence
            FROM shared s
            JOIN graph_family_totals ta ON ta.vertex = s.vertex_a AND ta.family = s.family
            JOIN graph_family_totals tb ON tb.vertex = s.vertex_b AND tb.family = s.family
        )
        SELECT p.vertex_a * 4294967296 + p.vertex_b AS pair,
               {family_cols},
               sum(p.shared_values) AS shared_values
        FROM evidence p
        GROUP BY p.vertex_a, p.vertex_b
        """,
        [params.coverage_exponent],
    )
    rounded_families = ", ".join(f"round({f}, 9) AS {f}" for f in FAMILIES)
    fam_select = ", ".join(f"coalesce(p.{f}, 0.0) AS {f}" for f in FAMILIES)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_scored_pairs AS
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
        SELECT * REPLACE ({rounded_families}),
               -- rounded so that parallel float sums cannot flip an edge between re-runs
               round({weighted_sum}
                     + ? * greatest(0.0, least(1.0, (synchrony - ?) / (? - ?))), 9) AS score
        FROM joined
        """,
        [
            *family_weights,
            sync_weight,
            params.synchrony_floor,
            params.synchrony_saturation,
            params.synchrony_floor,
        ],
    )
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
        "graph_attribute_pairs",
        "graph_scored_pairs",
    ):
        con.execute(f"DROP TABLE {table}")
    kept = int(scalar(con, "SELECT count(*) FROM account_edges"))
    return scored, kept
