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


def refresh_sketches(
    con: duckdb.DuckDBPyConnection, params: GraphParams, window: GraphWindow, *, full: bool
) -> tuple[int, int]:
    """Bring the stored sketches up to date with the window's requests.

    Days before the window are dropped; days whose request count differs from the count
    they were sketched from (new or grown days) are sketched again from `requests`. Returns
    (days sketched now, days reused), and leaves temp table `graph_day_counts(day, requests)`,
    the window's request count per UTC day.
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
    if stale:
        _sketch_days(con, params, bins)
    con.execute(
        f"INSERT INTO {SKETCH_DAYS_TABLE} SELECT day, requests FROM graph_day_counts"
        " SEMI JOIN graph_stale_days USING (day)"
    )
    reused = int(scalar(con, "SELECT count(*) FROM graph_day_counts")) - stale
    con.execute("DROP TABLE graph_stale_days")
    return stale, reused


def _sketch_days(con: duckdb.DuckDBPyConnection, params: GraphParams, bins: int) -> None:
    """Sketch the accounts' active buckets on every day of `graph_stale_days`."""
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
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE graph_new_buckets AS
        SELECT account_id, graph_utc_day("timestamp") AS day,
               CAST(floor(epoch("timestamp") / ?) AS BIGINT) AS item
        FROM requests
        WHERE "timestamp" >= {since} {in_stale_days}
        GROUP BY ALL
        """,
        [params.bucket_seconds],
    )
    con.execute(
        f"INSERT INTO {LOADS_TABLE} SELECT day, item, count(*) FROM graph_new_buckets GROUP BY ALL"
    )
    con.execute(
        f"""
        INSERT INTO {HOSTING_TABLE}
        SELECT graph_utc_day("timestamp") AS day, client_ip, min(asn)
        FROM requests
        WHERE "timestamp" >= {since} {in_stale_days}
          AND network_class IN (SELECT unnest(?::VARCHAR[])) AND asn IS NOT NULL
          AND client_ip IS NOT NULL
        GROUP BY ALL
        """,
        [list(params.hosting_network_classes)],
    )
    # One row per sketch (account and day) with its buckets as a list: the row number is the
    # sketch, and the rows go back into the store as they are (no key table to join).
    table = con.sql(
        "SELECT account_id, day, list(item) AS items FROM graph_new_buckets GROUP BY account_id, day"
    ).to_arrow_table()
    con.execute("DROP TABLE graph_new_buckets")
    items = table.column("items").combine_chunks()
    lengths = np.asarray(items.value_lengths(), dtype=np.int64)
    item = np.asarray(items.flatten(), dtype=np.int64)
    sketch = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    present, sig = signatures(sketch, item, bins=bins, seed=params.seed)
    del sketch, item
    # Every row has at least one bucket, so `present` is every row, in order.
    assert len(present) == table.num_rows
    columns = _bin_columns(bins)
    frame = pa.table(
        {
            "account_id": table.column("account_id"),
            "day": table.column("day"),
            "buckets": pa.array(lengths, pa.int64()),
            **{c: pa.array(sig[:, i], pa.uint32()) for i, c in enumerate(columns)},
        }
    )
    del table, items
    con.register("graph_sketch_rows", frame)
    try:
        con.execute(
            f"INSERT INTO {SKETCHES_TABLE} SELECT account_id, day, buckets,"
            f" {', '.join(columns)} FROM graph_sketch_rows"
        )
    finally:
        con.unregister("graph_sketch_rows")


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
