"""Template fingerprints: exact template hashes and near-duplicate components that persist.

A batch of masked texts is reduced to its distinct token sequences (`template_hash`); only
those never seen before are clustered. Each new text is split into LSH bands of its MinHash
signature; a band key already in `template_bands` links the text to that bucket's
representative, a new key opens a bucket whose representative is its member with the
smallest hash. Every link is verified on the signatures (estimated Jaccard >= threshold), so
a chance band collision does not chain unrelated templates. Connected components of the
verified links become templates: a component that touches a known template takes its
`template_fp` (the smallest, when it bridges several; history is never relabelled), a new
component gets the hex of a salted hash of its smallest member hash, so ids reveal no text.
A template hash is a pure function of the text, so the process keeps a memo from 64-bit text
keys to template hashes: a batch masks and sketches only texts it has not met before
(`fingerprint_texts` keys raw texts, `assign_fingerprints` masked ones).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detector.features.blobs import blob_array, blob_matrix
from detector.features.distinct import DistinctTexts
from detector.features.normalize import (
    TEMPLATE_HEAD_CHARS,
    TEMPLATE_TAIL_CHARS,
    masked_template_text,
)
from detector.features.sketch import (
    BANDS,
    SIGNATURE_BINS,
    Sketches,
    band_keys,
    digest_similarity,
    hex16,
    mix64,
    signature_digest,
    sketch_texts,
)

TemplateKind = Literal["prompt", "system"]

# Verified links need this estimated Jaccard similarity of word and bigram sets. Slot-filled
# and paraphrased variants of one template score about 0.5-0.9 against each other; unrelated
# prompts stay near 0.05-0.2.
LINK_THRESHOLD = 0.35

_KIND_SALT = {"prompt": np.uint64(0x70726F6D70745F31), "system": np.uint64(0x73797374656D5F31)}

TEMPLATE_TABLES = """
CREATE TABLE IF NOT EXISTS templates (
    kind            VARCHAR NOT NULL,      -- 'prompt' or 'system'
    template_hash   UBIGINT NOT NULL,      -- hash of the masked token sequence
    template_fp     VARCHAR NOT NULL,      -- near-duplicate component, 16 hex chars
    digest          BLOB NOT NULL          -- low byte of each MinHash bin, for link checks
);
CREATE TABLE IF NOT EXISTS template_bands (
    kind            VARCHAR NOT NULL,
    band            UTINYINT NOT NULL,
    band_key        UINTEGER NOT NULL,
    rep_hash        UBIGINT NOT NULL       -- the bucket's representative template_hash
);
"""


@dataclass(frozen=True)
class FingerprintBatch:
    """Per input row `template_hash` and `template_fp`; counts of what was new."""

    rows: pl.DataFrame
    new_templates: int
    new_components: int


def ensure_template_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the template dictionary and its LSH band index if missing."""
    con.execute(TEMPLATE_TABLES)


def assign_fingerprints(
    con: duckdb.DuckDBPyConnection,
    kind: TemplateKind,
    masked: pl.Series,
    *,
    threshold: float = LINK_THRESHOLD,
) -> FingerprintBatch:
    """Fingerprint masked, lower-cased texts, extending the stored templates with new ones.

    Writes to `templates` and `template_bands`; call inside the caller's transaction.
    """
    texts = masked.fill_null("")
    keys = texts.hash(seed=_MASKED_KEY_SEED).to_numpy()
    distinct_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    distinct = texts.gather(first)
    rows, new_templates, new_components = _fingerprint_keys(
        con,
        kind,
        distinct_keys,
        lambda positions: sketch_texts(distinct.gather(positions)),
        _memo(("masked",)),
        threshold,
    )
    return FingerprintBatch(rows[inverse.ravel()], new_templates, new_components)


def fingerprint_texts(
    con: duckdb.DuckDBPyConnection,
    kind: TemplateKind,
    texts: DistinctTexts,
    *,
    head: int = TEMPLATE_HEAD_CHARS,
    tail: int = TEMPLATE_TAIL_CHARS,
    threshold: float = LINK_THRESHOLD,
) -> FingerprintBatch:
    """`assign_fingerprints` of the masked `texts.values`, one row per distinct text, masking and
    sketching only the texts whose key this process has not fingerprinted before.

    Same rows and writes as `assign_fingerprints(con, kind, masked_template_text(texts.values,
    head, tail))`; call inside the caller's transaction.
    """

    def sketch(positions: np.ndarray) -> Sketches:
        masked = masked_template_text(texts.values.gather(positions), head, tail)
        keys = masked.hash(seed=_MASKED_KEY_SEED).to_numpy()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        distinct = sketch_texts(masked.gather(first))
        inverse = inverse.ravel()
        return Sketches(distinct.template_hash[inverse], distinct.signature[inverse])

    keys = np.asarray(texts.keys, dtype=np.uint64)
    rows, new_templates, new_components = _fingerprint_keys(
        con, kind, keys, sketch, _memo(("text", head, tail)), threshold
    )
    return FingerprintBatch(rows, new_templates, new_components)


