"""Per-account attribute values summed over all days, for the campaign and review stages.

The feature stage keeps `account_value_totals` (per account, kind and value: requests and the
number of days) in step with the per-day rows of `account_day_attributes`. When the two agree,
reading the totals (~5 M rows at 10 M requests) gives the same sums as grouping the ~15 M
day rows again, at a small fraction of the cost. They agree when no new day waits to be merged
and, per kind, the totals count as many day rows and requests as the day rows hold
(`detector.features.totals.totals_match_day_rows`, which the graph stage also uses); otherwise the day rows
are grouped as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from detector.campaigns.profile import table_columns, table_exists

DAY_ROWS = "account_day_attributes"
TOTALS = "account_value_totals"


def totals_match_day_rows(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `account_value_totals` holds exactly `account_day_attributes` summed over days."""
    if not (table_exists(con, DAY_ROWS) and table_exists(con, TOTALS)):
        return False
    if not {"account_id", "kind", "value", "requests", "days"} <= set(table_columns(con, TOTALS)):
        return False
    if table_exists(con, "feature_unmerged_days") and con.execute(
        "SELECT count(*) FROM feature_unmerged_days"
    ).fetchall()[0][0]:
        return False
    # imported here: `detector.features` pulls in the text stack, which importing a scan spares
    from detector.features.totals import totals_match_day_rows as per_kind_match

    return per_kind_match(con)


def _kind_list(kinds: Sequence[str]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)  # code constants, never user input


def account_values_sql(kinds: Sequence[str], *, from_totals: bool) -> str:
    """A query of (account_id, kind, value, n): requests per account and value of `kinds` (code
    constants) over all days. `n` is a HUGEINT as `sum` makes it, either way."""
    if from_totals:
        return (
            f"SELECT account_id, kind, value, CAST(requests AS HUGEINT) AS n FROM {TOTALS}"
            f" WHERE kind IN ({_kind_list(kinds)}) AND days > 0"
        )
    return (
        f"SELECT account_id, kind, value, sum(requests) AS n FROM {DAY_ROWS}"
        f" WHERE kind IN ({_kind_list(kinds)}) GROUP BY account_id, kind, value"
    )


def value_rows_sql(kinds: Sequence[str], *, from_totals: bool) -> str:
    """A query of (account_id, kind, value, requests) rows of `kinds` (code constants) whose
    sums per account and value are the all-day sums: one row each from the totals, or the
    day rows themselves (for callers that group anyway)."""
    source = f"{TOTALS} WHERE days > 0 AND" if from_totals else f"{DAY_ROWS} WHERE"
    return f"SELECT account_id, kind, value, requests FROM {source} kind IN ({_kind_list(kinds)})"


def held_values_sql(kinds: Sequence[str], *, from_totals: bool) -> str:
    """A query of the distinct (account_id, kind, value) of `kinds` (code constants)."""
    if from_totals:
        return (
            f"SELECT account_id, kind, value FROM {TOTALS}"
            f" WHERE kind IN ({_kind_list(kinds)}) AND days > 0"
        )
    return f"SELECT DISTINCT account_id, kind, value FROM {DAY_ROWS} WHERE kind IN ({_kind_list(kinds)})"


def population_sql(*, from_totals: bool) -> str:
    """A one-row query of `n`: the accounts with any attribute row."""
    source = f"{TOTALS} WHERE days > 0" if from_totals else DAY_ROWS
    return f"SELECT count(DISTINCT account_id) AS n FROM {source}"
