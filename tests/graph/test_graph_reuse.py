"""What a build reuses from earlier builds gives the same tables as doing the work again:
deferred network evidence, kept tables over unchanged inputs, accounts leaving the window."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import duckdb
import pytest
from graph_store_builder import START, StoreBuilder

from detector.graph import GraphParams, build_graph
from detector.graph import build as graph_build
from detector.graph.edges import write_account_edges

TABLES = ("account_attributes", "account_edges", "clusters", "cluster_features")


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def _mixed_world(builder: StoreBuilder) -> None:
    """Background users plus crews tied by different mixes of evidence: network only (a shared
    /24), network and payment, network and sign-up address, synchrony and network."""
    builder.background(50, requests=12)
    for i in range(4):  # a shared hosting /24 and nothing else: no edge on its own
        builder.account(f"net_{i}")
        for at in builder.random_times(8):
            builder.request(
                f"net_{i}",
                at,
                ip=f"45.80.3.{10 + i}",
                network_class="hosting",
                asn=64510,
                user_agent=f"agent-net-{i}",
            )
    for i in range(4):  # a shared /24 and a shared card
        builder.account(f"card_{i}", payment="card_crew")
        for at in builder.random_times(8):
            builder.request(f"card_{i}", at, ip=f"45.81.4.{10 + i}")
    for i in range(4):  # a shared /24 and a shared sign-up address
        builder.account(f"signup_{i}", signup_ip="91.7.7.7")
        for at in builder.random_times(8):
            builder.request(f"signup_{i}", at, ip=f"45.82.5.{10 + i}")
    burst = sorted(int(m) for m in builder.rng.choice(7 * 1440, size=25, replace=False))
    for i in range(4):  # the same minutes, addresses in one /24
        builder.account(f"sync_{i}")
        for minute in burst:
            at = START + timedelta(minutes=minute, seconds=int(builder.rng.integers(0, 50)))
            builder.request(f"sync_{i}", at, ip=f"45.83.6.{10 + i}")
    builder.flush()


def test_deferred_network_evidence_gives_the_edges_of_scoring_every_pair(
    builder: StoreBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mixed_world(builder)
    deferred = build_graph(builder.con)
    fast = _tables(builder.con)

    monkeypatch.setattr(
        graph_build, "write_account_edges", partial(write_account_edges, defer_network=False)
    )
    every_pair = build_graph(builder.con, full=True)
    assert _tables(builder.con) == fast
    # the reference scores strictly more pairs: those tied by a shared network value only
    assert every_pair.candidate_pairs > deferred.candidate_pairs
    edges = {(a, b) for a, b, *_ in fast["account_edges"]}
    assert ("card_0", "card_1") in edges and ("signup_0", "signup_1") in edges
    assert ("sync_0", "sync_1") in edges
    # the network-only crew stays apart, with or without deferral
    assert not any(a.startswith("net_") for a, _ in edges)
    network = {(row[0], row[1]): row[3] for row in fast["account_edges"]}  # the network column
    assert network[("card_0", "card_1")] > 0, "network evidence must be added to kept edges"


def test_network_weight_over_the_threshold_scores_every_pair(builder: StoreBuilder) -> None:
    _mixed_world(builder)
    params = GraphParams(family_weights={**GraphParams().family_weights, "network": 1.0})
    build_graph(builder.con, params=params)
    edges = {
        (a, b)
        for a, b in builder.con.execute("SELECT account_a, account_b FROM account_edges").fetchall()
    }
    # network alone now reaches the threshold: the /24-only crew is linked
    assert ("net_0", "net_1") in edges


def test_unchanged_inputs_keep_the_tables(builder: StoreBuilder) -> None:
    _mixed_world(builder)
    first = build_graph(builder.con)
    before = _tables(builder.con)
    assert not first.unchanged
    again = build_graph(builder.con)
    assert again.unchanged and again.days_sketched == 0
    assert again.edges == first.edges and again.clusters == first.clusters
    assert _tables(builder.con) == before
    # another parameter set reads the same rows but must build again
    other = build_graph(builder.con, params=GraphParams(edge_threshold=0.8))
    assert not other.unchanged


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE accounts SET payment_fingerprint = 'card_crew' WHERE account_id = 'bg_001'",
        "UPDATE accounts SET tier = 'pro' WHERE account_id = 'card_0'",
        "DELETE FROM clusters WHERE account_id = 'card_0'",
        "late request",
    ],
)
def test_any_change_to_the_inputs_builds_again(builder: StoreBuilder, change: str) -> None:
    _mixed_world(builder)
    build_graph(builder.con)
    if change == "late request":  # a late record for the first day, from a crew's address
        builder.request("bg_002", START + timedelta(hours=5), ip="45.81.4.99")
        builder.flush()
    else:
        builder.con.execute(change)
    rebuilt = build_graph(builder.con)
    assert not rebuilt.unchanged
    if change == "late request":
        assert rebuilt.days_sketched == 1
    incremental = _tables(builder.con)
    build_graph(builder.con, full=True)
    assert _tables(builder.con) == incremental


def test_an_account_going_idle_leaves_the_day_by_day_graph_as_in_a_full_build(
    builder: StoreBuilder,
) -> None:
    params = GraphParams(lookback_days=3)
    builder.background(20, requests=30)
    background = builder.requests
    builder.requests = []
    for i in range(3):  # a crew active on the first two days only
        builder.account(f"old_{i}", payment="card_old")
        for hours in (2, 30):
            builder.request(
                f"old_{i}",
                START + timedelta(hours=hours + i),
                ip=f"45.70.1.{i + 1}",
                network_class="hosting",
                asn=64502,
            )
    crew = builder.requests
    builder.requests = []
    builder.flush()
    seen = []
    for day in range(7):
        builder.requests = [r for r in background + crew if (r["timestamp"] - START).days == day]
        builder.flush()
        build_graph(builder.con, params=params)
        seen.append(
            {
                a
                for (a,) in builder.con.execute(
                    "SELECT account_id FROM clusters WHERE account_id LIKE 'old_%'"
                ).fetchall()
            }
        )
        day_by_day = _tables(builder.con)
        build_graph(builder.con, params=params, full=True)
        assert _tables(builder.con) == day_by_day, f"day {day}"
    # in the graph while inside the 3-day window (days 0..3), gone after
    assert seen[0] == seen[3] == {"old_0", "old_1", "old_2"}
    assert seen[4] == set() and seen[6] == set()
