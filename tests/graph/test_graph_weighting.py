"""Inverse-degree weights, hub caps and the pair budget."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import pytest
from graph_store_builder import StoreBuilder

from detector.graph import GraphParams, build_graph
from detector.graph.weighting import rarity


def test_rarity_falls_with_degree_and_stays_in_unit_range() -> None:
    values = [rarity(d, 10_000) for d in (1, 2, 3, 10, 100, 1_000, 10_000, 50_000)]
    assert values[0] == values[1] == 1.0
    assert all(a > b for a, b in pairwise(values[1:-1]))
    assert values[-1] == values[-2] == 0.0


def _shared_ip_groups(builder: StoreBuilder, sizes: list[int]) -> None:
    for g, size in enumerate(sizes):
        for i in range(size):
            account_id = f"g{g}_{i:03d}"
            builder.account(account_id)
            for at in builder.random_times(3):
                builder.request(account_id, at, ip=f"99.{g}.0.1")
    builder.flush()


def test_values_above_the_cap_are_pruned_and_weigh_nothing(builder: StoreBuilder) -> None:
    _shared_ip_groups(builder, [5, 30])
    build_graph(builder.con, params=GraphParams(max_accounts_per_value=20))

    rows = dict(
        builder.con.execute(
            "SELECT attr_value, any_value(pruned) FROM account_attributes"
            " WHERE attr_type = 'ip' GROUP BY attr_value"
        ).fetchall()
    )
    assert rows == {"99.0.0.1": False, "99.1.0.1": True}
    weights = builder.con.execute(
        "SELECT max(weight) FROM account_attributes WHERE attr_value = '99.1.0.1'"
    ).fetchall()[0]
    assert weights == (0.0,)


def test_pair_budget_admits_rarest_values_first(builder: StoreBuilder) -> None:
    # IP groups of 3, 6 and 12 accounts create 3, 15 and 66 pairs.
    _shared_ip_groups(builder, [3, 6, 12])
    build_graph(builder.con, params=GraphParams(max_pairs_per_type=20))

    pruned = dict(
        builder.con.execute(
            "SELECT attr_value, any_value(pruned) FROM account_attributes"
            " WHERE attr_type = 'ip' GROUP BY attr_value"
        ).fetchall()
    )
    assert pruned == {"99.0.0.1": False, "99.1.0.1": False, "99.2.0.1": True}


def test_type_weight_zero_switches_a_type_off(builder: StoreBuilder) -> None:
    for i in range(3):
        builder.account(f"p{i}", payment="card_same")
    builder.flush()
    on = build_graph(builder.con)
    params = GraphParams()
    off = build_graph(
        builder.con, params=replace(params, type_weights={**params.type_weights, "payment": 0.0})
    )
    assert on.edges == 3
    assert off.edges == 0


@pytest.mark.parametrize("top_k", [1, 3])
def test_top_k_bounds_the_edges_kept_per_account(builder: StoreBuilder, top_k: int) -> None:
    for i in range(8):
        builder.account(f"k{i}", payment="card_clique", signup_ip="203.0.113.9")
    builder.flush()
    build_graph(builder.con, params=GraphParams(top_k_edges=top_k))
    # An edge survives when either end keeps it: at most top_k per account, none left alone.
    ends = builder.con.execute(
        "SELECT count(DISTINCT a) FROM (SELECT account_a AS a FROM account_edges"
        " UNION ALL SELECT account_b FROM account_edges)"
    ).fetchall()[0][0]
    edges = builder.con.execute("SELECT count(*) FROM account_edges").fetchall()[0][0]
    assert ends == 8
    assert edges <= 8 * top_k
    assert edges < 28  # the full clique has 28 pairs


def test_stored_weights_follow_the_documented_formula(builder: StoreBuilder) -> None:
    _shared_ip_groups(builder, [5, 30])
    params = GraphParams()
    build_graph(builder.con, params=params)

    rows = builder.con.execute(
        "SELECT DISTINCT accounts, rarity, weight FROM account_attributes WHERE attr_type = 'ip'"
    ).fetchall()
    assert {r[0] for r in rows} == {5, 30}
    for accounts, stored_rarity, weight in rows:
        expected = rarity(accounts, params.idf_reference_accounts)
        assert stored_rarity == pytest.approx(expected)
        assert weight == pytest.approx(params.type_weights["ip"] * expected)
