"""The in-memory partials equal, to the bit, the SQL that defined them (kept here as the oracle).

The SQL below is the definition the partials had when DuckDB computed them (session 7). Random
frames hit the edge cases: NULL values in every nullable column, requests at the same instant,
gaps near a whole day, cot scores on rounding ties at the sixth decimal, a model released
inside the frame, several days and accounts spread over them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from detector.features.batch_partials import day_partials
from detector.features.tables import FEATURE_TABLES

WINDOW = timedelta(hours=48)
THRESHOLD = 0.5
T0 = datetime(2026, 3, 2, tzinfo=UTC)
NEW_AFTER = T0 + timedelta(hours=20)

_ROWS = """
CREATE OR REPLACE TEMP TABLE day_rows AS
SELECT f.account_id, f.day, f."timestamp" AS ts, f.template_fp, f.system_fp, f.has_tools, f.cot_score,
       f.capability, f.api_key_id, f.org_id, f.input_tokens, f.output_tokens, f.status_code,
       f.client_ip, f.ip_prefix, f.asn, f.user_agent, f.network_class, f.model,
       hour(timezone('UTC', f."timestamp")) AS hour_of_day,
       date_trunc('minute', timezone('UTC', f."timestamp")) AS minute,
       coalesce(m.first_seen >= $new_after AND f."timestamp" < m.first_seen + $window, false) AS is_pivot
FROM batch f LEFT JOIN model_first_seen m ON m.model = f.model
"""

_ACCOUNT_DAYS = """
WITH per_minute AS (
    SELECT account_id, day, minute, count(*) AS n FROM day_rows GROUP BY ALL
), minutes AS (
    SELECT account_id, day, count(*) AS active_minutes, max(n) AS peak_per_minute FROM per_minute GROUP BY ALL
), per_template AS (
    SELECT account_id, day, template_fp, count(*) AS n FROM day_rows GROUP BY ALL
), day_templates AS (
    SELECT account_id, day, count(*) AS distinct_templates, max(n) AS top_template_requests
    FROM per_template GROUP BY ALL
), gaps AS (
    SELECT account_id, day,
           CAST(epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY account_id, day ORDER BY ts) AS HUGEINT) AS gap
    FROM day_rows
), gap_moments AS (
    SELECT account_id, day, count(gap) AS gap_count,
           coalesce(sum(gap), 0) AS gap_sum_us, coalesce(sum(gap * gap), 0) AS gap_sumsq_us2
    FROM gaps GROUP BY ALL
), base AS (
    SELECT account_id, day, count(*) AS requests,
           coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
           count(*) FILTER (WHERE status_code >= 400 AND status_code <> 429) AS errors,
           count(*) FILTER (WHERE status_code = 429) AS rate_limited,
           count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')) AS hosting_requests,
           count(*) FILTER (WHERE is_pivot) AS pivot_requests,
           count(*) FILTER (WHERE has_tools) AS tool_requests,
           count(*) FILTER (WHERE system_fp IS NOT NULL) AS system_requests,
           CAST(coalesce(sum(CAST(cot_score AS DECIMAL(18, 6))), 0) AS DOUBLE) AS cot_score_sum,
           count(DISTINCT hour_of_day) AS active_hours, min(ts) AS first_seen, max(ts) AS last_seen
    FROM day_rows GROUP BY ALL
)
SELECT b.account_id, b.day, b.requests, b.input_tokens, b.output_tokens, b.errors, b.rate_limited,
       b.hosting_requests, b.pivot_requests, b.tool_requests, b.system_requests, b.cot_score_sum,
       b.active_hours, m.active_minutes, m.peak_per_minute, t.distinct_templates,
       t.top_template_requests, g.gap_count, g.gap_sum_us, g.gap_sumsq_us2, b.first_seen, b.last_seen