def clear_template_hash_memo() -> None:
    """Forget the text-key to template-hash memo of this process (results do not change)."""
    with _MEMO_LOCK:
        _MEMOS.clear()


class _HashMemo:
    """Sorted 64-bit text keys and the template hash of each text.

    A template hash is a pure function of the text (and the clipping), so the memo is valid for
    every store the process touches; it holds 16 bytes per text and is emptied past a limit.
    """

    def __init__(self) -> None:
        self.keys = np.empty(0, np.uint64)
        self.hashes = np.empty(0, np.uint64)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which keys are known, and their hashes (meaningless where unknown)."""
        if len(self.keys) == 0:
            return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), np.uint64)
        position = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[position] == keys, self.hashes[position]

    def add(self, keys: np.ndarray, hashes: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if len(self.keys) + len(keys) > _MEMO_LIMIT:
            self.keys, self.hashes = np.empty(0, np.uint64), np.empty(0, np.uint64)
        merged, first = np.unique(np.concatenate([self.keys, keys]), return_index=True)
        self.keys, self.hashes = merged, np.concatenate([self.hashes, hashes])[first]


_MASKED_KEY_SEED = 0x5EED
_MEMO_LIMIT = 4_000_000
_MEMOS: dict[tuple[object, ...], _HashMemo] = {}
_MEMO_LOCK = threading.Lock()


def _memo(namespace: tuple[object, ...]) -> _HashMemo:
    with _MEMO_LOCK:
        return _MEMOS.setdefault(namespace, _HashMemo())


def _fingerprint_keys(
    con: duckdb.DuckDBPyConnection,
    kind: TemplateKind,
    keys: np.ndarray,
    sketch: Callable[[np.ndarray], Sketches],
    memo: _HashMemo,
    threshold: float,
) -> tuple[pl.DataFrame, int, int]:
    """`template_hash` and `template_fp` per text key; counts of new templates and components.

    `sketch(positions)` sketches the texts at those positions; only texts the memo lacks are
    sketched, plus, rarely, memo hits whose template this store lacks (its signature is needed).
    """
    known_key, hashes = memo.lookup(keys)
    sketched = np.flatnonzero(~known_key)
    sketches = sketch(sketched)
    hashes[sketched] = sketches.template_hash
    memo.add(keys[sketched], sketches.template_hash)

    candidates = np.unique(hashes)
    known = _query(
        con,
        "SELECT t.template_hash, t.template_fp FROM templates t"
        " SEMI JOIN _dg_candidates c ON t.template_hash = c.template_hash WHERE t.kind = ?",
        [kind],
        _dg_candidates=pl.DataFrame({"template_hash": pl.Series(candidates, dtype=pl.UInt64)}),
    )
    new_hashes = candidates[~np.isin(candidates, known.get_column("template_hash").to_numpy())]
    sketched_hashes, signatures = sketches.template_hash, sketches.signature
    unsketched = ~np.isin(new_hashes, sketched_hashes)
    if unsketched.any():
        extra = sketch(np.flatnonzero(known_key & np.isin(hashes, new_hashes[unsketched])))
        sketched_hashes = np.concatenate([sketched_hashes, extra.template_hash])
        signatures = np.vstack([signatures, extra.signature])
    # Equal token sequences have equal signatures: any text of a template gives its signature.
    by_hash, first = np.unique(sketched_hashes, return_index=True)
    new_signatures = signatures[first[np.searchsorted(by_hash, new_hashes)]]
    fresh = _cluster_new(con, kind, new_hashes, new_signatures, threshold)
    mapping = pl.concat([known.cast({"template_hash": pl.UInt64}), fresh.rows], how="vertical")
    rows = pl.DataFrame({"template_hash": pl.Series(hashes, dtype=pl.UInt64)}).join(
        mapping, on="template_hash", how="left", maintain_order="left"
    )
    return rows, len(new_hashes), fresh.new_components


@dataclass(frozen=True)
class _Clustered:
    rows: pl.DataFrame
    new_components: int


def _cluster_new(
    con: duckdb.DuckDBPyConnection,
    kind: TemplateKind,
    hashes: np.ndarray,
    signatures: np.ndarray,
    threshold: float,
) -> _Clustered:
    """Components of never-seen templates (sorted `hashes`) among themselves and known buckets."""
    n = len(hashes)
    if n == 0:
        return _Clustered(
            pl.DataFrame(schema={"template_hash": pl.UInt64, "template_fp": pl.String}), 0
        )
    digests = signature_digest(signatures)
    probe = pl.DataFrame(
        {
            "node": np.repeat(np.arange(n, dtype=np.int64), BANDS),
            "band": np.tile(np.arange(BANDS, dtype=np.uint8), n),
            "band_key": band_keys(signatures).ravel(),
        }
    )
    # The probe meets the band index first: left to itself, the planner joins every band row
    # to its representative before probing, three times the work.
    hits = _query(
        con,
        "WITH hits AS MATERIALIZED (SELECT p.node, p.band, b.rep_hash FROM _dg_probe p"
        " JOIN template_bands b ON b.kind = ? AND b.band = p.band AND b.band_key = p.band_key)"
        " SELECT h.node, h.band, t.template_fp, t.digest FROM hits h"
        " JOIN templates t ON t.kind = ? AND t.template_hash = h.rep_hash",
        [kind, kind],
        _dg_probe=probe,
    )
    hit_nodes = hits.get_column("node").to_numpy()
    hit_digests = blob_matrix(hits.get_column("digest"), SIGNATURE_BINS)
    keep_hit = digest_similarity(digests[hit_nodes], hit_digests) >= threshold
    kept = hits.filter(pl.Series(keep_hit))
    known_fps = kept.get_column("template_fp").unique().sort()
    known_index = pl.DataFrame(
        {"template_fp": known_fps, "target": np.arange(n, n + len(known_fps), dtype=np.int64)}
    )
    hit_targets = (
        kept.join(known_index, on="template_fp", how="left", maintain_order="left")
        .get_column("target")
        .to_numpy()
    )

    # Buckets no stored template occupies: the member with the smallest hash represents them.
    opened = probe.join(hits.select("node", "band"), on=["node", "band"], how="anti")
    opened = opened.with_columns(pl.col("node").min().over("band", "band_key").alias("rep"))
    pairs = opened.filter(pl.col("node") != pl.col("rep"))
    members = pairs.get_column("node").to_numpy()
    reps = pairs.get_column("rep").to_numpy()
    keep_pair = digest_similarity(digests[members], digests[reps]) >= threshold

    sources = np.concatenate([hit_nodes[keep_hit], members[keep_pair]])
    targets = np.concatenate([hit_targets, reps[keep_pair]])
    size = n + len(known_fps)
    graph = coo_matrix((np.ones(len(sources), np.int8), (sources, targets)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)

    node_labels = labels[:n]
    component_fp = _component_fingerprints(kind, hashes, node_labels, labels[n:], known_fps)
    fps = component_fp.gather(node_labels)

    templates = pa.table(
        {
            "template_hash": pa.array(hashes, pa.uint64()),
            "template_fp": fps.to_arrow(),
            "digest": blob_array(digests),
        }
    )
    bucket_reps = opened.filter(pl.col("node") == pl.col("rep"))
    bands = pa.table(
        {
            "band": bucket_reps.get_column("band").to_arrow(),
            "band_key": bucket_reps.get_column("band_key").to_arrow(),
            "rep_hash": pa.array(hashes[bucket_reps.get_column("rep").to_numpy()], pa.uint64()),
        }
    )
    _insert(con, "templates", kind, ("template_hash", "template_fp", "digest"), templates)
    _insert(con, "template_bands", kind, ("band", "band_key", "rep_hash"), bands)
    new_components = len(np.unique(node_labels[~np.isin(node_labels, labels[n:])]))
    return _Clustered(
        pl.DataFrame({"template_hash": pl.Series(hashes, dtype=pl.UInt64), "template_fp": fps}),
        new_components,
    )


def _component_fingerprints(
    kind: TemplateKind,
    hashes: np.ndarray,
    node_labels: np.ndarray,
    known_labels: np.ndarray,
    known_fps: pl.Series,
) -> pl.Series:
    """A fingerprint per component label: the smallest known fp it touches, else a fresh hash."""
    components = int(max(node_labels.max(initial=-1), known_labels.max(initial=-1))) + 1
    smallest = np.full(components, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, node_labels, hashes)
    fresh = hex16(mix64(smallest ^ _KIND_SALT[kind]))
    if len(known_labels) == 0:
        return fresh
    # known_fps is sorted, so the first known fp met per label is the smallest.
    known = (
        pl.DataFrame({"label": known_labels, "fp": known_fps})
        .group_by("label")
        .agg(pl.col("fp").min())
    )
    return (
        pl.DataFrame({"label": np.arange(components), "fresh": fresh})
        .join(known, on="label", how="left", maintain_order="left")
        .select(pl.coalesce("fp", "fresh"))
        .to_series()
    )


def _query(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object], **frames: pl.DataFrame
) -> pl.DataFrame:
    """Run `sql` with polars frames registered under the given names for its duration."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())  # type: ignore[return-value]
    finally:
        for name in frames:
            con.unregister(name)


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    kind: TemplateKind,
    columns: tuple[str, ...],
    data: pa.Table,
) -> None:
    """Append arrow rows of one kind to a template table (names are code constants)."""
    names = ", ".join(columns)
    con.register("_dg_insert", data)
    try:
        con.execute(
            f"INSERT INTO {table} (kind, {names}) SELECT ?, {names} FROM _dg_insert", [kind]
        )
    finally:
        con.unregister("_dg_insert")
