"""All-time running totals kept in step with the per-day partials, so new days never re-read old ones.

`account_value_totals` holds, per (account, kind, value) of `account_day_attributes`, the sum of
requests and the number of days; `fingerprint_totals` holds, per prompt or system-prompt
fingerprint, its account reach, requests and first and last day. When the partials of some days
are rewritten (`detector.features.volume`), the difference between their new and old attribute
rows is merged into both tables in the same transaction, and the accounts of those days and
the fingerprints whose reach moved are queued in `feature_dirty_accounts` and
`feature_dirty_fingerprints` for the all-time update (`detector.features.accounts`).

A fingerprint's first and last day only ever widen: partials are rewritten when requests are
added to a day, never removed (deleting stored requests needs a rebuild: `drop_feature_tables`).
"""

from __future__ import annotations

from datetime import date

import duckdb

TOTALS_TABLES = """
CREATE TABLE IF NOT EXISTS account_value_totals (
    account_id  VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,       -- as in account_day_attributes
    value       VARCHAR NOT NULL,
    requests    BIGINT NOT NULL,        -- summed over days
    days        BIGINT NOT NULL         -- days with a row
);
CREATE TABLE IF NOT EXISTS fingerprint_totals (
    kind        VARCHAR NOT NULL,       -- template or system_fp
    value       VARCHAR NOT NULL,
    accounts    BIGINT NOT NULL,        -- accounts with a row in account_value_totals
    requests    BIGINT NOT NULL,
    first_day   DATE NOT NULL,
    last_day    DATE NOT NULL
);
-- What the all-time tables still have to absorb: accounts with rewritten days, and
-- fingerprints whose account reach changed (their accounts' sharing columns move).
CREATE TABLE IF NOT EXISTS feature_dirty_accounts (account_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS feature_dirty_fingerprints (kind VARCHAR NOT NULL, value VARCHAR NOT NULL);
-- New days whose partials are written but whose attribute rows are not yet in the totals.
CREATE TABLE IF NOT EXISTS feature_unmerged_days (day DATE NOT NULL);
"""

FINGERPRINT_KINDS = ("template", "system_fp")

# Signed attribute rows of the rewritten days: the new rows count +1 day, the old ones -1.
_ATTRIBUTE_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_attribute_delta AS
SELECT account_id, kind, value, sum(requests) AS requests, sum(days) AS days,
       min(day) FILTER (WHERE days > 0) AS first_day, max(day) FILTER (WHERE days > 0) AS last_day
FROM (
    SELECT account_id, kind, value, requests, 1 AS days, day FROM _dg_new_attributes
    UNION ALL
    SELECT account_id, kind, value, -requests, -1, day FROM _dg_old_attributes
)
GROUP BY account_id, kind, value
HAVING sum(requests) <> 0 OR sum(days) <> 0
"""

# The common case, new days only: the new rows summed over the days (no signed union).
_NEW_DAYS_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_attribute_delta AS
SELECT account_id, kind, value, sum(requests) AS requests, count(*) AS days,
       min(day) AS first_day, max(day) AS last_day
FROM _dg_new_attributes GROUP BY account_id, kind, value
"""

# One new day: its rows are already one per (account, kind, value).
_NEW_DAY_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_attribute_delta AS
SELECT account_id, kind, value, requests, 1 AS days, day AS first_day, day AS last_day
FROM _dg_new_attributes
"""

# New days only, read where they are stored (no copy): their rows summed over the days.
_STORED_DAYS_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_attribute_delta AS
SELECT account_id, kind, value, sum(requests) AS requests, count(*) AS days,
       min(day) AS first_day, max(day) AS last_day
FROM account_day_attributes
WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dg_days)
GROUP BY account_id, kind, value
"""