FROM base b JOIN minutes m USING (account_id, day) JOIN day_templates t USING (account_id, day)
JOIN gap_moments g USING (account_id, day)
"""

_ATTRIBUTES = """
SELECT account_id, day, 'ip' AS kind, client_ip AS value, count(*) AS requests FROM day_rows WHERE client_ip IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'prefix', ip_prefix, count(*) FROM day_rows WHERE ip_prefix IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'asn', CAST(asn AS VARCHAR), count(*) FROM day_rows WHERE asn IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'user_agent', user_agent, count(*) FROM day_rows WHERE user_agent IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'model', model, count(*) FROM day_rows GROUP BY ALL
UNION ALL SELECT account_id, day, 'hour', lpad(CAST(hour_of_day AS VARCHAR), 2, '0'), count(*) FROM day_rows GROUP BY ALL
UNION ALL SELECT account_id, day, 'template', template_fp, count(*) FROM day_rows WHERE template_fp IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'system_fp', system_fp, count(*) FROM day_rows WHERE system_fp IS NOT NULL GROUP BY ALL
UNION ALL SELECT account_id, day, 'capability', coalesce(capability, 'other'), count(*) FROM day_rows GROUP BY ALL
UNION ALL SELECT account_id, day, 'cot', 'elicited', count(*) FROM day_rows WHERE cot_score >= $cot_threshold GROUP BY ALL
"""

_KEY_DAYS = """
SELECT api_key_id, org_id, account_id, day, count(*),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       count(*) FILTER (WHERE status_code >= 400 AND status_code <> 429),
       count(*) FILTER (WHERE status_code = 429),
       count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')),
       min(ts), max(ts)
