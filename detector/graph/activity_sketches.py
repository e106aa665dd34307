"""Per-account, per-day MinHash sketches of active time buckets (and the day's hosting
addresses), kept between scans.

The synchrony signal compares each account's set of active buckets (minutes) over the
look-back window. A MinHash signature is a minimum per bin, so the window's signature of an
account is the bin-wise minimum of its daily signatures, and its bucket count the sum of its
daily counts (a bucket never straddles midnight: `bucket_seconds` divides a day). The store
keeps one sketch row per account and UTC day plus the accounts active in each bucket (for
the chance correction); a scan sketches only the days whose request count changed since the
sketches were made -- the new days -- and reads the rest back. A changed sketch key
(bucket size, bins, seed, hosting classes) or a full rebuild drops them all and sketches the
window again. The same pass keeps each day's hosting addresses with their ASN, so that no scan
has to read the network class of every stored request again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from detector.graph.params import GraphParams
from detector.graph.similarity import signature_bins, signatures
from detector.graph.sql import define_utc_day, scalar, table_exists
from detector.graph.window import GraphWindow

SKETCHES_TABLE = "graph_minute_sketches"
LOADS_TABLE = "graph_minute_loads"
SKETCH_DAYS_TABLE = "graph_sketch_days"
HOSTING_TABLE = "graph_hosting_days"
STATE_TABLE = "graph_state"
SKETCH_KEY = "activity_sketch_key"


def _bin_columns(bins: int) -> list[str]:
    return [f"s{i}" for i in range(bins)]


def _create_tables(con: duckdb.DuckDBPyConnection, bins: int) -> None:
    columns = ", ".join(f"{c} UINTEGER NOT NULL" for c in _bin_columns(bins))
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SKETCHES_TABLE} "
        f"(account_id VARCHAR NOT NULL, day DATE NOT NULL, buckets BIGINT NOT NULL, {columns})"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOADS_TABLE} "
        "(day DATE NOT NULL, item BIGINT NOT NULL, accounts BIGINT NOT NULL)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SKETCH_DAYS_TABLE} "
        "(day DATE NOT NULL, requests BIGINT NOT NULL)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {HOSTING_TABLE} "
        "(day DATE NOT NULL, client_ip VARCHAR NOT NULL, asn BIGINT NOT NULL)"
    )


def _stored_key(con: duckdb.DuckDBPyConnection) -> str | None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (key VARCHAR NOT NULL, value VARCHAR)")
    value = scalar(con, f"SELECT max(value) FROM {STATE_TABLE} WHERE key = ?", [SKETCH_KEY])
    return str(value) if value is not None else None


def drop_sketches(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every stored sketch (the next build sketches its whole window)."""
    for table in (SKETCHES_TABLE, LOADS_TABLE, SKETCH_DAYS_TABLE, HOSTING_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    if table_exists(con, STATE_TABLE):
        con.execute(f"DELETE FROM {STATE_TABLE} WHERE key = ?", [SKETCH_KEY])


# The rows of one run of days: (sketch rows, bucket-load rows) for their tables.
_SketchRows = tuple[pa.Table, pa.Table]


@dataclass
class SketchRefresh:
    """What `refresh_sketches` did: days sketched and reused, and the sketch rows of the last
    run of days still being computed on the executor, which `store` waits for and writes."""

    sketched: int
    reused: int
    pending: Future[_SketchRows] | None = None

    def store(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the pending sketch rows (a no-op once written); needed before any read of
        the sketch tables and before the transaction ends."""
        if self.pending is not None:
            _insert_rows(con, *self.pending.result())
            self.pending = None


def refresh_sketches(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    window: GraphWindow,
    *,
    full: bool,
    executor: Executor | None = None,
) -> SketchRefresh:
    """Bring the stored sketches up to date with the window's requests.

    Days before the window are dropped; days whose request count differs from the count
    they were sketched from (new or grown days) are sketched again from `requests`. Leaves
    temp table `graph_day_counts(day, requests)`, the window's request count per UTC day.
    With an `executor`, the numpy work of the last run of days goes on there, so that it runs
    beside the caller's next queries: call `SketchRefresh.store` before reading the sketches.
    """
    key = params.sketch_key()
    bins = signature_bins(params.minhash_hashes, params.minhash_band_rows)
    stored = _stored_key(con)  # also creates the state table
    if full or stored != key:
        drop_sketches(con)
        con.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, ?)", [SKETCH_KEY, key])
    _create_tables(con, bins)
    define_utc_day(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_day_counts AS
        SELECT graph_utc_day("timestamp") AS day, count(*) AS requests
        FROM requests WHERE "timestamp" >= ? GROUP BY ALL
        """,
        [window.start],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_stale_days AS
        SELECT day FROM graph_day_counts c
        ANTI JOIN {SKETCH_DAYS_TABLE} s USING (day, requests)
        """
    )
    for table in (SKETCHES_TABLE, LOADS_TABLE, SKETCH_DAYS_TABLE, HOSTING_TABLE):
        con.execute(
            f"DELETE FROM {table} WHERE day < ? OR day IN (SELECT day FROM graph_stale_days)"
            " OR day NOT IN (SELECT day FROM graph_day_counts)",
            [window.start_day],
        )
    stale = int(scalar(con, "SELECT count(*) FROM graph_stale_days"))
    pending = _sketch_days(con, params, bins, executor) if stale else None
    con.execute(
        f"INSERT INTO {SKETCH_DAYS_TABLE} SELECT day, requests FROM graph_day_counts"
        " SEMI JOIN graph_stale_days USING (day)"
    )
    reused = int(scalar(con, "SELECT count(*) FROM graph_day_counts")) - stale
    con.execute("DROP TABLE graph_stale_days")
    refresh = SketchRefresh(stale, reused, pending)
    if executor is None:
        refresh.store(con)
    return refresh


def _sketch_days(
    con: duckdb.DuckDBPyConnection, params: GraphParams, bins: int, executor: Executor | None
) -> Future[_SketchRows] | None:
    """Sketch the accounts' active buckets on every day of `graph_stale_days`; the rows of the
    last run of days are left pending (on `executor`, else computed at once).

    DuckDB only filters the requests and numbers their accounts; the distinct (account,
    bucket) rows, the per-day sketches and the accounts per bucket come from an integer sort
    in numpy (grouping millions of string-keyed rows in SQL cost several times more), a run of
    whole days at a time.
    """
    # When every day of the window is stale (a first scan, a full rebuild), every request from
    # the first stale midnight on is in a stale day: the per-row day test can go.
    every_day = bool(scalar(
        con,
        "SELECT count(*) = (SELECT count(*) FROM graph_day_counts) FROM graph_stale_days",
    ))
    in_stale_days = "" if every_day else (
        'AND graph_utc_day("timestamp") IN (SELECT day FROM graph_stale_days)'
    )
    since = "(SELECT CAST(min(day) AS TIMESTAMPTZ) FROM graph_stale_days)"
    stale_requests = f'FROM requests WHERE "timestamp" >= {since} {in_stale_days}'
    con.execute(
        f"""
        INSERT INTO {HOSTING_TABLE}
        SELECT graph_utc_day("timestamp") AS day, client_ip, min(asn)
        {stale_requests}
          AND network_class IN (SELECT unnest(?::VARCHAR[])) AND asn IS NOT NULL
          AND client_ip IS NOT NULL
        GROUP BY ALL
        """,
        [list(params.hosting_network_classes)],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_sketch_accounts AS
        SELECT account_id, CAST(row_number() OVER () - 1 AS INTEGER) AS account
        FROM (SELECT DISTINCT account_id {stale_requests})
        """
    )
    accounts = (
        con.sql("SELECT account_id FROM graph_sketch_accounts ORDER BY account")
        .to_arrow_table()
        .column("account_id")
    )
    stale_days = con.execute(
        "SELECT s.day, c.requests FROM graph_stale_days s JOIN graph_day_counts c USING (day)"
        " ORDER BY s.day"
    ).fetchall()
    # Runs of whole days, each with at most `_CHUNK_REQUESTS` requests (or one day): the
    # arrays in memory stay bounded whatever the window holds (one run is computed while the
    # next one is read, and written before the one after is read).
    pending: Future[_SketchRows] | None = None
    for first, last in _day_chunks(stale_days, _CHUNK_REQUESTS):
        arrays = con.execute(
            f"""
            SELECT a.account, CAST(floor(epoch(r."timestamp") / ?) AS BIGINT) AS item
            FROM requests r JOIN graph_sketch_accounts a USING (account_id)
            WHERE r."timestamp" >= ? AND r."timestamp" < ? {in_stale_days}
            """,
            [
                params.bucket_seconds,
                datetime.combine(first, time(0), tzinfo=UTC),
                datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC),
            ],
        ).fetchnumpy()
        if pending is not None:
            _insert_rows(con, *pending.result())
        pending = _submit(
            executor, _chunk_rows, params, bins, accounts, arrays["account"], arrays["item"]
        )
        del arrays
    con.execute("DROP TABLE graph_sketch_accounts")
    return pending


