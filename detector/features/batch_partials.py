"""Per-day partials of whole days computed in memory from their rows (polars and numpy).

The same rows as the SQL of `detector.features.volume`: per (account, day) counts, sums,
per-minute peaks, distinct hours and templates and inter-arrival gap moments; per (account,
day, kind, value) request counts; per (key, org, account, day) counts. Values are grouped by
integer codes (a categorical cast for text), groups found by sorting integer keys, and each
output row takes its text from one representative request of its group. Every value is an
exact integer except `cot_score_sum`, which follows DuckDB's
`CAST(sum(CAST(x AS DECIMAL(18, 6))) AS DOUBLE)` to the bit: each score rounded half away
from zero to micro-units, summed as integers, then divided by 10^6.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

_HOSTING = ("hosting", "vpn", "tor")
_MINUTE_US = 60_000_000
_HOUR_US = 3_600_000_000
_TIMESTAMP = pl.Datetime("us", "UTC")
_NO_RELEASE = np.iinfo(np.int64).min

# kind of `account_day_attributes` -> the request column its values come from (hour, template
# and cot rows come from the account-day groups)
_VALUE_COLUMNS = (
    ("ip", "client_ip"),
    ("prefix", "ip_prefix"),
    ("asn", "asn"),
    ("user_agent", "user_agent"),
    ("model", "model"),
    ("system_fp", "system_fp"),
    ("capability", "capability"),
)
_TEXT_COLUMNS = (
    "account_id", "template_fp", "system_fp", "capability", "api_key_id", "org_id", "client_ip",
    "ip_prefix", "user_agent", "model",
)
# per-request integers summed into both the account and the key partials
_KEY_SUMS = ("input_tokens", "output_tokens", "errors", "rate_limited", "hosting_requests")
_ACCOUNT_SUMS = (*_KEY_SUMS, "pivot_requests", "tool_requests", "system_requests")


# columns of `account_day_attributes`
ATTRIBUTE_SCHEMA = {
    "account_id": pl.String, "day": pl.Date, "kind": pl.String, "value": pl.String,
    "requests": pl.Int64,
}


@dataclass(frozen=True)
class DayPartials:
    """The three partial tables of some whole days, columns in table order."""

    account_days: pl.DataFrame
    attributes: pl.DataFrame
    key_days: pl.DataFrame


@dataclass(frozen=True)
class _Groups:
    """Rows sorted by an integer key: the sort order and where each group starts and ends."""

    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return self.ends - self.starts

    @property
    def first_rows(self) -> np.ndarray:
        """One row of each group (the earliest when sorted by time too)."""
        return self.order[self.starts]

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Exact per-group sums of an integer or boolean column."""
        return np.add.reduceat(values.astype(np.int64)[self.order], self.starts)


def day_partials(
    rows: pl.DataFrame,
    new_models: dict[str, datetime],
    window: timedelta,
    cot_threshold: float,
) -> DayPartials:
    """The partials of `rows`: every request of their days (request_features columns plus the
    request columns of `volume.DAY_REQUEST_COLUMNS`).

    `new_models` maps the models released while the store watched (first seen at or after the
    new-model threshold) to their first appearance; a request to one within `window` of it is
    a pivot request.
    """
    if rows.height == 0:
        raise ValueError("no rows: the partials of a day come from its requests")
    micros = rows.get_column("timestamp").dt.epoch("us").to_numpy()
    sums = _request_sums(rows, micros, new_models, window)
    # text as categoricals: coded once, and gathered into the output rows as integers
    rows = rows.with_columns(pl.col(_TEXT_COLUMNS).cast(pl.Categorical))
    day = rows.get_column("day").to_physical().cast(pl.Int64).to_numpy()
    account = _codes(rows.get_column("account_id"))
    span = int(day.max() - day.min()) + 1
    _, account_day = np.unique(account * span + (day - day.min()), return_inverse=True)
    account_day = account_day.reshape(-1)
    by_day = _groups(account_day, micros)
    template_codes = _codes(rows.get_column("template_fp"))
    templates = _groups(_pair(account_day, template_codes))
    account_days = _account_days(rows, by_day, account_day, micros, sums, templates)
    attributes = _attributes(
        rows, by_day, account_day, micros, templates, template_codes, cot_threshold
    )
    key_days = _key_days(rows, account_day, micros, sums)
    return DayPartials(account_days, attributes, key_days)


