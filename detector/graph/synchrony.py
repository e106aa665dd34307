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

from concurrent.futures import Executor, Future

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from detector.graph.activity_sketches import effective_buckets, window_signatures
from detector.graph.params import GraphParams
from detector.graph.similarity import signature_pairs, write_pair_rows
from detector.graph.sql import scalar
from detector.graph.window import GraphWindow

SYNC_PAIRS_TABLE = "graph_sync_pairs"


def start_synchrony(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    window: GraphWindow,
    executor: Executor,
) -> Future[pa.Table]:
    """Read the window's activity signatures of the `graph_vertices` accounts and find their
    co-active pairs on `executor` (numpy only), so that the search runs beside the queries
    that follow; `compute_synchrony` takes the result."""
    vertices, buckets, sig = window_signatures(con, params, window)
    return executor.submit(_bucket_overlaps, params, vertices, buckets, sig)


def _bucket_overlaps(
    params: GraphParams,
    vertices: npt.NDArray[np.int64],
    buckets: npt.NDArray[np.int64],
    sig: npt.NDArray[np.uint32],
) -> pa.Table:
    return signature_pairs(
        accounts=vertices,
        sizes=buckets,
        sig=sig,
        band_rows=params.minhash_band_rows,
        max_band_accounts=params.max_band_accounts,
        crowded_band_neighbours=params.crowded_band_neighbours,
        min_overlap=params.min_co_buckets,
        seed=params.seed,
    )


def compute_synchrony(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    window: GraphWindow,
    pending: Future[pa.Table] | None = None,
) -> int:
    """Fill temp table `graph_sync_pairs(account_a, account_b, co_buckets, jaccard, synchrony)`.

    Accounts are the integer vertices of `graph_vertices`, account_a < account_b. The window's
    activity comes from the stored daily sketches (`activity_sketches.refresh_sketches` brings
    them up to date first); `pending` is the pair search `start_synchrony` started, if any.
    Returns the number of pairs with positive synchrony.
    """
    if pending is None:
        overlaps = _bucket_overlaps(params, *window_signatures(con, params, window))
    else:
        overlaps = pending.result()
    write_pair_rows(con, overlaps, "graph_bucket_overlaps")
    del overlaps
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
        [effective_buckets(con, window)],
    )
    con.execute(f"DELETE FROM {SYNC_PAIRS_TABLE} WHERE synchrony <= 0")
    con.execute("DROP TABLE graph_bucket_overlaps")
    return int(scalar(con, f"SELECT count(*) FROM {SYNC_PAIRS_TABLE}"))
