"""The feature stage's all-time value totals stand in for the window's per-day rows only when
they are the same sums: a store younger than the look-back window, totals in step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import pytest
from graph_store_builder import FEATURE_PARTIALS, START, StoreBuilder

from detector.graph import GraphParams, build_graph
from detector.graph.attributes import _values_from_running_totals
from detector.graph.vertices import write_vertices
from detector.graph.window import graph_window

TOTALS = """
CREATE OR REPLACE TABLE account_value_totals AS
SELECT account_id, kind, value, sum(requests) AS requests, count(*) AS days
FROM account_day_attributes GROUP BY ALL
"""


def _store(builder: StoreBuilder) -> None:
    builder.background(30)
    for i in range(5):
        builder.account(f"op_{i}", payment="card_op")
        for at in builder.random_times(8):
            builder.request(
                f"op_{i}", at, ip=f"45.61.9.{i + 1}", network_class="hosting", asn=64500
            )
    builder.flush()
    for sql in (*FEATURE_PARTIALS, TOTALS):
        builder.con.execute(sql)


def _tables(con: duckdb.DuckDBPyConnection) -> list[list[tuple[Any, ...]]]:
    return [
        con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("account_attributes", "account_edges", "clusters", "cluster_features")
    ]


def _used_totals(con: duckdb.DuckDBPyConnection, params: GraphParams) -> bool:
    window = graph_window(con, params)
    write_vertices(con, window, from_feature_tables=True)  # the values are keyed by vertex
    return _values_from_running_totals(con, window)


def test_totals_in_step_give_the_graph_of_the_per_day_rows(builder: StoreBuilder) -> None:
    _store(builder)
    con = builder.con
    assert _used_totals(con, GraphParams())
    build_graph(con, full=True)
    with_totals = _tables(con)
    con.execute("DROP TABLE account_value_totals")
    assert not _used_totals(con, GraphParams())
    build_graph(con, full=True)
    assert _tables(con) == with_totals
    assert any(row for row in with_totals[1]), "the store must produce edges"


@pytest.mark.parametrize("drift", ["requests", "missing row"])
def test_totals_out_of_step_are_not_used(builder: StoreBuilder, drift: str) -> None:
    _store(builder)
    con = builder.con
    if drift == "requests":
        con.execute(
            "UPDATE account_value_totals SET requests = requests + 1"
            " WHERE account_id = 'op_0' AND kind = 'ip'"
        )
    else:
        con.execute(
            "DELETE FROM account_value_totals WHERE account_id = 'op_1' AND kind = 'prefix'"
        )
    assert not _used_totals(con, GraphParams())


def test_totals_are_not_used_when_days_precede_the_window(builder: StoreBuilder) -> None:
    _store(builder)
    con = builder.con
    builder.request("bg_001", START + timedelta(days=20), ip="88.1.1.1")
    builder.flush()
    for sql in (*FEATURE_PARTIALS, TOTALS):
        con.execute(sql)
    short = GraphParams(lookback_days=5)  # the first week is out of the window
    assert _used_totals(con, GraphParams())
    assert not _used_totals(con, short)
    build_graph(con, params=short, full=True)
    windowed = _tables(con)
    # the window's own sums: no request of the first week counts
    con.execute("DELETE FROM account_day_attributes WHERE day < DATE '2026-03-18'")
    con.execute("DELETE FROM account_daily_features WHERE day < DATE '2026-03-18'")
    con.execute("DELETE FROM requests WHERE \"timestamp\" < TIMESTAMPTZ '2026-03-18 00:00:00+00'")
    build_graph(con, params=short, full=True)
    assert _tables(con) == windowed
