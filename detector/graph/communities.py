"""Communities of the account graph, with cluster ids that survive re-runs.

Each connected component of the thresholded edge graph is partitioned on its own (Leiden from
`leidenalg` when installed, else networkx Louvain), with vertices in account-id order and a
fixed seed. Working per component makes the result of one component independent of every other
one: adding unrelated accounts elsewhere changes no existing cluster. A cluster's id is a hash
of its smallest member id, so it also stays put while the cluster grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detector.graph.params import GraphParams

CLUSTERS_DDL = """
CREATE TABLE IF NOT EXISTS clusters (
    account_id  VARCHAR NOT NULL,
    cluster_id  VARCHAR NOT NULL
)
"""


def cluster_id_for(members: Sequence[str]) -> str:
    """Stable id of a cluster: a hash of its smallest account id."""
    digest = hashlib.sha256(min(members).encode("utf-8")).hexdigest()
    return f"cl_{digest[:16]}"


def _partition_component(
    n: int,
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    params: GraphParams,
) -> list[int]:
    """Community label of each of the `n` vertices of one connected component."""
    if n <= 2:
        return [0] * n
    if params.algorithm == "leiden":
        try:
            import igraph
            import leidenalg
        except ImportError:
            pass
        else:
            graph = igraph.Graph(n=n, edges=np.column_stack([src, dst]).tolist())
            partition = leidenalg.find_partition(
                graph,
                leidenalg.RBConfigurationVertexPartition,
                weights=weight.tolist(),
                resolution_parameter=params.resolution,
                seed=params.seed,
                n_iterations=-1,
            )
            return list(partition.membership)
    import networkx as nx

    nx_graph = nx.Graph()
    nx_graph.add_nodes_from(range(n))
    nx_graph.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True))
    communities = nx.community.louvain_communities(
        nx_graph, weight="weight", resolution=params.resolution, seed=params.seed
    )
    labels = [0] * n
    for label, community in enumerate(sorted(communities, key=min)):
        for vertex in community:
            labels[vertex] = label
    return labels


def _read_graph(
    con: duckdb.DuckDBPyConnection,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(account ids in vertex order, edge sources, edge targets, edge scores) of the graph."""
    accounts = con.execute("SELECT account_id FROM graph_vertices ORDER BY vertex").fetchnumpy()[
        "account_id"
    ]
    edge_arrays = con.execute(
        """
        SELECT va.vertex AS src, vb.vertex AS dst, e.score AS weight
        FROM account_edges e
        JOIN graph_vertices va ON va.account_id = e.account_a
        JOIN graph_vertices vb ON vb.account_id = e.account_b
        ORDER BY src, dst
        """
    ).fetchnumpy()
    return (
        accounts,
        np.asarray(edge_arrays["src"], dtype=np.int64),
        np.asarray(edge_arrays["dst"], dtype=np.int64),
        np.asarray(edge_arrays["weight"], dtype=np.float64),
    )


def _cluster_rows(
    accounts: npt.NDArray[Any],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    params: GraphParams,
) -> tuple[pa.Table, int]:
    """(account_id, cluster_id) rows of every vertex, and the number of clusters."""
    n = len(accounts)
    adjacency = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)

    cluster_of = np.arange(n, dtype=np.int64)  # label = a representative vertex of the cluster
    order = np.argsort(component[src], kind="stable")
    bounds = np.flatnonzero(np.diff(component[src][order])) + 1
    for chunk in np.split(order, bounds):
        if chunk.size == 0:
            continue
        vertices = np.unique(np.concatenate([src[chunk], dst[chunk]]))  # sorted = account order
        local_src = np.searchsorted(vertices, src[chunk])
        local_dst = np.searchsorted(vertices, dst[chunk])
        labels = np.asarray(
            _partition_component(len(vertices), local_src, local_dst, weight[chunk], params)
        )
        # The smallest vertex of each community represents it (vertices are sorted).
        _, first = np.unique(labels, return_index=True)
        representative = np.empty(labels.max() + 1, dtype=np.int64)
        representative[labels[first]] = vertices[first]
        cluster_of[vertices] = representative[labels]

    # Representatives are the smallest member, so the id hashes the smallest account id.
    representatives = np.unique(cluster_of)
    ids = {int(r): cluster_id_for([str(accounts[r])]) for r in representatives}
    cluster_ids = np.array([ids[int(r)] for r in cluster_of], dtype=object)
    frame = pa.table(
        {
            "account_id": pa.array(accounts.tolist(), pa.string()),
            "cluster_id": pa.array(cluster_ids.tolist(), pa.string()),
        }
    )
    return frame, len(representatives)


def start_clusters(
    con: duckdb.DuckDBPyConnection, params: GraphParams, executor: Executor
) -> Future[tuple[pa.Table, int]]:
    """Read the thresholded graph and partition it on `executor` (no database work there), so
    that the partition runs beside the queries that follow; `write_clusters` takes the result."""
    return executor.submit(_cluster_rows, *_read_graph(con), params)


def write_clusters(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    pending: Future[tuple[pa.Table, int]] | None = None,
) -> int:
    """Rewrite `clusters` for every account of `graph_vertices` (singletons too); returns the
    count. `pending` is the partition `start_clusters` started, if any."""
    frame, clusters = (
        pending.result() if pending is not None else _cluster_rows(*_read_graph(con), params)
    )
    con.execute("DELETE FROM clusters")
    con.register("graph_cluster_rows", frame)
    try:
        con.execute(
            "INSERT INTO clusters SELECT account_id, cluster_id FROM graph_cluster_rows "
            "ORDER BY cluster_id, account_id"
        )
    finally:
        con.unregister("graph_cluster_rows")
    return clusters
