"""Synchronized activity: accounts active in the same short time buckets again and again.

SynchroTrap-style pair similarity over each account's set of active buckets (minutes by
default), with MinHash blocking and estimation (`similarity.py`) so that it scales. The score is Jaccard
similarity corrected for chance: with activity concentrated at busy hours, two accounts with
n_a and n_b active buckets share about E = n_a * n_b / T_eff of them by accident, T_eff being
the effective number of buckets (inverse Simpson index of the population's activity), so

    synchrony = (J - J0) / (1 - J0),   J0 = E / (n_a + n_b - E).

Two always-on accounts overlap a lot by chance and score near zero; two accounts that burst in
the same minutes score near one.
"""

from __future__ import annotations

import duckdb

from detector.graph.params import GraphParams
from detector.graph.similarity import overlapping_pairs
from detector.graph.sql import scalar

SYNC_PAIRS_TABLE = "graph_sync_pairs"


def compute_synchrony(con: duckdb.DuckDBPyConnection, params: GraphParams) -> int:
    """Fill temp table `graph_sync_pairs(account_a, account_b, co_buckets, jaccard, synchrony)`.

    Accounts are the integer vertices of `graph_vertices`, account_a < account_b. Returns the
    number of pairs with positive synchrony.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_active_buckets AS
        SELECT v.vertex, b.item
        FROM (SELECT account_id, CAST(floor(epoch("timestamp") / ?) AS BIGINT) AS item
              FROM requests GROUP BY ALL) b
        JOIN graph_vertices v USING (account_id)
        """,
        [params.bucket_seconds],
    )
    effective = scalar(
        con,
        """
        SELECT coalesce(sum(m) * sum(m) / nullif(sum(m * m), 0), 1)
        FROM (SELECT count(*) AS m FROM graph_active_buckets GROUP BY item)
        """,
    )
    effective_buckets = float(effective) if effective else 1.0
    overlapping_pairs(
        con,
        items_table="graph_active_buckets",
        output_table="graph_bucket_overlaps",
        hashes=params.minhash_hashes,
        band_rows=params.minhash_band_rows,
        max_band_accounts=params.max_band_accounts,
        crowded_band_neighbours=params.crowded_band_neighbours,
        min_items=params.min_active_buckets,
        min_overlap=params.min_co_buckets,
        seed=params.seed,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SYNC_PAIRS_TABLE} AS
        WITH chance AS (
            SELECT account_a, account_b, overlap AS co_buckets,
                   jaccard,
                   least(n_a * n_b / ?, least(n_a, n_b)) AS expected, n_a, n_b
            FROM graph_bucket_overlaps
        ), corrected AS (
            SELECT *, expected / greatest(n_a + n_b - expected, 1e-9) AS j0 FROM chance
        )
        SELECT account_a, account_b, co_buckets, jaccard,
               CASE WHEN j0 >= 1.0 THEN 0.0
                    ELSE greatest(0.0, (jaccard - j0) / (1.0 - j0)) END AS synchrony
        FROM corrected
        """,
        [effective_buckets],
    )
    con.execute(f"DELETE FROM {SYNC_PAIRS_TABLE} WHERE synchrony <= 0")
    con.execute("DROP TABLE graph_bucket_overlaps")
    con.execute("DROP TABLE graph_active_buckets")
    return int(scalar(con, f"SELECT count(*) FROM {SYNC_PAIRS_TABLE}"))
