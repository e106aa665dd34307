"""Distinct texts of a column and the way back to its rows.

Traffic repeats its texts heavily: templates, retries, shared prompt datasets, one system prompt
per integration. The text features run on the distinct texts of a batch (keyed by a 64-bit hash
of the text; a collision is about 1e-9 likely for a million texts) and are gathered back to the
rows by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

_HASH_SEED = 0x7E47


@dataclass(frozen=True)
class DistinctTexts:
    """`values[index[i]]` is the text of row i, `keys` the 64-bit hash of each of `values`.

    Nulls are read as the empty text.
    """

    values: pl.Series
    index: np.ndarray
    keys: np.ndarray


def distinct_texts(column: pl.Series) -> DistinctTexts:
    """The distinct texts of `column` in order of first appearance, and each row's position among them."""
    texts = column.fill_null("")
    if texts.len() == 0:
        return DistinctTexts(texts, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))
    keys = texts.hash(seed=_HASH_SEED).to_numpy()
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    # Re-number by first appearance so the distinct values keep the rows' order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return DistinctTexts(texts.gather(first[order]), rank[inverse.ravel()], unique[order])
