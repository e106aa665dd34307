"""Incremental graph builds: day-by-day builds that reuse the stored activity sketches give
the same edges and clusters as one build from scratch, and the look-back window drops idle
accounts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from graph_store_builder import START, StoreBuilder, cluster_of

from detector import store
from detector.graph import GraphParams, build_graph

DAYS = 7


def _world(builder: StoreBuilder) -> list[dict[str, Any]]:
    """A week of traffic: background users, a synchronized crew on separate addresses, a
    proxy-pool crew sharing a hosting /24 and a card; returns the requests (accounts are
    flushed into the store)."""
    builder.background(60, requests=25)
    burst = sorted(int(m) for m in builder.rng.choice(DAYS * 1440, size=40, replace=False))
    for i in range(6):
        account_id = f"sync_{i}"
        builder.account(account_id)
        for minute in burst:
            at = START + timedelta(minutes=minute, seconds=int(builder.rng.integers(0, 50)))
            builder.request(account_id, at, ip=f"{100 + i}.{10 * i}.{i}.7", user_agent=f"agent-{i}")
    for i in range(5):
        account_id = f"pool_{i}"
        builder.account(account_id, payment="card_pool")
        for at in builder.random_times(12, days=DAYS):
            builder.request(account_id, at, ip=f"45.61.9.{20 + i}", network_class="hosting", asn=64501)
    requests = sorted(builder.requests, key=lambda r: r["timestamp"])
    builder.requests = []
    builder.flush()
    return requests


def _day(at: datetime) -> int:
    return (at - START).days


def _graph(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    edges = con.execute("SELECT * FROM account_edges ORDER BY account_a, account_b").fetchall()
    return edges, cluster_of(con)


def test_day_by_day_builds_equal_one_full_build(builder: StoreBuilder, tmp_path: Path) -> None:
    requests = _world(builder)
    # a late request: day 1's traffic arrives again with the last day
    late = next(r for r in requests if _day(r["timestamp"]) == 1)
    on_time = [r for r in requests if r is not late]
    assert {_day(r["timestamp"]) for r in requests} == set(range(DAYS))
    stats = []
    for day in range(DAYS):
        builder.requests = [r for r in on_time if _day(r["timestamp"]) == day]
        if day == DAYS - 1:
            builder.requests.append(late)
        builder.flush()
        stats.append(build_graph(builder.con))
    incremental = _graph(builder.con)

    # each day sketches only itself; the last also sketches day 1 again for the late request
    assert [s.days_sketched for s in stats] == [1] * (DAYS - 1) + [2]
    assert [s.days_reused for s in stats] == [*range(DAYS - 1), DAYS - 2]

    full_stats = build_graph(builder.con, full=True)
    assert full_stats.days_sketched == DAYS and full_stats.days_reused == 0
    assert _graph(builder.con) == incremental

    # a store that never saw a partial day: one build of everything
    fresh = store.connect(tmp_path / "fresh.duckdb")
    try:
        other = StoreBuilder(fresh)
        other.accounts = list(builder.con.sql("SELECT * FROM accounts").to_arrow_table().to_pylist())
        other.requests = list(requests)
        other.flush()
        build_graph(fresh, full=True)
        assert _graph(fresh) == incremental
    finally:
        fresh.close()

    edges, clusters = incremental
    assert edges, "the fixture must produce edges for the comparison to mean anything"
    assert len({clusters[f"sync_{i}"] for i in range(6)}) == 1
    assert len({clusters[f"pool_{i}"] for i in range(5)}) == 1


def test_changed_sketch_parameters_rebuild_every_day(builder: StoreBuilder) -> None:
    builder.requests = _world(builder)
    builder.flush()
    build_graph(builder.con)
    again = build_graph(builder.con)
    assert again.days_sketched == 0 and again.days_reused == DAYS
    other = build_graph(builder.con, params=GraphParams(bucket_seconds=120))
    assert other.days_sketched == DAYS


def test_lookback_window_drops_idle_accounts(builder: StoreBuilder) -> None:
    builder.background(30, requests=20)
    for i in range(3):  # a crew active on the first day only
        builder.account(f"old_{i}", payment="card_old")
        builder.request(f"old_{i}", START + timedelta(hours=i), ip=f"45.70.1.{i + 1}",
                        network_class="hosting", asn=64502)
    builder.account("recent")
    builder.request("recent", START + timedelta(days=6, hours=3), ip="88.1.2.3")
    builder.flush()

    whole = build_graph(builder.con, params=GraphParams(lookback_days=None))
    assert whole.window.startswith("start..")
    clusters = cluster_of(builder.con)
    assert len({clusters[f"old_{i}"] for i in range(3)}) == 1

    windowed = build_graph(builder.con, params=GraphParams(lookback_days=3))
    assert windowed.window == "2026-03-06..2026-03-08"
    clusters = cluster_of(builder.con)
    assert not any(f"old_{i}" in clusters for i in range(3))
    assert "recent" in clusters
    # background accounts active in the window are still there; sketches of old days are gone
    assert windowed.accounts < whole.accounts
    old_days = builder.con.execute(
        "SELECT count(*) FROM graph_minute_sketches WHERE day < DATE '2026-03-06'"
    ).fetchall()[0][0]
    assert old_days == 0


def test_lookback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lookback_days"):
        GraphParams(lookback_days=0)
    with pytest.raises(ValueError, match="bucket_seconds"):
        GraphParams(bucket_seconds=7)


def test_scan_graph_stage_passes_window_and_full_rebuild(builder: StoreBuilder) -> None:
    from detector.scan_stages import ScanContext, ScanOptions, graph_stage

    builder.requests = _world(builder)
    builder.flush()
    idle = ScanContext(builder.con, ScanOptions(), (), None, None, new_requests=0)
    assert graph_stage(idle) == {"skipped": "no new requests"}

    forced = ScanContext(
        builder.con, ScanOptions(graph_lookback_days=2, full_graph=True), (), None, None, 0
    )
    stats = graph_stage(forced)
    assert stats["full_rebuild"] is True
    assert stats["window"] == "2026-03-07..2026-03-08"
    assert stats["days_sketched"] == 2  # the window's two days, nothing older

    daily = ScanContext(builder.con, ScanOptions(graph_lookback_days=2), (), None, None, 10)
    again = graph_stage(daily)
    assert again["full_rebuild"] is False and again["days_sketched"] == 0
