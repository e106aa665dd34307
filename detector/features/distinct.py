"""Distinct texts of a column and the way back to its rows.

Traffic repeats its texts heavily: templates, retries, shared prompt datasets, one system prompt
per integration. The text features run on the distinct texts of a batch (keyed by a 64-bit hash
of the text; a collision is about 1e-9 likely for a million texts) and are gathered back to the
rows by index. The rows may be grouped by any 64-bit hash of their text (the feature pipeline
lets DuckDB hash them while it reads, `group_rows`); the `keys` of the distinct texts are always
the seeded polars hash below, which `prompt_labels` stores.
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
    first, index = group_rows(texts.hash(seed=_HASH_SEED).to_numpy())
    return from_first_rows(texts.gather(first), index)


def group_rows(row_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by a 64-bit key of their text: the first row of each distinct key, in order of
    first appearance, and each row's position among those first rows."""
    keys = pl.Series("key", row_keys, dtype=pl.UInt64)
    first = keys.arg_unique().to_numpy().astype(np.int64)  # ascending: first-appearance order
    groups = pl.DataFrame({"key": keys.gather(first), "group": np.arange(len(first))})
    index = keys.to_frame().join(groups, on="key", how="left", maintain_order="left")
    return first, index.get_column("group").to_numpy()


def from_first_rows(values: pl.Series, index: np.ndarray) -> DistinctTexts:
    """`DistinctTexts` of distinct `values` (nulls read as empty) and each row's position among them."""
    texts = values.fill_null("")
    if texts.len() == 0:
        return DistinctTexts(texts, index.astype(np.int64), np.zeros(0, dtype=np.uint64))
    return DistinctTexts(texts, index, texts.hash(seed=_HASH_SEED).to_numpy())
