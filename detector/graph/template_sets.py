"""Template-set similarity: accounts drawing their prompts from the same family of templates.

A campaign's accounts each use a handful of its templates; every template may be shared by
too many accounts to be a rare link on its own, but two accounts whose whole template sets
coincide are tied. Jaccard similarity over each account's distinct `template_fp` values, with
MinHash blocking; templates used across a large part of the population (greetings, popular
tasks) or by accounts spread like unrelated ones (a popular agent product's templates) are left
out of the sets. Needs `request_features`; empty without it.
"""

from __future__ import annotations

import duckdb

from detector.graph.params import GraphParams
from detector.graph.similarity import overlapping_pairs
from detector.graph.sql import scalar

TEMPLATE_PAIRS_TABLE = "graph_template_pairs"


def compute_template_similarity(
    con: duckdb.DuckDBPyConnection, params: GraphParams, *, has_templates: bool
) -> int:
    """Fill temp table `graph_template_pairs(account_a, account_b, template_similarity)` from
    the items the weighting step left in `graph_template_items(vertex, item)`."""
    if not has_templates:
        con.execute("DROP TABLE IF EXISTS graph_template_items")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TEMPLATE_PAIRS_TABLE} "
            "(account_a INTEGER, account_b INTEGER, template_similarity DOUBLE)"
        )
        return 0
    overlapping_pairs(
        con,
        items_table="graph_template_items",
        output_table="graph_template_overlaps",
        hashes=params.minhash_hashes,
        band_rows=params.minhash_band_rows,
        max_band_accounts=params.max_band_accounts,
        crowded_band_neighbours=params.crowded_band_neighbours,
        min_items=params.min_template_set,
        min_overlap=params.min_template_set,
        seed=params.seed + 1,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {TEMPLATE_PAIRS_TABLE} AS
        SELECT account_a, account_b, jaccard AS template_similarity
        FROM graph_template_overlaps
        """
    )
    con.execute("DROP TABLE graph_template_overlaps")
    con.execute("DROP TABLE graph_template_items")
    return int(scalar(con, f"SELECT count(*) FROM {TEMPLATE_PAIRS_TABLE}"))