_STORED_DAY_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_attribute_delta AS
SELECT account_id, kind, value, requests, 1 AS days, day AS first_day, day AS last_day
FROM account_day_attributes WHERE day = $first
"""

# Into empty totals: the rows of the new days summed per (account, kind, value), then per
# fingerprint its accounts and requests from those sums and its first and last day from the
# days' fingerprint rows (a small aggregate: a few thousand fingerprints).
_INSERT_NEW_ACCOUNT_VALUES = """
INSERT INTO account_value_totals
SELECT account_id, kind, value, sum(requests), count(*)
FROM account_day_attributes
WHERE day BETWEEN $first AND $last AND day IN (SELECT day FROM _dg_days)
GROUP BY account_id, kind, value
"""

_INSERT_NEW_FINGERPRINTS = """
INSERT INTO fingerprint_totals
SELECT kind, value, t.accounts, t.requests, d.first_day, d.last_day
FROM (
    SELECT kind, value, count(*) AS accounts, sum(requests) AS requests FROM account_value_totals
    WHERE kind IN ('template', 'system_fp') GROUP BY kind, value
) t
JOIN (
    SELECT kind, value, min(day) AS first_day, max(day) AS last_day FROM account_day_attributes
    WHERE kind IN ('template', 'system_fp') AND day BETWEEN $first AND $last
      AND day IN (SELECT day FROM _dg_days)
    GROUP BY kind, value
) d USING (kind, value)
"""

# Per fingerprint: accounts that start or stop using it, and the change in requests.
_FINGERPRINT_DELTA = """
CREATE OR REPLACE TEMP TABLE _dg_fingerprint_delta AS
SELECT d.kind, d.value,
       count(*) FILTER (WHERE t.days IS NULL AND d.days > 0)
         - count(*) FILTER (WHERE t.days IS NOT NULL AND t.days + d.days = 0) AS accounts,
       sum(d.requests) AS requests, min(d.first_day) AS first_day, max(d.last_day) AS last_day
FROM (SELECT * FROM _dg_attribute_delta WHERE kind IN ('template', 'system_fp')) d
LEFT JOIN (SELECT * FROM account_value_totals WHERE kind IN ('template', 'system_fp')) t
  USING (account_id, kind, value)
GROUP BY d.kind, d.value
"""

_MERGE_ACCOUNT_VALUES = """
MERGE INTO account_value_totals t USING _dg_attribute_delta d
ON t.account_id = d.account_id AND t.kind = d.kind AND t.value = d.value
WHEN MATCHED AND t.days + d.days = 0 THEN DELETE
WHEN MATCHED THEN UPDATE SET requests = t.requests + d.requests, days = t.days + d.days
WHEN NOT MATCHED THEN INSERT VALUES (d.account_id, d.kind, d.value, d.requests, d.days)
"""

_MERGE_FINGERPRINTS = """
MERGE INTO fingerprint_totals t USING _dg_fingerprint_delta d
ON t.kind = d.kind AND t.value = d.value
WHEN MATCHED AND t.accounts + d.accounts = 0 THEN DELETE
WHEN MATCHED THEN UPDATE SET accounts = t.accounts + d.accounts, requests = t.requests + d.requests,
    first_day = coalesce(least(t.first_day, d.first_day), t.first_day),
    last_day = coalesce(greatest(t.last_day, d.last_day), t.last_day)
WHEN NOT MATCHED THEN INSERT VALUES (d.kind, d.value, d.accounts, d.requests, d.first_day, d.last_day)
"""


def ensure_totals(con: duckdb.DuckDBPyConnection) -> bool:
    """Create the totals tables; when they were missing, fill them from the partials.

    Returns True when the totals were (re)built, i.e. every account needs its all-time row.
    Call inside a transaction.
    """
    present = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_name IN ('account_value_totals', 'fingerprint_totals')"
        ).fetchall()
    }
    con.execute(TOTALS_TABLES)
    if present == {"account_value_totals", "fingerprint_totals"}:
        return False
    rebuild_totals(con)
    return True


def rebuild_totals(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the totals from every partial row and queue every account (a full rebuild)."""
    con.execute(TOTALS_TABLES)
    con.execute("DELETE FROM account_value_totals")
    con.execute(
        "INSERT INTO account_value_totals SELECT account_id, kind, value, sum(requests), count(*)"
        " FROM account_day_attributes GROUP BY account_id, kind, value"
    )
    con.execute("DELETE FROM fingerprint_totals")
    con.execute(
        "INSERT INTO fingerprint_totals SELECT kind, value, count(DISTINCT account_id), sum(requests),"
        " min(day), max(day) FROM account_day_attributes"
        " WHERE kind IN ('template', 'system_fp') GROUP BY kind, value"
    )
    con.execute("DELETE FROM feature_dirty_fingerprints")
    con.execute("DELETE FROM feature_unmerged_days")  # their rows are in the totals now
    con.execute(
        "INSERT INTO feature_dirty_accounts SELECT DISTINCT account_id FROM account_daily_features"
    )