def _submit(
    executor: Executor | None, task: Callable[..., _SketchRows], *args: Any
) -> Future[_SketchRows]:
    """`task(*args)` on `executor`, or at once as a done future."""
    if executor is not None:
        return executor.submit(task, *args)
    done: Future[_SketchRows] = Future()
    done.set_result(task(*args))
    return done


# Requests whose buckets are sketched at once (about 0.5 GB of arrays at the peak).
_CHUNK_REQUESTS = 12_000_000


def _day_chunks(days: list[tuple[date, int]], budget: int) -> list[tuple[date, date]]:
    """(first, last) day of consecutive runs of `days` (sorted (day, requests) rows) holding
    at most `budget` requests each, or a single day."""
    chunks: list[tuple[date, date]] = []
    total = 0
    for day, requests in days:
        if chunks and total + requests <= budget:
            chunks[-1] = (chunks[-1][0], day)
            total += requests
        else:
            chunks.append((day, day))
            total = requests
    return chunks


def _chunk_rows(
    params: GraphParams,
    bins: int,
    accounts: pa.ChunkedArray,
    request_accounts: npt.NDArray[Any],
    request_items: npt.NDArray[Any],
) -> _SketchRows:
    """The sketch and bucket-load rows of one run of days from its requests' account numbers
    and buckets (`accounts` names the numbers): numpy and Arrow only, no database."""
    account, item = _distinct_account_buckets(
        np.asarray(request_accounts, dtype=np.int64), np.asarray(request_items, dtype=np.int64)
    )
    del request_accounts, request_items
    # a bucket never straddles midnight (`bucket_seconds` divides a day): its day is its
    # bucket number floored to whole days
    per_day = 86_400 // params.bucket_seconds
    day = np.floor_divide(item, per_day)
    loads = _load_rows(item, per_day)
    # rows are sorted by account and bucket, so each sketch (account and day) is one run
    # (no run at all without rows)
    starts = np.flatnonzero(
        np.r_[len(item) > 0, (account[1:] != account[:-1]) | (day[1:] != day[:-1])]
    )
    lengths = np.diff(np.r_[starts, len(item)])
    sketch = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    present, sig = signatures(sketch, item, bins=bins, seed=params.seed)
    del sketch, item
    # Every sketch has at least one bucket, so `present` is every sketch, in order.
    assert len(present) == len(starts)
    by_bin = np.ascontiguousarray(sig.T)  # one contiguous row per stored column
    frame = pa.table(
        {
            "account_id": accounts.take(pa.array(account[starts], pa.int64())),
            "day": _dates(day[starts]),
            "buckets": pa.array(lengths, pa.int64()),
            **{c: pa.array(by_bin[i], pa.uint32()) for i, c in enumerate(_bin_columns(bins))},
        }
    )
    return frame, loads


