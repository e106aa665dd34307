"""The graph reads the feature stage's per-account-day tables when they cover the store, and
gets the same graph as from grouping `requests` itself."""

from __future__ import annotations

from datetime import timedelta

import duckdb
from graph_store_builder import FEATURE_PARTIALS, START, StoreBuilder, cluster_of

from detector.graph import build_graph

SNAPSHOT = """
SELECT account_id, attr_type, attr_value, accounts, pruned, round(weight, 9)
FROM account_attributes ORDER BY ALL
"""


def _population(builder: StoreBuilder) -> None:
    builder.background(30)
    burst = START - timedelta(days=2)
    for i in range(6):
        builder.account(f"op_{i}", payment="card_op", created_at=burst + timedelta(minutes=i))
        for at in builder.random_times(8):
            builder.request(
                f"op_{i}", at, ip=f"45.61.9.{i + 1}", network_class="hosting", asn=64500
            )
    builder.flush()


def _snapshot(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[object, ...]], dict[str, str]]:
    return con.execute(SNAPSHOT).fetchall(), cluster_of(con)


def test_feature_tables_give_the_same_graph(builder: StoreBuilder) -> None:
    _population(builder)
    con = builder.con
    raw = build_graph(con)
    from_requests = _snapshot(con)
    features_before = con.execute("SELECT * FROM cluster_features ORDER BY ALL").fetchall()
    for sql in FEATURE_PARTIALS:
        con.execute(sql)

    stats = build_graph(con)

    assert not raw.used_feature_tables and stats.used_feature_tables
    assert _snapshot(con) == from_requests
    assert con.execute("SELECT * FROM cluster_features ORDER BY ALL").fetchall() == features_before
    clusters = cluster_of(con)
    assert len({clusters[f"op_{i}"] for i in range(6)}) == 1
    hosting = con.execute(
        "SELECT DISTINCT attr_value FROM account_attributes WHERE attr_type = 'hosting_asn'"
    ).fetchall()
    assert hosting == [("64500",)]


def test_partial_feature_tables_are_not_trusted(builder: StoreBuilder) -> None:
    _population(builder)
    con = builder.con
    for sql in FEATURE_PARTIALS:
        con.execute(sql)
    # a day the feature stage has not processed yet
    con.execute(
        "DELETE FROM account_daily_features WHERE day = (SELECT min(day) FROM account_daily_features)"
    )

    stats = build_graph(con)

    assert not stats.used_feature_tables
