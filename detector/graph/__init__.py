"""The account graph: shared infrastructure, metadata and timing put campaigns back together.

`build_graph(con)` reads `accounts`, the feature stage's per-account-day tables (or, when they
do not cover the store, `requests` and `request_features`) and `account_features`, and
rewrites `account_attributes`, `account_edges`, `clusters` and `cluster_features`, over the
look-back window of `GraphParams.lookback_days`. Per-day activity sketches kept in the store
(`graph_minute_sketches`, `graph_minute_loads`, `graph_hosting_days`, `graph_sketch_days`) are
redone only for days with new requests; when nothing the build reads has changed since the
last one (`detector.graph.inputs`), the four tables are kept as they are.
"""

from detector.graph.build import GraphStats, build_graph, ensure_graph_tables
from detector.graph.communities import cluster_id_for
from detector.graph.params import ATTRIBUTE_FAMILIES, FAMILIES, GraphParams

__all__ = [
    "ATTRIBUTE_FAMILIES",
    "FAMILIES",
    "GraphParams",
    "GraphStats",
    "build_graph",
    "cluster_id_for",
    "ensure_graph_tables",
]