def _codes(column: pl.Series) -> np.ndarray:
    """Integer codes in [0, len) of a column's values (equal values, equal codes); -1 for NULL.

    Text is coded by a categorical cast, integers by their offset from the least value.
    """
    if column.dtype == pl.String:
        column = column.cast(pl.Categorical)
    if column.dtype == pl.Categorical:
        column = column.to_physical()
    low, high = column.min(), column.max()
    if not isinstance(low, int) or not isinstance(high, int):
        return np.full(len(column), -1, dtype=np.int64)  # all NULL
    if high - low < len(column):
        return (column.cast(pl.Int64) - low).fill_null(-1).to_numpy()  # a dense enough range
    # sparse values (categorical codes are indices into categories shared by the process)
    return (column.rank("dense").cast(pl.Int64) - 1).fill_null(-1).to_numpy()


def _pair(ids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One integer per (id, code) pair, ids and codes (or -1) being below the row count."""
    return ids * (len(ids) + 1) + codes + 1


def _starts(sorted_key: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])


def _groups(key: np.ndarray, micros: np.ndarray | None = None) -> _Groups:
    """Groups of equal non-negative `key`, rows in time order within a group when `micros` is
    given (one sort of a combined key when it fits in 63 bits)."""
    if micros is None:
        order = np.argsort(key)
    else:
        offset = micros - micros.min()
        span = int(offset.max()) + 1
        if (int(key.max()) + 1) * span < 1 << 62:
            order = np.argsort(key * span + offset)
        else:
            order = np.argsort(micros, kind="stable")
            order = order[np.argsort(key[order], kind="stable")]
    starts = _starts(key[order])
    return _Groups(order, starts, np.r_[starts[1:], len(order)])


def _pair_counts(
    ids: np.ndarray, codes: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requests per (id, code) pair present, codes >= 0 below len(ids): the ids, the codes
    and their counts, sorted by id then code."""
    cardinality = int(codes.max()) + 1
    if groups * cardinality <= 4 * len(ids) + 65_536:  # few values: count into a dense grid
        counts = np.bincount(ids * cardinality + codes, minlength=groups * cardinality)
        pairs = np.flatnonzero(counts)
        return pairs // cardinality, pairs % cardinality, counts[pairs]
    pairs = np.sort(ids * cardinality + codes)
    starts = _starts(pairs)
    return (
        pairs[starts] // cardinality,
        pairs[starts] % cardinality,
        np.diff(np.r_[starts, len(pairs)]),
    )


def _code_rows(codes: np.ndarray) -> np.ndarray:
    """A row holding each code, for the codes present (>= 0)."""
    present = np.flatnonzero(codes >= 0)
    rows = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    rows[codes[present]] = present
    return rows


def _request_sums(
    rows: pl.DataFrame, micros: np.ndarray, new_models: dict[str, datetime], window: timedelta
) -> dict[str, np.ndarray]:
    """Per-request integers and flags that the partials sum."""
    status = pl.col("status_code")
    flags = rows.select(
        pl.col("input_tokens").fill_null(0).cast(pl.Int64),
        pl.col("output_tokens").fill_null(0).cast(pl.Int64),
        ((status >= 400) & (status != 429)).fill_null(False).alias("errors"),
        (status == 429).fill_null(False).alias("rate_limited"),
        pl.col("network_class").is_in(_HOSTING).fill_null(False).alias("hosting_requests"),
        pl.col("has_tools").fill_null(False).alias("tool_requests"),
        pl.col("system_fp").is_not_null().alias("system_requests"),
        (pl.col("cot_score") * 1e6)
        .round(0, mode="half_away_from_zero")
        .fill_null(0)
        .cast(pl.Int64)
        .alias("cot_micros"),
    )
    sums = {name: flags.get_column(name).to_numpy() for name in flags.columns}
    sums["pivot_requests"] = np.zeros(rows.height, dtype=bool)
    if new_models:
        first = (
            rows.get_column("model")
            .replace_strict(new_models, default=None, return_dtype=_TIMESTAMP)
            .dt.epoch("us")
            .fill_null(_NO_RELEASE)
            .to_numpy()
        )
        window_us = window // timedelta(microseconds=1)
        sums["pivot_requests"] = (first != _NO_RELEASE) & (micros < first + window_us)
    return sums


def _account_days(
    rows: pl.DataFrame,
    by_day: _Groups,
    account_day: np.ndarray,
    micros: np.ndarray,
    sums: dict[str, np.ndarray],
    templates: _Groups,
) -> pl.DataFrame:
    """One row per (account, day), columns as `account_daily_features`."""
    times = micros[by_day.order]
    first, last = times[by_day.starts], times[by_day.ends - 1]
    # inter-arrival gaps in time order within each day (0 at its first request); a gap is
    # below 2^37 us, so the squares are summed exactly in three 64-bit parts
    gaps = np.diff(times, prepend=times[0])
    gaps[by_day.starts] = 0
    high, low = gaps >> 20, gaps & ((1 << 20) - 1)
    parts = pl.DataFrame(
        {
            f"s{i}": np.add.reduceat(part, by_day.starts)
            for i, part in enumerate((high * high, 2 * high * low, low * low))
        }
    )
    sumsq = parts.select(
        pl.col("s0").cast(pl.Int128) * pl.lit(1 << 40, pl.Int128)
         + pl.col("s1").cast(pl.Int128) * pl.lit(1 << 20, pl.Int128)
         + pl.col("s2").cast(pl.Int128)
    ).to_series()
    ids = account_day[by_day.order]
    minutes = _runs(ids, times // _MINUTE_US)
    hours = _runs(ids, times // _HOUR_US)
    groups = len(by_day.starts)
    # templates per account-day (NULL a template of its own, as in the SQL's GROUP BY)
    template_ids = account_day[templates.first_rows]
    template_starts = _starts(template_ids)
    reps = by_day.first_rows
    return pl.DataFrame(
        {
            "account_id": rows.get_column("account_id").gather(reps),
            "day": rows.get_column("day").gather(reps),
            "requests": by_day.counts.astype(np.int64),
            **{name: by_day.sums(sums[name]) for name in _ACCOUNT_SUMS},
            "cot_score_sum": by_day.sums(sums["cot_micros"]) / 1e6,
            "active_hours": np.bincount(hours.ids, minlength=groups).astype(np.int32),
            "active_minutes": np.bincount(minutes.ids, minlength=groups).astype(np.int32),
            "peak_per_minute": np.maximum.reduceat(minutes.lengths, _starts(minutes.ids)).astype(
                np.int32
            ),
            "distinct_templates": np.diff(np.r_[template_starts, len(template_ids)]).astype(
                np.int32
            ),
            "top_template_requests": np.maximum.reduceat(templates.counts, template_starts).astype(
                np.int64
            ),
            "gap_count": (by_day.counts - 1).astype(np.int64),
            "gap_sum_us": pl.Series(last - first).cast(pl.Decimal(38, 0)),
            "gap_sumsq_us2": sumsq.cast(pl.Decimal(38, 0)),
            "first_seen": pl.Series(first).cast(_TIMESTAMP),
            "last_seen": pl.Series(last).cast(_TIMESTAMP),
        }
    )


@dataclass(frozen=True)
class _Runs:
    ids: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray


def _runs(sorted_ids: np.ndarray, values: np.ndarray) -> _Runs:
    """Runs of equal (id, value) in rows sorted by id then value."""
    starts = np.flatnonzero(
        np.r_[True, (sorted_ids[1:] != sorted_ids[:-1]) | (values[1:] != values[:-1])]
    )
    return _Runs(sorted_ids[starts], np.diff(np.r_[starts, len(values)]), starts)


def _attributes(
    rows: pl.DataFrame,
    by_day: _Groups,
    account_day: np.ndarray,
    micros: np.ndarray,
    templates: _Groups,
    template_codes: np.ndarray,
    cot_threshold: float,
) -> pl.DataFrame:
    """One row per (account, day, kind, value) with its requests, as `account_day_attributes`."""
    parts: list[pl.DataFrame] = []

    def add(kind: str, reps: np.ndarray, values: pl.Series, requests: np.ndarray) -> None:
        parts.append(
            pl.DataFrame(
                {
                    "account_id": rows.get_column("account_id").gather(reps),
                    "day": rows.get_column("day").gather(reps),
                    "kind": _repeat(kind, len(reps)),
                    "value": values.cast(pl.String).cast(pl.Categorical)
                    if values.dtype != pl.Categorical
                    else values,
                    "requests": requests.astype(np.int64),
                }
            )
        )

    day_rows = by_day.first_rows  # a request of each account-day (dense ids, in order)
    for kind, name in _VALUE_COLUMNS:
        column = rows.get_column(name)
        if kind == "capability":
            column = column.fill_null("other")
        codes = _codes(column)
        present = codes >= 0
        if not present.any():
            continue
        ids, values, counts = _pair_counts(account_day[present], codes[present], len(day_rows))
        value_rows = _code_rows(codes)
        add(kind, day_rows[ids], column.gather(value_rows[values]), counts)
    # hours: runs of one hour within a day's requests in time order
    times = micros[by_day.order]
    hours = _runs(account_day[by_day.order], times // _HOUR_US)
    hour_of_day = pl.Series((times[hours.starts] // _HOUR_US) % 24).cast(pl.String).str.zfill(2)
    add("hour", by_day.order[hours.starts], hour_of_day, hours.lengths)
    named = template_codes[templates.first_rows] >= 0
    reps = templates.first_rows[named]
    add("template", reps, rows.get_column("template_fp").gather(reps), templates.counts[named])
    elicited = (rows.get_column("cot_score") >= cot_threshold).fill_null(False).to_numpy()
    counts = np.bincount(account_day[elicited], minlength=len(by_day.starts))
    with_cot = np.flatnonzero(counts)
    # account-day ids are dense in the order of their sorted keys, as the groups of `by_day`
    reps = by_day.first_rows[with_cot]
    add("cot", reps, _repeat("elicited", len(reps)), counts[with_cot])
    return pl.concat(parts)


def _repeat(text: str, times: int) -> pl.Series:
    return pl.Series([text], dtype=pl.Categorical).gather(np.zeros(times, dtype=np.int64))


def _key_days(
    rows: pl.DataFrame, account_day: np.ndarray, micros: np.ndarray, sums: dict[str, np.ndarray]
) -> pl.DataFrame:
    """One row per (API key, org, account, day), columns as `key_daily_features`."""
    _, key_ids = np.unique(
        _pair(account_day, _codes(rows.get_column("api_key_id"))),
        return_inverse=True,
    )
    groups = _groups(
        _pair(key_ids.reshape(-1), _codes(rows.get_column("org_id"))), micros
    )
    reps = groups.first_rows
    times = micros[groups.order]
    return pl.DataFrame(
        {
            "api_key_id": rows.get_column("api_key_id").gather(reps),
            "org_id": rows.get_column("org_id").gather(reps),
            "account_id": rows.get_column("account_id").gather(reps),
            "day": rows.get_column("day").gather(reps),
            "requests": groups.counts.astype(np.int64),
            **{name: groups.sums(sums[name]) for name in _KEY_SUMS},
            "first_seen": pl.Series(times[groups.starts]).cast(_TIMESTAMP),
            "last_seen": pl.Series(times[groups.ends - 1]).cast(_TIMESTAMP),
        }
    )
