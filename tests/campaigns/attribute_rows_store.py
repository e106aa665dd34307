"""A store holding attribute day rows and their running totals, for the campaign tests."""

from datetime import date

import duckdb


def attribute_store(rows: list[tuple[str, date, str, str, int]]) -> duckdb.DuckDBPyConnection:
    """`account_day_attributes` with `rows`, and `account_value_totals` by their definition:
    per account, kind and value, requests and days summed."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE account_day_attributes (account_id VARCHAR, day DATE, kind VARCHAR,"
        " value VARCHAR, requests BIGINT)"
    )
    con.executemany("INSERT INTO account_day_attributes VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE account_value_totals AS SELECT account_id, kind, value,"
        " CAST(sum(requests) AS BIGINT) AS requests, CAST(count(*) AS BIGINT) AS days"
        " FROM account_day_attributes GROUP BY ALL"
    )
    return con
