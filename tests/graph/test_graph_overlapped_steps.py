"""The graph stage's faster plumbing changes no table: activity sketched in numpy a run of
days at a time, edges scored from the weighted rows before they are stored, and the
numpy/Python steps run on a second thread."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pytest
from graph_store_builder import START, StoreBuilder

import detector.graph.build as graph_build
from detector.graph import GraphParams, activity_sketches, build_graph
from detector.graph.activity_sketches import LOADS_TABLE, _day_chunks
from detector.graph.edges import write_account_edges

GRAPH_TABLES = ("account_attributes", "account_edges", "clusters", "cluster_features")


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in GRAPH_TABLES}


def _groups_world(builder: StoreBuilder) -> None:
    """Background users plus three small operators: shared card, shared proxy block, and
    accounts bursting in the same minutes."""
    builder.background(40, requests=10)
    for i in range(5):
        builder.account(f"card_{i}", payment="card_crew")
        for at in builder.random_times(8):
            builder.request(f"card_{i}", at, ip=f"45.81.4.{10 + i}")
    for i in range(5):
        builder.account(f"proxy_{i}")
        for at in builder.random_times(8):
            builder.request(
                f"proxy_{i}", at, ip=f"103.9.9.{i % 2}", network_class="hosting", asn=64500
            )
    minutes = sorted(int(m) for m in builder.rng.choice(5 * 1440, size=20, replace=False))
    for i in range(4):
        builder.account(f"sync_{i}")
        for minute in minutes:
            at = START + timedelta(minutes=minute, seconds=int(builder.rng.integers(0, 50)))
            builder.request(f"sync_{i}", at, ip=f"45.83.6.{10 + i}")
    builder.flush()


def test_minute_loads_count_the_distinct_accounts_of_each_bucket(builder: StoreBuilder) -> None:
    _groups_world(builder)
    params = GraphParams()
    build_graph(builder.con, params=params, full=True)
    expected: dict[tuple[object, int], set[str]] = defaultdict(set)
    for account, at in builder.con.execute('SELECT account_id, "timestamp" FROM requests').fetchall():
        seconds = (at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
        expected[(at.astimezone(UTC).date(), int(seconds // params.bucket_seconds))].add(account)
    stored = {
        (day, item): accounts
        for day, item, accounts in builder.con.execute(
            f"SELECT day, item, accounts FROM {LOADS_TABLE}"
        ).fetchall()
    }
    assert stored == {key: len(accounts) for key, accounts in expected.items()}
    # the synchronized accounts share their burst minutes
    assert max(stored.values()) >= 4


def test_edges_from_weighted_rows_equal_edges_from_stored_attributes(
    builder: StoreBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _groups_world(builder)
    build_graph(builder.con, full=True)
    from_weighted = _tables(builder.con)
    assert from_weighted["account_edges"], "the world must produce edges"

    # The next build scores its edges from `account_attributes` as the previous (identical)
    # build stored them: the stored rows are replaced only after the edges are written.
    def from_stored(con: duckdb.DuckDBPyConnection, params: GraphParams, **kwargs: Any) -> Any:
        return write_account_edges(con, params, **{**kwargs, "from_weighted": False})

    monkeypatch.setattr(graph_build, "write_account_edges", from_stored)
    build_graph(builder.con, full=True)
    assert _tables(builder.con) == from_weighted


class _InlineExecutor(Executor):
    """Runs each task at once on the calling thread."""

    def __init__(self, **_: Any) -> None:
        self.ran = 0

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        self.ran += 1
        return future


def test_second_thread_changes_no_table(
    builder: StoreBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _groups_world(builder)
    threaded = build_graph(builder.con, full=True)
    tables = _tables(builder.con)
    executors: list[_InlineExecutor] = []

    def inline(**kwargs: Any) -> _InlineExecutor:
        executors.append(_InlineExecutor(**kwargs))
        return executors[-1]

    monkeypatch.setattr(graph_build, "ThreadPoolExecutor", inline)
    inline_stats = build_graph(builder.con, full=True)
    # one run of days sketched, the pair search and the partition
    assert len(executors) == 1 and executors[0].ran == 3
    assert _tables(builder.con) == tables
    assert inline_stats.synchronized_pairs == threaded.synchronized_pairs > 0
    assert inline_stats.clusters == threaded.clusters


def test_day_chunks_hold_whole_days_within_the_budget() -> None:
    days = [(date(2026, 3, d), n) for d, n in ((1, 40), (2, 50), (3, 30), (5, 200), (6, 10))]
    chunks = _day_chunks(days, 100)
    assert chunks == [
        (date(2026, 3, 1), date(2026, 3, 2)),  # 90 requests
        (date(2026, 3, 3), date(2026, 3, 3)),  # 30 + 200 would pass the budget
        (date(2026, 3, 5), date(2026, 3, 5)),  # one day over the budget stands alone
        (date(2026, 3, 6), date(2026, 3, 6)),
    ]
    assert _day_chunks([], 100) == []


def test_sketching_a_few_days_at_a_time_changes_nothing(
    builder: StoreBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _groups_world(builder)
    build_graph(builder.con, full=True)
    tables = _tables(builder.con)
    sketches = _sketch_rows(builder.con)
    monkeypatch.setattr(activity_sketches, "_CHUNK_REQUESTS", 40)  # about a day per run
    build_graph(builder.con, full=True)
    assert _sketch_rows(builder.con) == sketches
    assert _tables(builder.con) == tables


def _sketch_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: sorted(con.execute(f"SELECT * FROM {t}").fetchall())
        for t in (activity_sketches.SKETCHES_TABLE, activity_sketches.LOADS_TABLE)
    }
