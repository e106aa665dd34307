"""The graph stage top to bottom: attributes, weights, synchrony, edges, communities, features."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb

from detector.graph.activity_sketches import refresh_sketches
from detector.graph.attributes import (
    ACCOUNT_ATTRIBUTES_DDL,
    collect_raw_attributes,
    feature_tables_cover_requests,
)
from detector.graph.cluster_features import CLUSTER_FEATURES_DDL, write_cluster_features
from detector.graph.communities import CLUSTERS_DDL, write_clusters
from detector.graph.edges import ACCOUNT_EDGES_DDL, write_account_edges
from detector.graph.params import GraphParams
from detector.graph.sql import scalar
from detector.graph.synchrony import compute_synchrony
from detector.graph.template_sets import compute_template_similarity
from detector.graph.vertices import write_vertices
from detector.graph.weighting import write_weighted_attributes
from detector.graph.window import graph_window
from detector.store import transaction


@dataclass(frozen=True)
class GraphStats:
    """What one run of the graph stage produced, with seconds per step."""

    accounts: int
    attribute_rows: int
    pruned_values: int
    synchronized_pairs: int
    template_linked_pairs: int
    candidate_pairs: int
    edges: int
    clusters: int
    multi_account_clusters: int
    largest_cluster: int
    used_templates: bool
    used_feature_tables: bool = False  # read the feature stage's per-account-day tables
    window: str = ""  # first..last UTC day of request evidence read
    full_rebuild: bool = False  # every stored activity sketch was redone
    days_sketched: int = 0  # days whose activity was sketched in this run
    days_reused: int = 0  # days whose stored activity sketches were read back
    seconds: dict[str, float] = field(default_factory=dict)


def ensure_graph_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the four graph tables when missing."""
    for ddl in (ACCOUNT_ATTRIBUTES_DDL, ACCOUNT_EDGES_DDL, CLUSTERS_DDL, CLUSTER_FEATURES_DDL):
        con.execute(ddl)
    # columns added after the first release of the stage
    con.execute("ALTER TABLE account_attributes ADD COLUMN IF NOT EXISTS spread DOUBLE")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    value = scalar(con, sql)
    return int(value) if value is not None else 0


def build_graph(
    con: duckdb.DuckDBPyConnection, *, params: GraphParams | None = None, full: bool = False
) -> GraphStats:
    """Rebuild `account_attributes`, `account_edges`, `clusters` and `cluster_features` from
    the look-back window (`GraphParams.lookback_days`).

    The accounts' daily activity sketches are kept in the store between runs and only the
    days with new requests are sketched again; `full` sketches the whole window again (the
    result is the same). Idempotent: the same store gives the same rows. Everything is
    replaced in one transaction, so a failed run leaves the previous graph in place.
    """
    params = params or GraphParams()
    ensure_graph_tables(con)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    with transaction(con):
        window = graph_window(con, params)
        used_feature_tables = feature_tables_cover_requests(con)
        write_vertices(con, window, from_feature_tables=used_feature_tables)
        days_sketched, days_reused = refresh_sketches(con, params, window, full=full)
        lap("activity_sketches")
        used_templates = collect_raw_attributes(
            con, params, window, use_partials=used_feature_tables
        )
        lap("attributes")
        write_weighted_attributes(con, params)
        con.execute("DROP TABLE graph_raw_attributes")
        con.execute("DROP TABLE graph_account_home")
        lap("weighting")
        synchronized = compute_synchrony(con, params, window)
        lap("synchrony")
        template_linked = compute_template_similarity(con, params, has_templates=used_templates)
        lap("template_sets")
        candidates, edges = write_account_edges(con, params)
        con.execute("DROP TABLE graph_sync_pairs")
        con.execute("DROP TABLE graph_template_pairs")
        lap("edges")
        clusters = write_clusters(con, params)
        lap("communities")
        write_cluster_features(con, params, has_templates=used_templates)
        con.execute("DROP TABLE graph_vertices")
        con.execute("DROP TABLE graph_account_days")
        con.execute("DROP TABLE graph_template_requests")
        lap("cluster_features")

    seconds["total"] = round(sum(seconds.values()), 3)
    return GraphStats(
        accounts=_count(con, "SELECT count(*) FROM clusters"),
        attribute_rows=_count(con, "SELECT count(*) FROM account_attributes"),
        pruned_values=_count(
            con,
            "SELECT count(*) FROM (SELECT DISTINCT attr_type, attr_value FROM account_attributes"
            " WHERE pruned AND accounts > 1)",
        ),
        synchronized_pairs=synchronized,
        template_linked_pairs=template_linked,
        candidate_pairs=candidates,
        edges=edges,
        clusters=clusters,
        multi_account_clusters=_count(con, "SELECT count(*) FROM cluster_features WHERE size > 1"),
        largest_cluster=_count(con, "SELECT max(size) FROM cluster_features"),
        used_templates=used_templates,
        used_feature_tables=used_feature_tables,
        window=window.describe(),
        full_rebuild=full,
        days_sketched=days_sketched,
        days_reused=days_reused,
        seconds=seconds,
    )