def totals_match_day_rows(
    con: duckdb.DuckDBPyConnection, kinds: str | None = None, *, skip_blank: bool = False
) -> bool:
    """Whether `account_value_totals` accounts for every row of `account_day_attributes`: per
    kind, as many (account, value, day) rows and as many requests.

    `kinds` is an SQL list of kinds (a code constant such as "('ip', 'prefix')"), all kinds
    when None; `skip_blank` leaves out NULL and empty values on both sides.
    """
    condition = "true" if kinds is None else f"kind IN {kinds}"
    if skip_blank:
        condition += " AND value IS NOT NULL AND value <> ''"
    per_day = con.execute(
        f"SELECT kind, count(*), sum(requests) FROM account_day_attributes WHERE {condition}"
        " GROUP BY kind ORDER BY kind"
    ).fetchall()
    totals = con.execute(
        f"SELECT kind, sum(days), sum(requests) FROM account_value_totals"
        f" WHERE {condition} AND days > 0 GROUP BY kind ORDER BY kind"
    ).fetchall()
    return [(k, int(n), int(r)) for k, n, r in per_day] == [(k, int(n), int(r)) for k, n, r in totals]


def apply_new_days(con: duckdb.DuckDBPyConnection, first: date, last: date) -> None:
    """Merge the stored attribute rows of new days into the totals (none of them is in yet).

    The days are those of the temp table `_dg_days`, between `first` and `last`. Queues the
    fingerprints whose reach changed. Into empty totals (the first scan of a store) the day
    rows are summed straight into them, with no delta table, join or merge. Call inside a
    transaction.
    """
    if _totals_empty(con):
        _insert_new_days(con, first, last)
        return
    if first == last:
        con.execute(_STORED_DAY_DELTA, {"first": first})
    else:
        con.execute(_STORED_DAYS_DELTA, {"first": first, "last": last})
    _merge_delta(con, new_rows_only=True)


def apply_day_delta(con: duckdb.DuckDBPyConnection, *, new_days: bool = False, one_day: bool = False) -> None:
    """Merge the difference of `_dg_new_attributes` and `_dg_old_attributes` into the totals.

    Both temp tables hold attribute rows (account_id, day, kind, value, requests) of the days
    being rewritten, after and before. Queues the fingerprints whose reach changed. With
    `new_days` the caller knows `_dg_old_attributes` is empty, and with `one_day` that the new
    rows are of a single day, which spares grouping them.
    """
    if not new_days:
        con.execute(_ATTRIBUTE_DELTA)
    else:
        con.execute(_NEW_DAY_DELTA if one_day else _NEW_DAYS_DELTA)
    _merge_delta(con, new_rows_only=new_days)


def _merge_delta(con: duckdb.DuckDBPyConnection, *, new_rows_only: bool) -> None:
    """Merge `_dg_attribute_delta` into both totals and queue fingerprints whose reach moved."""
    con.execute(_FINGERPRINT_DELTA)
    _merge_account_values(con, new_rows_only=new_rows_only)
    con.execute(_MERGE_FINGERPRINTS)
    con.execute(
        "INSERT INTO feature_dirty_fingerprints SELECT kind, value FROM _dg_fingerprint_delta"
        " WHERE accounts <> 0"
    )
    con.execute("DROP TABLE _dg_fingerprint_delta")
    con.execute("DROP TABLE _dg_attribute_delta")


def _totals_empty(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM account_value_totals LIMIT 1))"
        " + (SELECT count(*) FROM (SELECT 1 FROM fingerprint_totals LIMIT 1))"
    ).fetchall()
    return not rows[0][0]


def _insert_new_days(con: duckdb.DuckDBPyConnection, first: date, last: date) -> None:
    """Fill empty totals from the stored attribute rows of the days of `_dg_days`, and queue
    every fingerprint (each gained its accounts): what merging them would give."""
    params = {"first": first, "last": last}
    con.execute(_INSERT_NEW_ACCOUNT_VALUES, params)
    con.execute(_INSERT_NEW_FINGERPRINTS, params)
    con.execute("INSERT INTO feature_dirty_fingerprints SELECT kind, value FROM fingerprint_totals")


def _merge_account_values(con: duckdb.DuckDBPyConnection, *, new_rows_only: bool) -> None:
    """Merge `_dg_attribute_delta` into `account_value_totals`; a plain insert when the delta
    only adds rows and the totals are empty (the first days of a store)."""
    if new_rows_only:
        present = con.execute("SELECT count(*) FROM (SELECT 1 FROM account_value_totals LIMIT 1)")
        if not present.fetchall()[0][0]:
            con.execute(
                "INSERT INTO account_value_totals"
                " SELECT account_id, kind, value, requests, days FROM _dg_attribute_delta"
            )
            return
    con.execute(_MERGE_ACCOUNT_VALUES)
