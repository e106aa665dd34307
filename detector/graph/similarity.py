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

The items are read once from DuckDB as two integer arrays; signatures, banding and estimates
are numpy array operations (no Python loop per account or per pair).
"""

from __future__ import annotations

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

_EMPTY = np.uint32(np.iinfo(np.uint32).max)
_ESTIMATE_CHUNK = 400_000


def mix64(values: npt.NDArray[np.uint64], seed: int) -> npt.NDArray[np.uint64]:
    """SplitMix64 finalizer of `values` xor a seed: a fast, well-spread 64-bit hash."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def signatures(
    vertex: npt.NDArray[np.int64], item: npt.NDArray[np.int64], *, bins: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """(vertices, signature matrix) of the distinct (vertex, item) rows; empty bins hold the
    all-ones sentinel. Vertices (small non-negative integers) come back sorted."""
    present = np.bincount(vertex) > 0
    accounts = np.flatnonzero(present)
    local = (np.cumsum(present) - 1)[vertex]  # rank of each vertex, without a sort
    hashed = mix64(item.astype(np.uint64), seed)
    bin_of = (hashed % np.uint64(bins)).astype(np.int64)
    value = (hashed >> np.uint64(32)).astype(np.uint32)  # high bits: independent of the bin
    sig = np.full(len(accounts) * bins, _EMPTY, dtype=np.uint32)
    np.minimum.at(sig, local * bins + bin_of, value)
    return accounts, sig.reshape(len(accounts), bins)


