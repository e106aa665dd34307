"""Query-volume partials per (account, UTC day), recomputed only for the days new requests touch.

The partials are aggregated in memory (`detector.features.batch_partials`) from every request of
the days: read from `request_features` joined to `requests`, or, for days that had no features
before, taken from the featurizing batch's own rows, which carry the request columns (no second
read of `requests` and no join). Only the aggregates are written: counts, tokens, status codes,
per-minute peaks, hour histogram, within-day inter-arrival gap moments and the distinct
infrastructure values an account used each day, its requests per capability and its
CoT-eliciting requests (`account_day_attributes`). The all-time tables are updated from these
partials through running totals (`detector.features.totals`, `detector.features.accounts`).

Model pivot: a model is *new* when it first appeared in the store at least 48 h after the store's
first request (models present from the start are not releases we saw happen); a request is a
pivot request when it goes to a new model within 48 h of that model's first appearance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pyarrow as pa

from detector.features.batch_partials import ATTRIBUTE_SCHEMA, DayPartials, day_partials
from detector.features.cot import COT_SHARE_THRESHOLD
from detector.features.totals import apply_day_delta, apply_new_days

PIVOT_WINDOW = timedelta(hours=48)

# The columns the partials take from `requests`; a batch of new days reads them with its prompts.
DAY_REQUEST_COLUMNS = (
    "api_key_id", "org_id", "input_tokens", "output_tokens", "status_code",
    "client_ip", "ip_prefix", "asn", "user_agent", "network_class", "model",
)

# Every request of the days in `_dg_days`: the request_features columns the partials read,
# joined back to the request columns (DAY_REQUEST_COLUMNS).
_DAY_ROWS = """
SELECT f.account_id, f.day, f."timestamp", f.template_fp, f.system_fp, f.has_tools, f.cot_score,
       f.capability, {columns}
FROM request_features f
JOIN _dg_days d ON f.day = d.day
JOIN requests r ON r.request_id = f.request_id AND r."timestamp" >= $low AND r."timestamp" < $high
""".format(columns=", ".join(f"r.{name}" for name in DAY_REQUEST_COLUMNS))

_PARTIAL_TABLES = ("account_daily_features", "account_day_attributes", "key_daily_features")


def refresh_model_first_seen(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Update `model_first_seen` from `requests`; return days whose pivot counts may change.

    A model whose first appearance moved (late data) changes pivot flags in its old and new
    48-hour windows; a moved store start changes which models count as new, so every day.
    """
    old_start = _store_start(con, "model_first_seen")
    old = dict(con.execute("SELECT model, first_seen FROM model_first_seen").fetchall())
    fresh = dict(
        con.execute('SELECT model, min("timestamp") FROM requests GROUP BY model').fetchall()
    )
    con.execute("DELETE FROM model_first_seen")
    if fresh:  # a handful of models: reuse the one scan of `requests` above
        con.executemany("INSERT INTO model_first_seen VALUES (?, ?)", list(fresh.items()))
    if old_start is not None and old_start != _store_start(con, "model_first_seen"):
        return [
            row[0] for row in con.execute("SELECT DISTINCT day FROM request_features").fetchall()
        ]
    windows = [
        first
        for model, old_first in old.items()
        if fresh.get(model) != old_first
        for first in (old_first, fresh.get(model))
        if first is not None
    ]
    days: set[date] = set()
    for first in windows:
        start = first.astimezone(UTC).date()
        days.update(start + timedelta(days=offset) for offset in range(PIVOT_WINDOW.days + 1))
    return sorted(days)


