"""Each stored activity sketch is the MinHash of its own account's active buckets on its own
day, whether the build sketched every day at once or only the days that changed."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
from graph_store_builder import START, StoreBuilder

from detector.graph import GraphParams, build_graph
from detector.graph.activity_sketches import SKETCHES_TABLE
from detector.graph.similarity import signature_bins, signatures


def _expected(builder: StoreBuilder, params: GraphParams) -> dict[tuple[str, object], tuple[int, list[int]]]:
    """(account, day) -> (distinct buckets, signature), sketched one account-day at a time."""
    bins = signature_bins(params.minhash_hashes, params.minhash_band_rows)
    items: dict[tuple[str, object], set[int]] = defaultdict(set)
    for account, at in builder.con.execute('SELECT account_id, "timestamp" FROM requests').fetchall():
        at = at.astimezone(UTC)
        seconds = (at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
        items[(account, at.date())].add(int(seconds // params.bucket_seconds))
    out = {}
    for key, buckets in items.items():
        values = np.array(sorted(buckets), dtype=np.int64)
        _, sig = signatures(np.zeros(len(values), dtype=np.int64), values, bins=bins, seed=params.seed)
        out[key] = (len(values), [int(v) for v in sig[0]])
    return out


def _stored(builder: StoreBuilder, bins: int) -> dict[tuple[str, object], tuple[int, list[int]]]:
    columns = ", ".join(f"s{i}" for i in range(bins))
    rows = builder.con.execute(f"SELECT account_id, day, buckets, {columns} FROM {SKETCHES_TABLE}").fetchall()
    return {(r[0], r[1]): (int(r[2]), [int(v) for v in r[3:]]) for r in rows}


def test_sketch_rows_belong_to_their_account_and_day(builder: StoreBuilder) -> None:
    params = GraphParams()
    bins = signature_bins(params.minhash_hashes, params.minhash_band_rows)
    users = builder.background(25, requests=30)
    builder.flush()
    build_graph(builder.con, params=params, full=True)  # every day stale at once
    expected = _expected(builder, params)
    assert len({account for account, _ in expected}) == len(users)
    assert len({day for _, day in expected}) > 3  # several days to mix up
    assert _stored(builder, bins) == expected

    # a late request on an old day: only that day is sketched again
    builder.request(users[0], START + timedelta(days=2, minutes=7, seconds=11), ip="81.2.3.4")
    builder.flush()
    stats = build_graph(builder.con, params=params)
    assert stats.days_sketched == 1 and stats.days_reused >= 3
    assert _stored(builder, bins) == _expected(builder, params)