def _distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values (an in-place sort: faster than `np.unique` on large arrays)."""
    values.sort()
    if len(values) == 0:
        return values
    return values[np.r_[True, values[1:] != values[:-1]]]


def _band_candidates(
    sig: npt.NDArray[np.uint32],
    *,
    band_rows: int,
    max_band_accounts: int,
    crowded_band_neighbours: int,
    seed: int,
) -> npt.NDArray[np.int64]:
    """Candidate pairs (row indices of `sig`, packed as a * 2**32 + b with a < b), unique."""
    n, bins = sig.shape
    bands = bins // band_rows
    order_ids = np.arange(n, dtype=np.uint64)
    found: list[npt.NDArray[np.int64]] = []
    for band in range(bands):  # a handful of bands, each one vectorized
        block = sig[:, band * band_rows : (band + 1) * band_rows]
        key = mix64(block[:, 0].astype(np.uint64), seed + band)
        for col in range(1, band_rows):
            key = mix64(key ^ block[:, col].astype(np.uint64), seed + band)
        tiebreak = mix64(order_ids, seed + 7919 * (band + 1))
        order = np.lexsort((tiebreak, key))
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        run_size = np.diff(np.r_[starts, n])
        size_of = np.repeat(run_size, run_size)
        crowded = size_of > max_band_accounts
        reach = min(int(run_size.max(initial=1)), max_band_accounts) - 1
        reach = max(reach, crowded_band_neighbours if crowded.any() else 0)
        for step in range(1, reach + 1):
            same = sorted_key[step:] == sorted_key[:-step]
            if step > crowded_band_neighbours:
                same &= ~crowded[:-step]
            if not same.any():
                continue
            left = order[:-step][same].astype(np.int64)
            right = order[step:][same].astype(np.int64)
            low, high = np.minimum(left, right), np.maximum(left, right)
            found.append(low * 4294967296 + high)
        if len(found) > 1 and sum(len(f) for f in found) > 4 * n:
            found = [_distinct(np.concatenate(found))]  # bound the memory of duplicates
    if not found:
        return np.empty(0, dtype=np.int64)
    return _distinct(np.concatenate(found))


def estimate_jaccard(
    sig: npt.NDArray[np.uint32], a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """MinHash Jaccard estimate per pair of signature rows: matching filled bins over bins
    filled in either."""
    out = np.empty(len(a), dtype=np.float64)
    for start in range(0, len(a), _ESTIMATE_CHUNK):
        sa, sb = sig[a[start : start + _ESTIMATE_CHUNK]], sig[b[start : start + _ESTIMATE_CHUNK]]
        filled_a, filled_b = sa != _EMPTY, sb != _EMPTY
        matching = ((sa == sb) & filled_a).sum(axis=1)
        filled = (filled_a | filled_b).sum(axis=1)
        out[start : start + _ESTIMATE_CHUNK] = matching / np.maximum(filled, 1)
    return out


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
    """Write temp table `output_table(account_a, account_b, n_a, n_b, jaccard, overlap)`.

    `items_table` holds distinct (vertex INTEGER, item BIGINT) rows; accounts with fewer than
    `min_items` items are skipped; only pairs whose estimated overlap (shared items) reaches
    `min_overlap` are kept. Table names are code constants of the callers.
    """
    bins = signature_bins(hashes, band_rows)
    arrays = con.execute(
        f"""
        SELECT i.vertex, i.item
        FROM {items_table} i
        SEMI JOIN (SELECT vertex FROM {items_table} GROUP BY vertex HAVING count(*) >= ?) s
          ON s.vertex = i.vertex
        """,
        [min_items],
    ).fetchnumpy()
    vertex = np.asarray(arrays["vertex"], dtype=np.int64)
    item = np.asarray(arrays["item"], dtype=np.int64)
    del arrays
    if len(vertex):
        accounts, sig = signatures(vertex, item, bins=bins, seed=seed)
        sizes = np.bincount(vertex)[accounts]
    else:
        accounts, sizes = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        sig = np.empty((0, bins), dtype=np.uint32)
    del vertex, item
    write_signature_pairs(
        con,
        accounts=accounts,
        sizes=sizes,
        sig=sig,
        output_table=output_table,
        band_rows=band_rows,
        max_band_accounts=max_band_accounts,
        crowded_band_neighbours=crowded_band_neighbours,
        min_overlap=min_overlap,
        seed=seed,
    )


def signature_bins(hashes: int, band_rows: int) -> int:
    """Bins of a signature: `hashes` rounded down to whole bands (at least one band)."""
    return max(1, hashes // band_rows) * band_rows


def write_signature_pairs(
    con: duckdb.DuckDBPyConnection,
    *,
    accounts: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    sig: npt.NDArray[np.uint32],
    output_table: str,
    band_rows: int,
    max_band_accounts: int,
    crowded_band_neighbours: int,
    min_overlap: int,
    seed: int,
) -> None:
    """Write temp table `output_table(account_a, account_b, n_a, n_b, jaccard, overlap)` from
    ready signatures: `accounts` (sorted vertices), their set sizes and signature rows."""
    write_pair_rows(
        con,
        signature_pairs(
            accounts=accounts,
            sizes=sizes,
            sig=sig,
            band_rows=band_rows,
            max_band_accounts=max_band_accounts,
            crowded_band_neighbours=crowded_band_neighbours,
            min_overlap=min_overlap,
            seed=seed,
        ),
        output_table,
    )


def signature_pairs(
    *,
    accounts: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    sig: npt.NDArray[np.uint32],
    band_rows: int,
    max_band_accounts: int,
    crowded_band_neighbours: int,
    min_overlap: int,
    seed: int,
) -> pa.Table:
    """The overlapping pairs of ready signatures as an Arrow table (account_a, account_b, n_a,
    n_b, jaccard, overlap): numpy only, no database, so it can run beside a query."""
    a = b = np.empty(0, dtype=np.int64)
    n_a = n_b = overlap = np.empty(0, dtype=np.int64)
    jaccard = np.empty(0, dtype=np.float64)
    if len(accounts):
        pairs = _band_candidates(
            sig,
            band_rows=band_rows,
            max_band_accounts=max_band_accounts,
            crowded_band_neighbours=crowded_band_neighbours,
            seed=seed,
        )
        rows_a, rows_b = pairs // 4294967296, pairs % 4294967296
        jaccard = estimate_jaccard(sig, rows_a, rows_b)
        n_a, n_b = sizes[rows_a], sizes[rows_b]
        # |A ∩ B| = J (|A| + |B|) / (1 + J)
        overlap = np.minimum(
            np.minimum(n_a, n_b), np.round(jaccard * (n_a + n_b) / (1.0 + jaccard)).astype(np.int64)
        )
        keep = overlap >= min_overlap
        a, b = accounts[rows_a[keep]], accounts[rows_b[keep]]
        n_a, n_b, jaccard, overlap = n_a[keep], n_b[keep], jaccard[keep], overlap[keep]
    return pa.table(
        {
            "account_a": pa.array(a, pa.int32()),
            "account_b": pa.array(b, pa.int32()),
            "n_a": pa.array(n_a, pa.int64()),
            "n_b": pa.array(n_b, pa.int64()),
            "jaccard": pa.array(jaccard, pa.float64()),
            "overlap": pa.array(overlap, pa.int64()),
        }
    )


def write_pair_rows(con: duckdb.DuckDBPyConnection, frame: pa.Table, output_table: str) -> None:
    """Store the rows of `signature_pairs` as temp table `output_table` (a code constant)."""
    con.register("graph_overlap_rows", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {output_table} AS SELECT * FROM graph_overlap_rows"
        )
    finally:
        con.unregister("graph_overlap_rows")
