"""The graph stage top to bottom: attributes, weights, synchrony, edges, communities, features."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from detector.graph.activity_sketches import SketchRefresh, refresh_sketches
from detector.graph.attributes import (
    ACCOUNT_ATTRIBUTES_DDL,
    collect_raw_attributes,
    feature_tables_cover_requests,
)
from detector.graph.cluster_features import CLUSTER_FEATURES_DDL, write_cluster_features
from detector.graph.communities import CLUSTERS_DDL, start_clusters, write_clusters
from detector.graph.edges import ACCOUNT_EDGES_DDL, write_account_edges
from detector.graph.inputs import input_fingerprint, remember_build, unchanged_build
from detector.graph.params import GraphParams
from detector.graph.sql import scalar
from detector.graph.synchrony import compute_synchrony, start_synchrony
from detector.graph.template_sets import compute_template_similarity
from detector.graph.vertices import write_vertices
from detector.graph.weighting import insert_account_attributes, weigh_attributes
from detector.graph.window import GraphWindow, graph_window
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
    unchanged: bool = False  # same inputs as the last build: its tables were kept as they are


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
    result is the same). Idempotent: the same store gives the same rows. When nothing the
    build reads changed since the last one (`inputs.input_fingerprint`), the tables are kept
    as they are (`GraphStats.unchanged`); `full` always rebuilds. Everything is replaced in
    one transaction, so a failed run leaves the previous graph in place.
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

    # Numpy/Python steps run on a second thread beside DuckDB's work (see `_build_tables`).
    with transaction(con), ThreadPoolExecutor(max_workers=1, thread_name_prefix="dg-graph") as pool:
        window = graph_window(con, params)
        sketches = refresh_sketches(con, params, window, full=full, executor=pool)
        days_sketched, days_reused = sketches.sketched, sketches.reused
        lap("activity_sketches")
        fingerprint = input_fingerprint(con, params, window, "graph_day_counts")
        con.execute("DROP TABLE graph_day_counts")
        kept = None if full else unchanged_build(con, fingerprint)
        lap("inputs")
        if kept is None:
            built = _build_tables(con, params, window, lap, pool, sketches)
            stats = GraphStats(
                **built, full_rebuild=full, days_sketched=days_sketched, days_reused=days_reused
            )
            remember_build(con, fingerprint, _recorded(stats))
        else:
            sketches.store(con)
            stats = GraphStats(
                **{k: v for k, v in kept.items() if k in _RECORDED_FIELDS},
                full_rebuild=False,
                days_sketched=days_sketched,
                days_reused=days_reused,
                unchanged=True,
            )
    seconds["total"] = round(sum(seconds.values()), 3)
    stats.seconds.update(seconds)
    return stats


# The statistics that describe the tables (kept with the input fingerprint), as opposed to
# the work of one run (days sketched, seconds).
_RECORDED_FIELDS = (
    "accounts",
    "attribute_rows",
    "pruned_values",
    "synchronized_pairs",
    "template_linked_pairs",
    "candidate_pairs",
    "edges",
    "clusters",
    "multi_account_clusters",
    "largest_cluster",
    "used_templates",
    "used_feature_tables",
    "window",
)


def _recorded(stats: GraphStats) -> dict[str, Any]:
    values = asdict(stats)
    return {k: values[k] for k in _RECORDED_FIELDS}


def _build_tables(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    window: GraphWindow,
    lap: Callable[[str], None],
    pool: Executor,
    sketches: SketchRefresh,
) -> dict[str, Any]:
    """Rewrite the four graph tables from the window; the statistics of what they hold.

    Three numpy/Python steps run on `pool` beside DuckDB's work: the last activity sketches
    (`sketches`, still pending) beside the attributes, the co-activity pair search beside
    their weighting, and the community partition beside the writing of `account_attributes`,
    which edges do not need.
    """
    used_feature_tables = feature_tables_cover_requests(con)
    write_vertices(con, window, from_feature_tables=used_feature_tables)
    lap("vertices")
    used_templates = collect_raw_attributes(con, params, window, use_partials=used_feature_tables)
    lap("attributes")
    sketches.store(con)
    pending_pairs = start_synchrony(con, params, window, pool)
    lap("activity_sketch_rows")
    weigh_attributes(con, params)
    con.execute("DROP TABLE graph_account_home")
    lap("weighting")
    synchronized = compute_synchrony(con, params, window, pending_pairs)
    lap("synchrony")
    template_linked = compute_template_similarity(con, params, has_templates=used_templates)
    lap("template_sets")
    candidates, edges = write_account_edges(con, params, from_weighted=True)
    con.execute("DROP TABLE graph_sync_pairs")
    con.execute("DROP TABLE graph_template_pairs")
    lap("edges")
    pending_clusters = start_clusters(con, params, pool)
    insert_account_attributes(con)
    con.execute("DROP TABLE graph_raw_attributes")
    lap("attribute_rows")
    clusters = write_clusters(con, params, pending_clusters)
    lap("communities")
    write_cluster_features(con, params, has_templates=used_templates)
    con.execute("DROP TABLE graph_vertices")
    con.execute("DROP TABLE graph_account_days")
    con.execute("DROP TABLE graph_template_requests")
    lap("cluster_features")
    return {
        "accounts": _count(con, "SELECT count(*) FROM clusters"),
        "attribute_rows": _count(con, "SELECT count(*) FROM account_attributes"),
        "pruned_values": _count(
            con,
            "SELECT count(*) FROM (SELECT DISTINCT attr_type, attr_value FROM account_attributes"
            " WHERE pruned AND accounts > 1)",
        ),
        "synchronized_pairs": synchronized,
        "template_linked_pairs": template_linked,
        "candidate_pairs": candidates,
        "edges": edges,
        "clusters": clusters,
        "multi_account_clusters": _count(
            con, "SELECT count(*) FROM cluster_features WHERE size > 1"
        ),
        "largest_cluster": _count(con, "SELECT max(size) FROM cluster_features"),
        "used_templates": used_templates,
        "used_feature_tables": used_feature_tables,
        "window": window.describe(),
    }
