"""CPU seconds of the capability model on the distinct prompts of a store: the numba path vs the
polars tokens and sparse-matrix product it replaced (same tokens, same bits; checked here).

    .venv/bin/python benchmarks/bench_capability_model.py /tmp/feat6/base.duckdb

Prompts are read as the feature stage reads them (lowercased window, first RULE_CHARS characters).
Each path runs `--rounds` times alternately; the minimum CPU of each is printed (CPU seconds of the
whole process, so polars' worker threads count too).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy import sparse

from detector.features.capability import RULE_CHARS
from detector.features.capability_model import (
    BIGRAM_MIX,
    HASH_SEED,
    SPLIT_FROM,
    SPLIT_TO,
    CapabilityModel,
    trained_capability_model,
)
from detector.features.cot import lowered_window


def polars_ngrams(texts: pl.Series, n_features: int, max_chars: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The former `hashed_ngrams`: tokens exploded into a polars column and hashed there."""
    chunks = texts.fill_null("").str.head(max_chars).str.to_lowercase().str.replace_many(SPLIT_FROM, SPLIT_TO).str.split(" ")
    flat = chunks.explode()
    keep = (flat.str.len_bytes() > 0).fill_null(False).to_numpy()
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), chunks.list.len().fill_null(0).to_numpy())[keep]
    hashes = flat.hash(seed=HASH_SEED).to_numpy()[keep]
    same_row = rows[:-1] == rows[1:]
    bigram_rows = rows[:-1][same_row]
    bigrams = (hashes[:-1] * BIGRAM_MIX + hashes[1:])[same_row]
    unigram_counts = np.bincount(rows, minlength=len(texts))
    bigram_counts = np.bincount(bigram_rows, minlength=len(texts))
    scale = 1.0 / np.sqrt(np.maximum(unigram_counts + bigram_counts, 1))

    def matrix(row_of: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> sparse.csr_matrix:
        indptr = np.concatenate([[0], np.cumsum(counts)])
        columns = (keys % np.uint64(n_features)).astype(np.int32)
        return sparse.csr_matrix((scale[row_of].astype(np.float32), columns, indptr), shape=(len(texts), n_features))

    return matrix(rows, hashes, unigram_counts), matrix(bigram_rows, bigrams, bigram_counts)


def sparse_probabilities(model: CapabilityModel, texts: pl.Series, rows: int = 20_000) -> np.ndarray:
    """The former predict_proba: polars tokens, CSR matrices, scipy products, in batches."""
    out = np.empty((len(texts), len(model.classes_)))
    for start in range(0, len(texts), rows):
        unigrams, bigrams = polars_ngrams(texts.slice(start, rows), model.n_features, model.max_chars)
        logits = unigrams @ model.weights_ + bigrams @ model.weights_ + model.intercept_
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        out[start : start + rows] = probabilities / probabilities.sum(axis=1, keepdims=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect(str(args.store), read_only=True)
    prompts = pl.from_arrow(con.sql("SELECT DISTINCT prompt FROM requests").to_arrow_table()).to_series()
    heads = lowered_window(prompts).str.head(RULE_CHARS)
    model = trained_capability_model()
    model.predict_proba(heads.head(100))  # load the compiled kernels
    cpu: dict[str, list[float]] = {"fused": [], "sparse": []}
    results = {}
    for _ in range(args.rounds):
        for name, run in (("fused", model.predict_proba), ("sparse", lambda t: sparse_probabilities(model, t))):
            started = time.process_time()
            results[name] = run(heads)
            cpu[name].append(time.process_time() - started)
    print(json.dumps({
        "prompts": len(heads),
        "identical": bool(np.array_equal(results["fused"], results["sparse"])),
        "cpu_seconds_min": {name: round(min(values), 2) for name, values in cpu.items()},
        "cpu_seconds_all": {name: [round(v, 2) for v in values] for name, values in cpu.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