def _insert_rows(con: duckdb.DuckDBPyConnection, sketches: pa.Table, loads: pa.Table) -> None:
    """Append the rows of `_chunk_rows` to the sketch and bucket-load tables."""
    for table, frame in ((SKETCHES_TABLE, sketches), (LOADS_TABLE, loads)):
        con.register("graph_sketch_rows", frame)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM graph_sketch_rows")
        finally:
            con.unregister("graph_sketch_rows")


def _distinct_account_buckets(
    account: npt.NDArray[np.int64], item: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct (account, bucket) rows, sorted by account then bucket."""
    if len(item) == 0:
        return account, item
    low = int(item.min())
    span = int(item.max()) - low
    if span < 2**32:
        # one packed 64-bit key (accounts number fewer than 2**31): a single in-place sort
        key = (account << 32) | (item - low)
        key.sort()
        key = key[np.r_[True, key[1:] != key[:-1]]]
        return key >> 32, (key & 0xFFFFFFFF) + low
    order = np.lexsort((item, account))
    account, item = account[order], item[order]
    keep = np.r_[True, (account[1:] != account[:-1]) | (item[1:] != item[:-1])]
    return account[keep], item[keep]


def _dates(day_numbers: npt.NDArray[np.int64]) -> pa.Array:
    """UTC days (days since 1970-01-01) as an Arrow date column."""
    return pa.array(day_numbers.astype(np.int32), pa.int32()).cast(pa.date32())


def _load_rows(item: npt.NDArray[np.int64], per_day: int) -> pa.Table:
    """(day, item, accounts): how many accounts were active in each bucket, from distinct
    (account, bucket) rows."""
    if len(item) == 0:
        buckets = accounts = np.empty(0, dtype=np.int64)
        return _load_table(buckets, accounts, per_day)
    low = int(item.min())
    span = int(item.max()) - low + 1
    if span <= 4 * len(item) + 1_000_000:  # a dense count over the buckets' range
        counts = np.bincount(item - low)
        buckets = np.flatnonzero(counts)
        accounts = counts[buckets]
        buckets = buckets + low
    else:
        buckets, accounts = np.unique(item, return_counts=True)
    return _load_table(buckets, accounts, per_day)


def _load_table(
    buckets: npt.NDArray[np.int64], accounts: npt.NDArray[np.int64], per_day: int
) -> pa.Table:
    return pa.table(
        {
            "day": _dates(np.floor_divide(buckets, per_day)),
            "item": pa.array(buckets, pa.int64()),
            "accounts": pa.array(accounts, pa.int64()),
        }
    )


def window_signatures(
    con: duckdb.DuckDBPyConnection, params: GraphParams, window: GraphWindow
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """(vertices in order, active buckets, signature rows) of the window's accounts with at
    least `min_active_buckets` buckets: the bin-wise minimum of their daily sketches."""
    columns = _bin_columns(signature_bins(params.minhash_hashes, params.minhash_band_rows))
    arrays = con.execute(
        f"""
        SELECT v.vertex, CAST(sum(s.buckets) AS BIGINT) AS buckets, {", ".join(f"min(s.{c}) AS {c}" for c in columns)}
        FROM {SKETCHES_TABLE} s JOIN graph_vertices v USING (account_id)
        WHERE s.day >= ?
        GROUP BY v.vertex
        HAVING sum(s.buckets) >= ?
        ORDER BY v.vertex
        """,
        [window.start_day, params.min_active_buckets],
    ).fetchnumpy()
    vertices = np.asarray(arrays["vertex"], dtype=np.int64)
    buckets = np.asarray(arrays["buckets"], dtype=np.int64)
    sig = np.empty((len(vertices), len(columns)), dtype=np.uint32)
    for i, c in enumerate(columns):
        sig[:, i] = np.asarray(arrays[c], dtype=np.uint32)
    return vertices, buckets, sig


def write_window_hosting_ips(con: duckdb.DuckDBPyConnection, window: GraphWindow) -> None:
    """Fill temp table `graph_hosting_ips(client_ip, asn)`: the hosting addresses seen in the
    window, each with its (smallest) ASN."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_hosting_ips AS
        SELECT client_ip, min(asn) AS asn FROM {HOSTING_TABLE} WHERE day >= ? GROUP BY client_ip
        """,
        [window.start_day],
    )


def effective_buckets(con: duckdb.DuckDBPyConnection, window: GraphWindow) -> float:
    """The window's effective number of buckets: inverse Simpson index of accounts per bucket."""
    value = scalar(
        con,
        f"""
        SELECT coalesce(sum(accounts) * sum(accounts) / nullif(sum(accounts * accounts), 0), 1)
        FROM {LOADS_TABLE} WHERE day >= ?
        """,
        [window.start_day],
    )
    return float(value) if value else 1.0
