"""Query-volume partials per (account, UTC day), recomputed only for the days new requests touch.

Everything here is DuckDB SQL over `request_features` joined to `requests` (or, for days that had
no features before, over the featurizing batch's own rows, which carry the request columns: no
second read of `requests` and no join): counts, tokens,
status codes, per-minute peaks, hour histogram, within-day inter-arrival gap moments and the
distinct infrastructure values an account used each day, its requests per capability and its
CoT-eliciting requests (`account_day_attributes`). The
all-time tables are updated from these partials through running totals (`detector.features.totals`,
`detector.features.accounts`).

Model pivot: a model is *new* when it first appeared in the store at least 48 h after the store's
first request (models present from the start are not releases we saw happen); a request is a
pivot request when it goes to a new model within 48 h of that model's first appearance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pyarrow as pa

from detector.features.cot import COT_SHARE_THRESHOLD
from detector.features.totals import apply_day_delta

PIVOT_WINDOW = timedelta(hours=48)
HOSTING_CLASSES = ("hosting", "vpn", "tor")

# The columns the partials take from `requests`; a batch of new days reads them with its prompts.
DAY_REQUEST_COLUMNS = (
    "api_key_id", "org_id", "input_tokens", "output_tokens", "status_code",
    "client_ip", "ip_prefix", "asn", "user_agent", "network_class", "model",
)

# Rows of the days being recomputed: `f` has the request_features columns, the given alias the
# DAY_REQUEST_COLUMNS (the same relation when a batch carries both).
_DAY_ROWS_SELECT = """
CREATE OR REPLACE TEMP TABLE _dg_day_rows AS
SELECT f.account_id, f.day, f."timestamp" AS ts, f.template_fp, f.system_fp, f.has_tools, f.cot_score,
       f.capability, {columns},
       hour(timezone('UTC', f."timestamp")) AS hour_of_day,
       date_trunc('minute', timezone('UTC', f."timestamp")) AS minute,
       coalesce(m.first_seen >= $new_after AND f."timestamp" < m.first_seen + $window, false) AS is_pivot
"""


def _day_rows_select(alias: str) -> str:
    return _DAY_ROWS_SELECT.format(columns=", ".join(f"{alias}.{c}" for c in DAY_REQUEST_COLUMNS))


# From the store: request_features joined back to requests.
_DAY_ROWS = _day_rows_select("r") + """
FROM request_features f
JOIN _dg_days d ON f.day = d.day
JOIN requests r ON r.request_id = f.request_id AND r."timestamp" >= $low AND r."timestamp" < $high
LEFT JOIN model_first_seen m ON m.model = r.model
"""

# From a registered frame `_dg_batch_rows` holding both kinds of columns for every request of
# the days.
_BATCH_DAY_ROWS = _day_rows_select("f") + """
FROM _dg_batch_rows f
LEFT JOIN model_first_seen m ON m.model = f.model
"""

_ACCOUNT_DAYS = """
INSERT INTO account_daily_features
WITH per_minute AS (
    SELECT account_id, day, minute, count(*) AS n FROM _dg_day_rows GROUP BY ALL
), minutes AS (
    SELECT account_id, day, count(*) AS active_minutes, max(n) AS peak_per_minute
    FROM per_minute GROUP BY ALL
), per_template AS (
    SELECT account_id, day, template_fp, count(*) AS n FROM _dg_day_rows GROUP BY ALL
), day_templates AS (
    SELECT account_id, day, count(*) AS distinct_templates, max(n) AS top_template_requests
    FROM per_template GROUP BY ALL
), gaps AS (
    -- integer microseconds: sums are exact, so re-runs give identical bits
    SELECT account_id, day,
           CAST(epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY account_id, day ORDER BY ts) AS HUGEINT) AS gap
    FROM _dg_day_rows
), gap_moments AS (
    SELECT account_id, day, count(gap) AS gap_count,
           coalesce(sum(gap), 0) AS gap_sum_us, coalesce(sum(gap * gap), 0) AS gap_sumsq_us2
    FROM gaps GROUP BY ALL
), base AS (
    SELECT account_id, day,
           count(*) AS requests,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           count(*) FILTER (WHERE status_code >= 400 AND status_code <> 429) AS errors,
           count(*) FILTER (WHERE status_code = 429) AS rate_limited,
           count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')) AS hosting_requests,
           count(*) FILTER (WHERE is_pivot) AS pivot_requests,
           count(*) FILTER (WHERE has_tools) AS tool_requests,
           count(*) FILTER (WHERE system_fp IS NOT NULL) AS system_requests,
           CAST(coalesce(sum(CAST(cot_score AS DECIMAL(18, 6))), 0) AS DOUBLE) AS cot_score_sum,
           count(DISTINCT hour_of_day) AS active_hours,
           min(ts) AS first_seen, max(ts) AS last_seen
    FROM _dg_day_rows GROUP BY ALL
)
SELECT b.account_id, b.day, b.requests, b.input_tokens, b.output_tokens, b.errors, b.rate_limited,
       b.hosting_requests, b.pivot_requests, b.tool_requests, b.system_requests, b.cot_score_sum,
       b.active_hours, m.active_minutes, m.peak_per_minute, t.distinct_templates,
       t.top_template_requests, g.gap_count, g.gap_sum_us, g.gap_sumsq_us2, b.first_seen, b.last_seen