def new_model_threshold(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Models first seen at or after this instant are releases the store saw happen."""
    start = _store_start(con, "model_first_seen")
    return None if start is None else start + PIVOT_WINDOW


def recompute_day_partials(con: duckdb.DuckDBPyConnection, days: list[date]) -> int:
    """Rewrite the per-day partial tables for `days`; return the number of rows read.

    Reads the days' requests from `request_features` joined to `requests`, aggregates them in
    memory as `write_new_day_partials` does, and merges the change of their attribute rows
    into the running totals. Call inside a transaction; the caller keeps `days` to a size
    whose rows fit in memory.
    """
    if not days:
        return 0
    _register_days(con, days)
    low = datetime.combine(min(days), datetime.min.time(), tzinfo=UTC)
    high = datetime.combine(max(days) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    frame = pl.DataFrame(
        pl.from_arrow(con.sql(_DAY_ROWS, params={"low": low, "high": high}).to_arrow_table())
    )
    # the old rows of these days, for the running totals and the queue of accounts to refresh
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dg_old_attributes AS SELECT * FROM account_day_attributes"
        " WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dg_days)",
        {"first": min(days), "last": max(days)},
    )
    con.execute(
        "INSERT INTO feature_dirty_accounts SELECT DISTINCT account_id FROM account_daily_features"
        " WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dg_days)",
        {"first": min(days), "last": max(days)},
    )
    for table in _PARTIAL_TABLES:
        con.execute(f"DELETE FROM {table} WHERE day IN (SELECT day FROM _dg_days)")
    old = con.execute("SELECT count(*) FROM _dg_old_attributes").fetchall()[0][0]
    attributes = pl.DataFrame(schema=ATTRIBUTE_SCHEMA)
    if frame.height:
        partials = day_partials(frame, _new_models(con), PIVOT_WINDOW, COT_SHARE_THRESHOLD)
        _insert_partials(con, partials)
        attributes = partials.attributes
    con.register("_dg_new_attributes", attributes)
    try:
        apply_day_delta(con, new_days=old == 0, one_day=len(days) == 1)
    finally:
        con.unregister("_dg_new_attributes")
    for table in ("_dg_days", "_dg_old_attributes"):
        con.execute(f"DROP TABLE {table}")
    return frame.height


def write_new_day_partials(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame | pa.Table, days: list[date]
) -> int:
    """Write the partials of `days`, which had no featurized request before, from their rows.

    `rows` holds every request of those days now being featurized: the `request_features`
    columns plus DAY_REQUEST_COLUMNS. Gives the same partials as `recompute_day_partials`
    once the rows are in `request_features`, without reading them back or joining `requests`:
    they are aggregated in memory (`detector.features.batch_partials`) and only the
    aggregates are inserted. `model_first_seen` must be up to date. Call inside the
    transaction that inserts the rows (or after it committed, with the days queued as dirty).
    """
    if not days:
        return 0
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(pl.from_arrow(rows))
    _register_days(con, days)
    for table in _PARTIAL_TABLES:  # nothing to delete for new days, unless the store is odd
        con.execute(f"DELETE FROM {table} WHERE day IN (SELECT day FROM _dg_days)")
    con.execute("DROP TABLE _dg_days")
    if frame.height:
        partials = day_partials(frame, _new_models(con), PIVOT_WINDOW, COT_SHARE_THRESHOLD)
        _insert_partials(con, partials)
    # The merge into the running totals costs a pass over them: it is done for many new days
    # at once (`merge_new_days`), the days are queued until then.
    con.executemany("INSERT INTO feature_unmerged_days VALUES (?)", [[day] for day in days])
    return frame.height


def merge_new_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    """Merge the attribute rows of `days` (queued by `write_new_day_partials`) into the totals.

    Call inside a transaction, before any of these days is recomputed.
    """
    if not days:
        return
    _register_days(con, days)
    apply_new_days(con, min(days), max(days))
    con.execute("DELETE FROM feature_unmerged_days WHERE day IN (SELECT day FROM _dg_days)")
    con.execute("DROP TABLE _dg_days")


def _new_models(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """Models first seen at or after the new-model threshold, with their first appearance."""
    threshold = new_model_threshold(con)
    if threshold is None:
        return {}
    rows = con.execute(
        "SELECT model, first_seen FROM model_first_seen WHERE first_seen >= ?", [threshold]
    ).fetchall()
    return {model: first for model, first in rows}


def _insert_partials(con: duckdb.DuckDBPyConnection, partials: DayPartials) -> None:
    """Insert computed partials and queue their accounts for the all-time update."""
    frames = (
        ("account_daily_features", partials.account_days),
        ("account_day_attributes", partials.attributes),
        ("key_daily_features", partials.key_days),
    )
    for table, frame in frames:
        con.register("_dg_partial_rows", frame)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM _dg_partial_rows")
        finally:
            con.unregister("_dg_partial_rows")
    accounts = partials.account_days.select("account_id").unique()
    con.register("_dg_partial_accounts", accounts)
    try:
        con.execute("INSERT INTO feature_dirty_accounts SELECT account_id FROM _dg_partial_accounts")
    finally:
        con.unregister("_dg_partial_accounts")


def _register_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_days (day DATE)")
    con.executemany("INSERT INTO _dg_days VALUES (?)", [[day] for day in days])


def _store_start(con: duckdb.DuckDBPyConnection, table: str) -> datetime | None:
    row = con.execute(f"SELECT min(first_seen) FROM {table}").fetchall()[0]
    return row[0] if row else None
