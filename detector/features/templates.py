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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detector.features.blobs import blob_array, blob_matrix
from detector.features.sketch import (
    BANDS,
    SIGNATURE_BINS,
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
    rows = pl.DataFrame({"text": masked.fill_null("")}).with_columns(
        pl.col("text").hash(seed=0x5EED).alias("text_key")
    )
    distinct = rows.unique("text_key", keep="first", maintain_order=True)
    sketches = sketch_texts(distinct.get_column("text"))
    text_hashes = pl.DataFrame(
        {
            "text_key": distinct.get_column("text_key"),
            "template_hash": pl.Series(sketches.template_hash, dtype=pl.UInt64),
        }
    )
    hashes, first = np.unique(sketches.template_hash, return_index=True)
    signatures = sketches.signature[first]

    candidates = pl.DataFrame({"template_hash": pl.Series(hashes, dtype=pl.UInt64)})
    known = _query(
        con,
        "SELECT t.template_hash, t.template_fp FROM templates t"
        " SEMI JOIN _dg_candidates c ON t.template_hash = c.template_hash WHERE t.kind = ?",
        [kind],
        _dg_candidates=candidates,
    )
    is_new = ~np.isin(hashes, known.get_column("template_hash").to_numpy())
    fresh = _cluster_new(con, kind, hashes[is_new], signatures[is_new], threshold)
    mapping = pl.concat([known.cast({"template_hash": pl.UInt64}), fresh.rows], how="vertical")
    assigned = (
        rows.select("text_key")
        .join(text_hashes, on="text_key", how="left", maintain_order="left")
        .join(mapping, on="template_hash", how="left", maintain_order="left")
        .select("template_hash", "template_fp")
    )
    return FingerprintBatch(assigned, int(is_new.sum()), fresh.new_components)


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
    hits = _query(
        con,
        "SELECT p.node, p.band, t.template_fp, t.digest FROM _dg_probe p"
        " JOIN template_bands b ON b.kind = ? AND b.band = p.band AND b.band_key = p.band_key"
        " JOIN templates t ON t.kind = b.kind AND t.template_hash = b.rep_hash",
        [kind],
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
