"""Each campaign's account-indicator graph, laid out once at scan time for the dashboard.

The links come from the feature stage's per account attribute counts (IPs, /24 prefixes,
client strings; its running totals when they match the day rows, `value_sums`) and the
accounts' payment cards, never from `requests`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import polars as pl

from detector.campaigns.profile import query_frame
from detector.campaigns.value_sums import totals_match_day_rows, value_rows_sql

GRAPH_VALUES_PER_KIND = 60  # shared indicator nodes kept per kind and campaign
GRAPH_ACCOUNTS = 200        # a campaign's busiest accounts drawn (the layout is quadratic)
GRAPH_KINDS = ("ip", "prefix", "payment", "user_agent")
LAYOUT_THREADS = 2  # layouts run in threads: numpy and polars release the GIL in their array work
_ATTRIBUTE_KINDS = ("ip", "prefix", "user_agent")  # the kinds read from the feature stage

GRAPH_DDL = (
    """
    CREATE TABLE IF NOT EXISTS dash_graph_nodes (
        campaign_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        label VARCHAR NOT NULL, degree BIGINT NOT NULL, x DOUBLE NOT NULL, y DOUBLE NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dash_graph_edges (
        campaign_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, requests BIGINT NOT NULL,
        x DOUBLE NOT NULL, y DOUBLE NOT NULL, x2 DOUBLE NOT NULL, y2 DOUBLE NOT NULL
    )
    """,
)

# Indicator values shared by at least two members of a campaign: the links of its graph.
# `members` is a relation (campaign_id, account_id) of the campaigns to lay out; `values` a
# query of (account_id, kind, value, requests) rows that sum to the all-day totals (`value_sums`).
_SHARED_VALUES_SQL = """
WITH used AS (
    SELECT m.campaign_id, m.account_id, a.kind, a.value, sum(a.requests) AS requests
    FROM ({values}) a JOIN {members} m USING (account_id)
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT m.campaign_id, m.account_id, 'payment', a.payment_fingerprint, 0
    FROM {members} m JOIN accounts a USING (account_id)
    WHERE a.payment_fingerprint IS NOT NULL GROUP BY 1, 2, 3, 4
),
shared AS (
    SELECT campaign_id, kind, value, count(DISTINCT account_id) AS holders, sum(requests) AS n
    FROM used GROUP BY 1, 2, 3 HAVING count(DISTINCT account_id) >= 2
    QUALIFY row_number() OVER (PARTITION BY campaign_id, kind ORDER BY holders DESC, n DESC, value)
            <= ?
)
SELECT u.campaign_id, u.account_id, u.kind, u.value, sum(u.requests) AS requests
FROM used u JOIN shared s USING (campaign_id, kind, value)
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
"""


def spring_positions(n: int, edges: np.ndarray, *, seed: int = 7, iterations: int = 60) -> np.ndarray:
    """Fruchterman-Reingold positions of `n` nodes linked by `edges` (pairs of node indices),
    scaled into [-1, 1]: networkx's dense spring layout, vectorized for every graph size
    (networkx falls back to a per-node Python loop above 500 nodes)."""
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 2)).astype(np.float32)
    if n == 1:
        return np.zeros((1, 2))
    adjacency = np.zeros((n, n), dtype=np.float32)
    if len(edges):
        adjacency[edges[:, 0], edges[:, 1]] = 1.0
        adjacency[edges[:, 1], edges[:, 0]] = 1.0
    k = 1.5 / n**0.5
    temperature = 0.1
    cooling = temperature / (iterations + 1)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.sqrt(np.einsum("ijk,ijk->ij", delta, delta)), 0.01)
        force = k * k / distance**2 - adjacency * distance / k
        displacement = np.einsum("ijk,ij->ik", delta, force)
        length = np.sqrt(np.einsum("ik,ik->i", displacement, displacement))
        length = np.where(length < 0.01, 0.1, length)
        pos += displacement * (temperature / length)[:, None]
        temperature -= cooling
    out = pos.astype(np.float64)
    out -= out.mean(axis=0)
    extent = np.abs(out).max()
    return out / extent if extent > 0 else out


_NODE_SCHEMA = {"node_id": pl.String, "kind": pl.String, "label": pl.String}


def _layout(campaign_id: str, members: Sequence[str], links: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Node and edge rows (in the DDL's column order) of one campaign's account-indicator
    graph, laid out by a seeded spring layout (accounts with no shared value sit outside)."""
    accounts = pl.DataFrame(
        {"node_id": [f"account:{a}" for a in members], "kind": ["account"] * len(members),
         "label": list(members)},
        schema=_NODE_SCHEMA,
    )
    values = links.select(
        node_id=pl.format("{}:{}", "kind", "value"), kind=pl.col("kind"),
        label=pl.col("value").cast(pl.String),
    ).unique(subset="node_id", maintain_order=True)
    nodes = pl.concat([accounts, values]).unique(subset="node_id", maintain_order=True).with_row_index("i")
    index = nodes.select("node_id", "i")
    edges = (
        links.with_columns(a=pl.format("account:{}", "account_id"), node_id=pl.format("{}:{}", "kind", "value"))
        .join(index.rename({"node_id": "a", "i": "ai"}), on="a")
        .join(index.rename({"i": "bi"}), on="node_id")
    )
    pairs = np.unique(edges.select("ai", "bi").to_numpy().astype(np.int64).reshape(-1, 2), axis=0)
    pos = spring_positions(nodes.height, pairs)
    degree = np.bincount(pairs.ravel(), minlength=nodes.height) if len(pairs) else np.zeros(nodes.height, np.int64)
    node_rows = nodes.select(
        pl.lit(campaign_id).alias("campaign_id"), "node_id", "kind", "label",
        pl.Series("degree", degree, dtype=pl.Int64), pl.Series("x", pos[:, 0]), pl.Series("y", pos[:, 1]),
    )
    ai = edges["ai"].to_numpy().astype(np.int64)
    bi = edges["bi"].to_numpy().astype(np.int64)
    edge_rows = edges.select(
        pl.lit(campaign_id).alias("campaign_id"), "account_id", "node_id", "kind",
        pl.col("requests").fill_null(0).cast(pl.Int64),
        pl.Series("x", pos[ai, 0]), pl.Series("y", pos[ai, 1]),
        pl.Series("x2", pos[bi, 0]), pl.Series("y2", pos[bi, 1]),
    )
    return node_rows, edge_rows


def write_graphs(con: duckdb.DuckDBPyConnection, members_table: str) -> int:
    """Lay out and append the graphs of the campaigns in `members_table` (a relation of
    campaign_id, account_id; a fixed code constant), each drawn with its `GRAPH_ACCOUNTS`
    busiest members (by `dash_accounts.requests`); returns the number of nodes written."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _dash_graph_members AS
        SELECT m.campaign_id, m.account_id FROM {members_table} m
        LEFT JOIN dash_accounts d USING (account_id)
        QUALIFY row_number() OVER (PARTITION BY m.campaign_id
                                   ORDER BY d.requests DESC NULLS LAST, m.account_id) <= ?
        """,
        [GRAPH_ACCOUNTS],
    )
    try:
        values = value_rows_sql(_ATTRIBUTE_KINDS, from_totals=totals_match_day_rows(con))
        links = query_frame(
            con,
            _SHARED_VALUES_SQL.format(members="_dash_graph_members", values=values),
            [GRAPH_VALUES_PER_KIND],
        )
        members: dict[str, list[str]] = {}
        for cid, account in con.execute(
            "SELECT campaign_id, account_id FROM _dash_graph_members ORDER BY 1, 2"
        ).fetchall():
            members.setdefault(str(cid), []).append(str(account))
    finally:
        con.execute("DROP TABLE IF EXISTS _dash_graph_members")
    node_frames: list[pl.DataFrame] = []
    edge_frames: list[pl.DataFrame] = []
    by_campaign = (
        {key[0]: frame for key, frame in links.partition_by("campaign_id", as_dict=True).items()}
        if links.height else {}
    )
    jobs = [(cid, accounts, by_campaign.get(cid, links.clear())) for cid, accounts in members.items()]
    with ThreadPoolExecutor(LAYOUT_THREADS, thread_name_prefix="dg-layout") as pool:
        # Each layout is seeded on its own, so threads give the same rows in the same order.
        for nodes, edges in pool.map(lambda job: _layout(*job), jobs):
            node_frames.append(nodes)
            edge_frames.append(edges)
    written = 0
    for table, frames in (("dash_graph_nodes", node_frames), ("dash_graph_edges", edge_frames)):
        rows = pl.concat(frames) if frames else pl.DataFrame()
        if table == "dash_graph_nodes":
            written = rows.height
        if not rows.height:
            continue
        # INSERT ... SELECT * matches columns by position: the frames are in the DDL's order.
        con.register("dash_graph_rows_v", rows.to_arrow())
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM dash_graph_rows_v")
        finally:
            con.unregister("dash_graph_rows_v")
    return written
