"""Re-runs give the same tables; cluster ids survive re-runs and unrelated newcomers."""

from __future__ import annotations

from datetime import timedelta

import duckdb
from graph_store_builder import START, StoreBuilder, cluster_of

from detector.graph import build_graph, cluster_id_for

GRAPH_TABLES = ("account_attributes", "account_edges", "clusters", "cluster_features")


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    # Table names come from the constant above.
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in GRAPH_TABLES}


def _plant_groups(builder: StoreBuilder, tag: str) -> None:
    """A proxy crew (shared cards, one /24 on a hosting ASN) and a synchronized crew."""
    for i in range(8):
        account_id = f"{tag}_proxy_{i}"
        builder.account(account_id, payment=f"{tag}_card_{i % 2}")
        for at in builder.random_times(12):
            builder.request(account_id, at, ip=f"45.70.9.{i % 4 + 1}", network_class="hosting")
    minutes = builder.rng.choice(7 * 1440, size=25, replace=False)
    for i in range(5):
        account_id = f"{tag}_sync_{i}"
        builder.account(account_id)
        for minute in minutes:
            builder.request(
                account_id, START + timedelta(minutes=int(minute)), ip=f"{130 + i}.2.3.4"
            )


def test_build_twice_gives_identical_tables(builder: StoreBuilder) -> None:
    builder.background(50)
    _plant_groups(builder, "a")
    builder.flush()

    first_stats = build_graph(builder.con)
    first = _snapshot(builder.con)
    second_stats = build_graph(builder.con)

    assert _snapshot(builder.con) == first
    assert first_stats.edges == second_stats.edges > 0
    assert first_stats.clusters == second_stats.clusters


def test_cluster_ids_survive_unrelated_accounts(builder: StoreBuilder) -> None:
    builder.background(50)
    _plant_groups(builder, "a")
    builder.flush()
    build_graph(builder.con)
    before = cluster_of(builder.con)

    builder.background(60, prefix="late")
    _plant_groups(builder, "b")
    builder.flush()
    build_graph(builder.con)
    after = cluster_of(builder.con)

    assert all(after[account] == cluster for account, cluster in before.items())
    assert len(set(after.values())) > len(set(before.values()))


def test_cluster_id_is_a_hash_of_the_smallest_member(builder: StoreBuilder) -> None:
    builder.background(20)
    _plant_groups(builder, "a")
    builder.flush()
    build_graph(builder.con)

    groups: dict[str, list[str]] = {}
    for account, cluster in cluster_of(builder.con).items():
        groups.setdefault(cluster, []).append(account)
    assert any(len(members) > 1 for members in groups.values())
    for cluster, members in groups.items():
        assert cluster == cluster_id_for(members)
        assert cluster == cluster_id_for([min(members)])
