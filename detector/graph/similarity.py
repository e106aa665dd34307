"""Pairs of accounts whose item sets (active minutes, templates) overlap, found without a full
pairwise comparison.

MinHash with one-permutation hashing: each item is hashed once and falls into one of `k`
bins; an account's signature is the minimum hash per bin. Accounts that agree on a whole band
of `r` bins become candidates. A band shared by more than `max_band_accounts` accounts
(near-identical sets, such as a large campaign's) is not expanded into all its pairs: each
member is paired with its next `crowded_band_neighbours` members in a hashed order, a sparse
but connected sample that keeps the candidate count linear. Each candidate's Jaccard
similarity is estimated from the two signatures (matching bins over bins filled in either),
so no item list is ever materialized per pair; identical sets always estimate to exactly 1.
"""

from __future__ import annotations

import duckdb


def overlapping_pairs(
    con: duckdb.DuckDBPyConnection,
    *,
    items_table: str,
    output_table: str,
    hashes: int,
    band_rows: int,
    max_band_accounts: int,
    crowded_band_neighbours: int,
    min_items: int,
    min_overlap: int,
    seed: int,
) -> None:
    """Write `output_table(account_a, account_b, n_a, n_b, jaccard, overlap)`.

    `items_table` holds distinct (vertex INTEGER, item BIGINT) rows; accounts with fewer than
    `min_items` items are skipped; only pairs whose estimated overlap (shared items) reaches
    `min_overlap` are kept. Table names are code constants of the callers.
    """
    bands = max(1, hashes // band_rows)
    bins = bands * band_rows
    # One hash per (account, item); the bin and the value both come from it. Empty bins hold
    # -1, so two small accounts can collide on empty bins: that costs an estimate only.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_signatures AS
        WITH sizes AS (
            SELECT vertex, count(*) AS n FROM {items_table} GROUP BY vertex HAVING count(*) >= ?
        ), signature AS (
            SELECT i.vertex, hash(i.item, ?) % {bins} AS bin,
                   CAST(min(hash(i.item, ?) // {bins}) AS BIGINT) AS mh
            FROM {items_table} i SEMI JOIN sizes s ON s.vertex = i.vertex
            GROUP BY ALL
        )
        SELECT s.vertex, s.n,
               list(coalesce(g.mh, -1) ORDER BY b.bin) AS sig
        FROM sizes s CROSS JOIN range({bins}) AS b(bin)
        LEFT JOIN signature g ON g.vertex = s.vertex AND g.bin = b.bin
        GROUP BY s.vertex, s.n
        """,
        [min_items, seed, seed],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_band_keys AS
        SELECT vertex, band,
               hash(sig[band * {band_rows} + 1 : (band + 1) * {band_rows}]) AS band_key
        FROM graph_signatures CROSS JOIN range({bands}) AS b(band)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {output_table} AS
        WITH members AS (
            SELECT band, band_key, vertex,
                   row_number() OVER (PARTITION BY band, band_key ORDER BY hash(vertex, band))
                       AS position,
                   count(*) OVER (PARTITION BY band, band_key) AS crowd
            FROM graph_band_keys
        ), small AS (
            SELECT * FROM members WHERE crowd BETWEEN 2 AND ?
        ), crowded AS (
            SELECT * FROM members WHERE crowd > ?
        ), steps AS (
            -- a crowded band links each member to its next few, in a hashed order
            SELECT band, band_key, vertex, position + step.k AS target
            FROM crowded CROSS JOIN range(1, ? + 1) AS step(k)
        ), candidates AS (
            SELECT x.vertex AS account_a, y.vertex AS account_b
            FROM small x JOIN small y
              ON x.band = y.band AND x.band_key = y.band_key AND x.vertex < y.vertex
            UNION
            SELECT least(x.vertex, y.vertex), greatest(x.vertex, y.vertex)
            FROM steps x JOIN crowded y
              ON x.band = y.band AND x.band_key = y.band_key AND y.position = x.target
        ), estimated AS (
            SELECT c.account_a, c.account_b, a.n AS n_a, b.n AS n_b,
                   len(list_filter(list_zip(a.sig, b.sig),
                                   lambda z: z[1] = z[2] AND z[1] <> -1)) AS matching,
                   len(list_filter(list_zip(a.sig, b.sig),
                                   lambda z: z[1] <> -1 OR z[2] <> -1)) AS filled
            FROM candidates c
            JOIN graph_signatures a ON a.vertex = c.account_a
            JOIN graph_signatures b ON b.vertex = c.account_b
        )
        SELECT account_a, account_b, n_a, n_b, jaccard,
               -- |A ∩ B| = J (|A| + |B|) / (1 + J)
               least(least(n_a, n_b), round(jaccard * (n_a + n_b) / (1.0 + jaccard))) AS overlap
        FROM (SELECT *, matching / greatest(filled, 1) AS jaccard FROM estimated)
        """,
        [max_band_accounts, max_band_accounts, crowded_band_neighbours],
    )
    con.execute(f"DELETE FROM {output_table} WHERE overlap < ?", [min_overlap])
    con.execute("DROP TABLE graph_band_keys")
    con.execute("DROP TABLE graph_signatures")