FROM day_rows GROUP BY ALL
"""


def maybe(rng: random.Random, value: Any, null_share: float = 0.15) -> Any:
    return None if rng.random() < null_share else value


def random_batch(seed: int, requests: int) -> pl.DataFrame:
    """Requests of 25 accounts over three UTC days, with NULLs, ties and rounding edge cases."""
    rng = random.Random(seed)
    rows = []
    moments = [T0 + timedelta(microseconds=rng.randrange(3 * 86_400_000_000)) for _ in range(requests)]
    for index, moment in enumerate(moments):
        if index and rng.random() < 0.1:  # same instant as an earlier request
            moment = moments[rng.randrange(index)]
        if rng.random() < 0.02:  # the edges of a day: gaps of almost 24 hours
            moment = moment.replace(hour=rng.choice((0, 23)), minute=rng.choice((0, 59)))
        account = rng.randrange(25)
        cot = rng.choice((rng.random(), (rng.randrange(10**6) + 0.5) / 1e6, 0.5, 0.4999995, 0.0))
        rows.append(
            {
                "account_id": f"acct{account:02d}",
                "day": moment.date(),
                "timestamp": moment,
                "template_fp": maybe(rng, f"{rng.randrange(12):016x}"),
                "system_fp": maybe(rng, f"{rng.randrange(3):016x}", 0.5),
                "has_tools": rng.random() < 0.3,
                "cot_score": maybe(rng, cot, 0.05),
                "capability": maybe(rng, rng.choice(("agentic_coding", "math_reasoning", "other"))),
                "api_key_id": maybe(rng, f"key{account % 7}", 0.3),
                "org_id": maybe(rng, f"org{account % 3}", 0.3),
                "input_tokens": maybe(rng, rng.randrange(1, 5_000), 0.05),
                "output_tokens": maybe(rng, rng.randrange(1, 9_000), 0.05),
                "status_code": maybe(rng, rng.choice((200, 200, 400, 429, 500, 503)), 0.05),
                "client_ip": maybe(rng, f"203.0.113.{rng.randrange(40)}"),
                "ip_prefix": maybe(rng, f"203.0.{rng.randrange(3)}.0/24"),
                "asn": maybe(rng, rng.choice((64_500, 64_501, 4_200_000_000, 1))),
                "user_agent": maybe(rng, rng.choice(("curl/8", "python-httpx/0.27.0", "Mozilla/5.0"))),
                "network_class": maybe(rng, rng.choice(("hosting", "vpn", "tor", "residential"))),
                "model": rng.choice(("old-model", "released-model", "early-model")),
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "timestamp": pl.Datetime("us", "UTC"),
            "status_code": pl.Int32,
            "input_tokens": pl.Int64,
            "output_tokens": pl.Int64,
            "asn": pl.Int64,
        },
    )


def sql_partials(batch: pl.DataFrame) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(FEATURE_TABLES)
    con.execute(
        "INSERT INTO model_first_seen VALUES ('early-model', ?), ('released-model', ?)",
        [T0, T0 + timedelta(days=1, hours=3)],
    )
    con.register("batch", batch)
    con.execute(_ROWS, {"new_after": NEW_AFTER, "window": WINDOW})
    for table, sql in (
        ("account_daily_features", _ACCOUNT_DAYS),
        ("account_day_attributes", _ATTRIBUTES),
        ("key_daily_features", _KEY_DAYS),
    ):
        con.execute(f"INSERT INTO {table} {sql}", {"cot_threshold": THRESHOLD} if "$cot" in sql else {})
    return stored(con)


def stored(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        for table in ("account_daily_features", "account_day_attributes", "key_daily_features")
    }


def frame_partials(batch: pl.DataFrame) -> dict[str, list[tuple[Any, ...]]]:
    """The in-memory partials, through the same table types (inserted into the same schema)."""
    partials = day_partials(
        batch, {"released-model": T0 + timedelta(days=1, hours=3)}, WINDOW, THRESHOLD
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(FEATURE_TABLES)
    for table, frame in (
        ("account_daily_features", partials.account_days),
        ("account_day_attributes", partials.attributes),
        ("key_daily_features", partials.key_days),
    ):
        con.register("rows", frame)
        con.execute(f"INSERT INTO {table} SELECT * FROM rows")
        con.unregister("rows")
    return stored(con)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_in_memory_partials_equal_the_sql(seed: int) -> None:
    batch = random_batch(seed, 3_000)
    expected = sql_partials(batch)
    # the fixture exercises what it claims: pivots, ties, NULL templates, several days
    days = expected["account_daily_features"]
    assert sum(row[8] for row in days) > 0  # pivot requests
    assert len({row[1] for row in days}) == 3
    assert sum(row[2] for row in days) == 3_000
    assert frame_partials(batch) == expected


def test_a_lone_request_has_no_gaps_and_a_full_day_gap_is_exact() -> None:
    batch = random_batch(5, 40).head(1)
    late = batch.with_columns(
        pl.lit(T0.replace(hour=23, minute=59, second=59, microsecond=999_999)).alias("timestamp"),
        pl.lit(T0.date()).alias("day"),
        pl.lit("acct99").alias("account_id"),
    )
    early = late.with_columns(pl.lit(T0).alias("timestamp"))
    rows = frame_partials(pl.concat([batch, late, early]))["account_daily_features"]
    assert rows == sql_partials(pl.concat([batch, late, early]))["account_daily_features"]
    gap = 86_400_000_000 - 1
    lone, pair = sorted(rows, key=lambda row: row[0] == "acct99")
    assert lone[17:20] == (0, 0, 0)
    assert pair[17:20] == (1, gap, gap * gap)  # 7.5e21: beyond 64 bits


def test_partials_of_a_frame_with_only_null_values() -> None:
    batch = random_batch(6, 50).with_columns(
        pl.lit(None, pl.String).alias(name)
        for name in ("template_fp", "system_fp", "capability", "client_ip", "ip_prefix", "user_agent")
    ).with_columns(pl.lit(None, pl.Int64).alias("asn"), pl.lit(None, pl.Float64).alias("cot_score"))
    expected = sql_partials(batch)
    assert frame_partials(batch) == expected
    kinds = {row[2] for row in expected["account_day_attributes"]}
    assert kinds == {"model", "hour", "capability"}