FROM base b
JOIN minutes m USING (account_id, day)
JOIN day_templates t USING (account_id, day)
JOIN gap_moments g USING (account_id, day)
"""

_ACCOUNT_DAY_ATTRIBUTES = """
CREATE OR REPLACE TEMP TABLE _dg_new_attributes AS
SELECT account_id, day, 'ip' AS kind, client_ip AS value, count(*) AS requests FROM _dg_day_rows WHERE client_ip IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'prefix', ip_prefix, count(*) FROM _dg_day_rows WHERE ip_prefix IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'asn', CAST(asn AS VARCHAR), count(*) FROM _dg_day_rows WHERE asn IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'user_agent', user_agent, count(*) FROM _dg_day_rows WHERE user_agent IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'model', model, count(*) FROM _dg_day_rows GROUP BY ALL
UNION ALL
SELECT account_id, day, 'hour', lpad(CAST(hour_of_day AS VARCHAR), 2, '0'), count(*) FROM _dg_day_rows GROUP BY ALL
UNION ALL
SELECT account_id, day, 'template', template_fp, count(*) FROM _dg_day_rows WHERE template_fp IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'system_fp', system_fp, count(*) FROM _dg_day_rows WHERE system_fp IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'capability', coalesce(capability, 'other'), count(*) FROM _dg_day_rows GROUP BY ALL
UNION ALL
SELECT account_id, day, 'cot', 'elicited', count(*) FROM _dg_day_rows WHERE cot_score >= $cot_threshold GROUP BY ALL
"""

_KEY_DAYS = """
INSERT INTO key_daily_features
SELECT api_key_id, org_id, account_id, day, count(*),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       count(*) FILTER (WHERE status_code >= 400 AND status_code <> 429),
       count(*) FILTER (WHERE status_code = 429),
       count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')),
       min(ts), max(ts)
FROM _dg_day_rows GROUP BY ALL
"""

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

    Call inside a transaction; the caller keeps `days` to a size whose rows fit in memory.
    """
    if not days:
        return 0
    _register_days(con, days)
    low = datetime.combine(min(days), datetime.min.time(), tzinfo=UTC)
    high = datetime.combine(max(days) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    con.execute(
        _DAY_ROWS,
        {"new_after": new_model_threshold(con), "window": PIVOT_WINDOW, "low": low, "high": high},
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
    return _write_partials(con, new_days=old == 0, one_day=len(days) == 1)


def write_new_day_partials(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame | pa.Table, days: list[date]
) -> int:
    """Write the partials of `days`, which had no featurized request before, from their rows.

    `rows` holds every request of those days now being featurized: the `request_features`
    columns plus DAY_REQUEST_COLUMNS. Gives the same partials as `recompute_day_partials`
    once the rows are in `request_features`, without reading them back or joining `requests`.
    `model_first_seen` must be up to date. Call inside the transaction that inserts the rows.
    """
    if not days:
        return 0
    _register_days(con, days)
    for table in _PARTIAL_TABLES:  # nothing to delete for new days, unless the store is odd
        con.execute(f"DELETE FROM {table} WHERE day IN (SELECT day FROM _dg_days)")
    con.register("_dg_batch_rows", rows)
    try:
        con.execute(
            _BATCH_DAY_ROWS, {"new_after": new_model_threshold(con), "window": PIVOT_WINDOW}
        )
    finally:
        con.unregister("_dg_batch_rows")
    # The merge into the running totals costs a pass over them: it is done for many new days
    # at once (`merge_new_days`), the days are queued until then.
    con.executemany("INSERT INTO feature_unmerged_days VALUES (?)", [[day] for day in days])
    return _write_partials(con, new_days=None, one_day=len(days) == 1)


def merge_new_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    """Merge the attribute rows of `days` (queued by `write_new_day_partials`) into the totals.

    Call inside a transaction, before any of these days is recomputed.
    """
    if not days:
        return
    _register_days(con, days)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dg_new_attributes AS SELECT * FROM account_day_attributes"
        " WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dg_days)",
        {"first": min(days), "last": max(days)},
    )
    apply_day_delta(con, new_days=True, one_day=len(days) == 1)
    con.execute("DELETE FROM feature_unmerged_days WHERE day IN (SELECT day FROM _dg_days)")
    con.execute("DROP TABLE _dg_new_attributes")
    con.execute("DROP TABLE _dg_days")


def _register_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_days (day DATE)")
    con.executemany("INSERT INTO _dg_days VALUES (?)", [[day] for day in days])


def _write_partials(
    con: duckdb.DuckDBPyConnection, *, new_days: bool | None, one_day: bool
) -> int:
    """Insert the partials of the rows in `_dg_day_rows` and merge them into the running totals.

    With `new_days`, the days had no attribute rows before; with False `_dg_old_attributes`
    holds them (see `detector.features.totals.apply_day_delta`); with None the merge is left
    to `merge_new_days`.
    """
    con.execute(_ACCOUNT_DAYS)
    con.execute(_ACCOUNT_DAY_ATTRIBUTES, {"cot_threshold": COT_SHARE_THRESHOLD})
    con.execute("INSERT INTO account_day_attributes SELECT * FROM _dg_new_attributes")
    con.execute(_KEY_DAYS)
    con.execute("INSERT INTO feature_dirty_accounts SELECT DISTINCT account_id FROM _dg_day_rows")
    if new_days is not None:
        apply_day_delta(con, new_days=new_days, one_day=one_day)
    row = con.execute("SELECT count(*) FROM _dg_day_rows").fetchall()[0]
    for table in ("_dg_day_rows", "_dg_days", "_dg_new_attributes"):
        con.execute(f"DROP TABLE {table}")
    con.execute("DROP TABLE IF EXISTS _dg_old_attributes")
    return int(row[0]) if row else 0


def _store_start(con: duckdb.DuckDBPyConnection, table: str) -> datetime | None:
    row = con.execute(f"SELECT min(first_seen) FROM {table}").fetchall()[0]
    return row[0] if row else None
