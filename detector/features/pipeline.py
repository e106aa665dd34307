"""The feature stage, top to bottom: featurize new requests, recompute touched days, rebuild totals.

1. Requests not yet in `request_features` (within `since`/`until`) are found per UTC day: a day
   whose request count equals its featurized count is done, others are anti-joined on
   request_id within the day. They are read in batches of whole days (big days split by a hash
   of request_id), with their prompts clipped to the windows the text features read. DuckDB
   hashes each row's texts as it reads; only the prompts come along with the rows, the few
   distinct system prompts and tool lists are read back by row number (`_read_batch`).
2. Per batch, on its distinct prompts and system prompts only (`distinct`): template and
   system-prompt fingerprints (`templates`), capability and CoT scores (`labels`, which keeps
   per-prompt evidence in `prompt_labels` so no prompt is scored twice); one transaction per
   batch, so an interrupted run resumes.
3. Per-day partials of a batch of whole days that had no features before (new days: the common
   case) are written from the batch's own rows: the batch read carries the request columns the
   partials need (`volume.DAY_REQUEST_COLUMNS`), so they are neither read again nor joined
   back. A second cursor on a background thread reads the next batch and writes these
   partials (in their own transaction, after the batch committed with its days queued) while
   the main thread does the next batch's text work (`_Background`); their attribute rows are
   merged into the running totals after the last batch, many days at once. The partials of
   other touched days (late data, big days split by hash, days whose model-pivot flags moved)
   are rewritten afterwards from `request_features` joined to `requests`, in chunks of days
   that bound memory. Touched days are recorded in `feature_dirty_days` (new days not yet
   in the totals in `feature_unmerged_days`) in the same transactions, so work cut short by a
   killed run is picked up by the next one. The general path's transactions merge the change
   of the attribute rows into the running totals (`totals`); all queue the accounts of those
   days.
4. `account_features` rows are recomputed for the queued accounts (and those whose
   fingerprints' reach changed) from the totals; `key_features`, `org_features` and
   `template_features` are rebuilt from small per-day or per-fingerprint tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import TypeVar

import duckdb
import polars as pl

from detector.features.accounts import RARE_TEMPLATE_SHARE, update_all_time
from detector.features.distinct import DistinctTexts, from_first_rows, group_rows
from detector.features.normalize import (
    TEMPLATE_HEAD_CHARS,
    TEMPLATE_TAIL_CHARS,
    masked_template_text,
)
from detector.features.tables import ensure_feature_tables
from detector.features.templates import LINK_THRESHOLD, assign_fingerprints, fingerprint_texts
from detector.features.totals import ensure_totals
from detector.features.volume import (
    DAY_REQUEST_COLUMNS,
    merge_new_days,
    recompute_day_partials,
    refresh_model_first_seen,
    write_new_day_partials,
)
from detector.store import transaction

# The capability and CoT scorers read at most this much of a prompt (their own windows).
TEXT_HEAD_CHARS = 3000
TEXT_TAIL_CHARS = 1000
_HASH_BUCKETS = 64
_log = logging.getLogger(__name__)

_Item = TypeVar("_Item")


@dataclass(frozen=True)
class FeatureConfig:
    """Sizes and thresholds of a feature run; the defaults suit millions of requests."""

    batch_rows: int = 500_000
    partial_rows: int = 2_000_000
    template_head_chars: int = TEMPLATE_HEAD_CHARS
    template_tail_chars: int = TEMPLATE_TAIL_CHARS
    link_threshold: float = LINK_THRESHOLD
    rare_template_share: float = RARE_TEMPLATE_SHARE
    # Write the partials of new days from their featurizing batch (False: always from the
    # store, the general path; both give identical tables).
    fuse_new_days: bool = True


@dataclass
class FeatureRunStats:
    """What a feature run did, with wall-clock and process CPU seconds (all threads) per phase."""

    new_requests: int = 0
    batches: int = 0
    new_templates: int = 0
    new_template_components: int = 0
    new_system_templates: int = 0
    days_recomputed: int = 0
    accounts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Batch:
    first_day: date
    last_day: date
    parts: int
    part: int
    fresh: bool = False  # whole days without any featurized request before this run


def compute_features(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: bool = False,
    config: FeatureConfig | None = None,
) -> FeatureRunStats:
    """Featurize the requests not yet featurized (in [since, until)) and refresh the totals."""
    config = config or FeatureConfig()
    stats = FeatureRunStats()
    ensure_feature_tables(con)
    with transaction(con):
        totals_built = ensure_totals(con)
    with _timed(stats, "pending"):
        day_counts, fresh_days = _pending_days(con, since, until)
        # model_first_seen is brought up to date before any partial is written (pivot flags)
        with transaction(con):
            _mark_dirty(con, refresh_model_first_seen(con))
            if totals_built:
                _mark_dirty(con, _days_without_capability_partials(con))
    stats.new_requests = sum(day_counts.values())
    batches = _plan_batches(
        day_counts, config.batch_rows, fresh_days if config.fuse_new_days else set()
    )
    stats.batches = len(batches)
    with _timed(stats, "request_features"), _Background(con, batches, (since, until), stats) as bg:
        for batch in _progress(batches, progress, "featurizing requests"):
            read = bg.next_frame()
            with transaction(con):
                fresh = _featurize_batch(con, batch, read, config, stats)
            if fresh is not None:
                bg.write_partials(*fresh)
                stats.days_recomputed += len(fresh[1])
        with _timed(stats, "partials_wait"):
            bg.finish()
    with _timed(stats, "day_partials"):
        _merge_new_days(con)
        stats.days_recomputed += _recompute_dirty_days(con, config, progress)
    stale = con.execute(
        "SELECT (SELECT count(*) FROM feature_dirty_days WHERE day IS NULL)"
        " + (SELECT count(*) FROM feature_dirty_accounts)"
    ).fetchall()
    if stale[0][0] or not _exists(con, "account_features"):
        with _timed(stats, "all_time"), transaction(con):
            stats.accounts = update_all_time(
                con, _account_capability, rare_share=config.rare_template_share
            )
            con.execute("DELETE FROM feature_dirty_days WHERE day IS NULL")
    else:
        stats.accounts = con.execute("SELECT count(*) FROM account_features").fetchall()[0][0]
    return stats


def _recompute_dirty_days(
    con: duckdb.DuckDBPyConnection, config: FeatureConfig, progress: bool
) -> int:
    """Rewrite the partials of every dirty day, chunk by chunk; return the number of days.

    Dirty days are those with requests featurized outside a fresh batch, those whose
    model-pivot flags moved, and (when the running totals were just built: a new store, or
    one written before them) those whose partials predate the capability rows.
    """
    rows = con.execute(
        "SELECT DISTINCT day FROM feature_dirty_days WHERE day IS NOT NULL ORDER BY day"
    ).fetchall()
    touched = [row[0] for row in rows]
    chunks = _chunk_days(con, touched, config.partial_rows)
    for days in _progress(chunks, progress, "daily partials"):
        with transaction(con):
            recompute_day_partials(con, days)
            _mark_dirty(con, [None])  # the all-time tables are now behind the partials
            con.execute(
                "DELETE FROM feature_dirty_days WHERE day BETWEEN ? AND ?", [days[0], days[-1]]
            )
    return len(touched)


def _merge_new_days(con: duckdb.DuckDBPyConnection) -> None:
    """Fold the queued new days' attribute rows into the running totals, all in one pass.

    One pass costs one aggregate of the days' rows and at most one merge, where chunks of
    days each merged into the growing totals; DuckDB spills the aggregate if it must.
    """
    rows = con.execute("SELECT DISTINCT day FROM feature_unmerged_days ORDER BY day").fetchall()
    if rows:
        with transaction(con):
            merge_new_days(con, [row[0] for row in rows])


def _pending_days(
    con: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None
) -> tuple[dict[date, int], set[date]]:
    """Count the requests not yet featurized per UTC day (in [since, until)); also the days
    without any featurized request (fresh).

    Days whose request count equals their featurized count are complete (features are only
    ever added for stored requests), so only the other days are anti-joined by request_id.
    """
    window = {"since": since, "until": until}
    counts = """
        WITH stored AS (
            SELECT CAST(timezone('UTC', "timestamp") AS DATE) AS day, count(*) AS n FROM requests
            WHERE ($since IS NULL OR "timestamp" >= $since) AND ($until IS NULL OR "timestamp" < $until)
            GROUP BY ALL
        ), featurized AS (
            SELECT day, count(*) AS n FROM request_features
            WHERE ($since IS NULL OR "timestamp" >= $since) AND ($until IS NULL OR "timestamp" < $until)
            GROUP BY ALL
        )
        SELECT s.day, s.n, coalesce(f.n, 0) FROM stored s LEFT JOIN featurized f USING (day)
        WHERE s.n > coalesce(f.n, 0) ORDER BY s.day
    """
    pending: dict[date, int] = {}
    fresh: set[date] = set()
    for day, stored, featurized in con.execute(counts, window).fetchall():
        if featurized == 0:
            pending[day] = int(stored)
            fresh.add(day)
            continue
        row = con.execute(
            f"SELECT count(*) FROM ({_PENDING_ROWS})",
            {**window, **_day_range(day, day), "parts": 1, "part": 0, "buckets": _HASH_BUCKETS},
        ).fetchall()
        if row[0][0]:
            pending[day] = int(row[0][0])
    return pending, fresh


def _day_range(first: date, last: date) -> dict[str, object]:
    return {
        "first_day": first,
        "last_day": last,
        "low": datetime.combine(first, clock.min, tzinfo=UTC),
        "high": datetime.combine(last + timedelta(days=1), clock.min, tzinfo=UTC),
    }


def _plan_batches(
    day_counts: dict[date, int], batch_rows: int, fresh_days: set[date]
) -> list[_Batch]:
    """Runs of consecutive small days up to `batch_rows`; a bigger day split by hash bucket.

    A run holds only days in `fresh_days` (a fresh run) or only days not in it; a split day is
    never fresh (its partials need all its parts).
    """
    batches: list[_Batch] = []
    run: list[date] = []
    run_rows = 0

    def close() -> None:
        batches.append(_Batch(run[0], run[-1], 1, 0, run[0] in fresh_days))

    for day, count in sorted(day_counts.items()):
        if count > batch_rows:
            if run:
                close()
                run, run_rows = [], 0
            parts = min(_HASH_BUCKETS, -(-count // batch_rows))
            batches.extend(_Batch(day, day, parts, part) for part in range(parts))
            continue
        if run and (run_rows + count > batch_rows or (day in fresh_days) != (run[0] in fresh_days)):
            close()
            run, run_rows = [], 0
        run.append(day)
        run_rows += count
    if run:
        close()
    return batches


# Requests of whole UTC days (or one hash part of a big day) that have no features yet; the
# anti-join reads only the same days of request_features, empty for new days.
_PENDING_ROWS = """
SELECT r.*, r.rowid AS source_row FROM requests r
WHERE r."timestamp" >= $low AND r."timestamp" < $high
  AND ($since IS NULL OR r."timestamp" >= $since) AND ($until IS NULL OR r."timestamp" < $until)
  AND ($parts = 1 OR hash(r.request_id) % $buckets % $parts = $part)
  AND NOT EXISTS (
      SELECT 1 FROM request_features f
      WHERE f.day BETWEEN $first_day AND $last_day AND f.request_id = r.request_id
  )
"""

def _clipped(column: str) -> str:
    # strlen (bytes, O(1)) bounds length (characters, a UTF-8 scan): most texts skip the scan;
    # NULL reads as the empty text, as in `distinct`
    return f"""CASE WHEN strlen(r.{column}) > $head + $tail AND length(r.{column}) > $head + $tail
        THEN left(r.{column}, $head) || chr(10) || right(r.{column}, $tail)
        ELSE coalesce(r.{column}, '') END"""


_TOOLS_TEXT = "coalesce(CAST(r.tools AS VARCHAR), '')"

# A batch's rows with a 64-bit DuckDB hash of each text they carry; of the texts only the
# clipped prompt comes along (most prompts of a batch are distinct or nearly so). The few
# distinct system prompts and tool lists are fetched by row number afterwards (`_TEXTS_AT`),
# so their bulk is neither converted to Arrow nor hashed again in Python.
_BATCH_ROWS = (
    """
SELECT *, hash(prompt) AS prompt_key FROM (
    SELECT r.source_row, r.request_id, r.account_id, r."timestamp",
           CAST(timezone('UTC', r."timestamp") AS DATE) AS day,
           """
    + _clipped("prompt")
    + """ AS prompt,
           hash("""
    + _clipped("system_prompt")
    + """) AS system_key,
           hash("""
    + _TOOLS_TEXT
    + """) AS tools_key
           {request_columns}
    FROM ("""
    + _PENDING_ROWS
    + """) r
)
"""
)
_FRESH_BATCH_ROWS = _BATCH_ROWS.replace(
    "{request_columns}", "".join(f", r.{name}" for name in DAY_REQUEST_COLUMNS)
)
_BATCH_ROWS = _BATCH_ROWS.replace("{request_columns}", "")

# The texts of given rows (DuckDB pushes the row numbers into the scan as a range filter).
_TEXTS_AT = {
    "system_prompt": "SELECT r.rowid AS source_row, hash(t) AS text_key, t AS text FROM ("
    "SELECT r.rowid, " + _clipped("system_prompt") + " AS t FROM requests r"
    " WHERE r.rowid = ANY($rows)) r",
    "tools": "SELECT r.rowid AS source_row, hash(t) AS text_key, t AS text FROM ("
    "SELECT r.rowid, " + _TOOLS_TEXT + " AS t FROM requests r WHERE r.rowid = ANY($rows)) r",
}
_EMPTY_TOOLS = ("[]", "{}", "null", "")


class _Background:
    """A second cursor on its own thread: reads the next batch and writes fresh days' partials
    while the main thread does the text work of the current batch.

    The text work is mostly single-threaded Python and numpy; DuckDB releases the GIL, so its
    reads and partial writes run on the other core meanwhile. Tasks run one at a time in the
    order submitted. A read sees committed rows only: a batch's anti-join needs the features of
    its own days (or hash part), which no earlier batch of the run writes. A fresh batch's
    partials are written in their own transaction after the batch committed (with its days
    queued as dirty): a run killed in between leaves the days queued for the general path.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        batches: Sequence[_Batch],
        window: tuple[datetime | None, datetime | None],
        stats: FeatureRunStats,
    ) -> None:
        self._batches = list(batches)
        self._window = window
        self._con = con
        self._stats = stats
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._read: Future[_BatchRows] | None = None
        self._writes: list[Future[None]] = []
        self._next = 0

    def __enter__(self) -> _Background:
        if self._batches:
            self._cursor = self._con.cursor()
            self._cursor.execute("SET TimeZone = 'UTC'")  # as `store.connect` pins the session
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dg-features")
            self._submit_read()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            if self._read is not None:
                self._read.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)  # queued writes stay dirty days
        if self._cursor is not None:
            self._cursor.close()

    def next_frame(self) -> _BatchRows:
        """The rows of the next batch (in the order given); queues the read of the one after."""
        if self._read is None:
            raise IndexError("no batch left to read")
        frame = self._read.result()
        self._read = None
        self._submit_read()
        self._check_writes()
        return frame

    def write_partials(self, rows: pl.DataFrame, days: list[date]) -> None:
        """Queue the partials of fresh `days` (committed, queued as dirty) from their rows."""
        assert self._pool is not None and self._cursor is not None
        self._writes.append(self._pool.submit(self._write, self._cursor, rows, days))

    def finish(self) -> None:
        """Wait for every queued write; raise the first failure."""
        for future in self._writes:
            future.result()
        self._writes = []

    def _check_writes(self) -> None:
        for future in [f for f in self._writes if f.done()]:
            future.result()
            self._writes.remove(future)

    def _write(
        self, cursor: duckdb.DuckDBPyConnection, rows: pl.DataFrame, days: list[date]
    ) -> None:
        started = time.perf_counter()
        try:
            with transaction(cursor):
                write_new_day_partials(cursor, rows, days)
                # written from the current model_first_seen: a pivot move queued for them is done
                cursor.execute("DELETE FROM feature_dirty_days WHERE list_contains(?, day)", [days])
                _mark_dirty(cursor, [None])
        except duckdb.TransactionException:
            # a write conflict with the main connection: the days stay queued as dirty and the
            # general path rewrites them after the batches
            _log.warning("partials of %s left to the general path after a write conflict", days)
        seconds = self._stats.seconds
        seconds["new_day_partials"] = seconds.get("new_day_partials", 0.0) + (
            time.perf_counter() - started
        )

    def _submit_read(self) -> None:
        if self._next < len(self._batches) and self._pool is not None and self._cursor is not None:
            batch = self._batches[self._next]
            self._next += 1
            self._read = self._pool.submit(_read_batch, self._cursor, batch, self._window)


@dataclass(frozen=True)
class _BatchRows:
    """A batch read: its request columns in time order, and its distinct texts."""

    frame: pl.DataFrame
    prompts: DistinctTexts
    systems: DistinctTexts
    tools: DistinctTexts


def _read_batch(
    con: duckdb.DuckDBPyConnection,
    batch: _Batch,
    window: tuple[datetime | None, datetime | None],
) -> _BatchRows:
    """The pending requests of a batch in time order (plus the request columns of the partials
    when the batch is fresh), with their distinct clipped prompts, system prompts and tools.

    Rows are grouped by DuckDB's hash of each text; only the prompts come along with the rows,
    the first row of each other distinct text is read back by its row number in the same
    snapshot, so the tool lists (about a kilobyte each) are not materialized per row.
    """
    params: dict[str, object] = {
        "head": TEXT_HEAD_CHARS,
        "tail": TEXT_TAIL_CHARS,
        "since": window[0],
        "until": window[1],
        "parts": batch.parts,
        "part": batch.part,
        "buckets": _HASH_BUCKETS,
        **_day_range(batch.first_day, batch.last_day),
    }
    with transaction(con):  # one snapshot: row numbers stay valid for the texts read after
        read = _frame(con, _FRESH_BATCH_ROWS if batch.fresh else _BATCH_ROWS, params)
        # stored in time order (zone maps keep day and time filters cheap); sorted here, on the
        # reading thread and without the prompts
        order = read.select(pl.arg_sort_by("timestamp", "request_id")).to_series().to_numpy()
        prompt_rows, prompt_index = group_rows(read.get_column("prompt_key").to_numpy()[order])
        prompts = from_first_rows(
            read.get_column("prompt").gather(order[prompt_rows]), prompt_index
        )
        frame = read.drop("prompt", "prompt_key")[order]
        systems = _texts_at(con, frame, "system_prompt", "system_key", params)
        tools = _texts_at(con, frame, "tools", "tools_key", params)
    has_tools = ~tools.values.is_in(_EMPTY_TOOLS).to_numpy()
    frame = frame.drop("source_row", "system_key", "tools_key").with_columns(
        pl.Series("has_tools", has_tools[tools.index], dtype=pl.Boolean)
    )
    return _BatchRows(frame, prompts, systems, tools)


def _texts_at(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    column: str,
    key: str,
    params: dict[str, object],
) -> DistinctTexts:
    """The distinct texts of `column` of the batch's rows, grouped by their `key` hashes."""
    first, index = group_rows(frame.get_column(key).to_numpy())
    rows = frame.get_column("source_row").gather(first)
    wanted = pl.DataFrame({"source_row": rows, "text_key": frame.get_column(key).gather(first)})
    if not first.size:
        return from_first_rows(pl.Series(column, [], dtype=pl.String), index)
    clip = {"head": params["head"], "tail": params["tail"]} if column == "system_prompt" else {}
    texts = _frame(con, _TEXTS_AT[column], {"rows": rows.to_list(), **clip})
    found = wanted.join(texts, on="source_row", how="left", maintain_order="left")
    if not found.get_column("text_key").equals(found.get_column("text_key_right")):
        # within one snapshot a row number names one row: this is a bug, not bad input
        raise RuntimeError(f"{column} texts read back by row number do not match their hashes")
    return from_first_rows(found.get_column("text").alias(column), index)


def _featurize_batch(
    con: duckdb.DuckDBPyConnection,
    batch: _Batch,
    read: _BatchRows,
    config: FeatureConfig,
    stats: FeatureRunStats,
) -> tuple[pl.DataFrame, list[date]] | None:
    """Featurize a batch and queue its days as dirty; for a fresh batch, return the rows and
    days its partials are to be written from."""
    frame, prompts, systems = read.frame, read.prompts, read.systems
    if frame.height == 0:
        return None
    with _timed(stats, "templates"):
        prompt_fps = fingerprint_texts(
            con,
            "prompt",
            prompts,
            head=config.template_head_chars,
            tail=config.template_tail_chars,
            threshold=config.link_threshold,
        )
        system_fps = _system_fingerprints(con, systems, config)
    stats.new_templates += prompt_fps.new_templates
    stats.new_template_components += prompt_fps.new_components
    stats.new_system_templates += system_fps[1]
    with _timed(stats, "capability_cot"):
        labels = _request_labels(frame, prompts, systems, read.tools, con)
    if labels.get_column("request_id").equals(frame.get_column("request_id")):
        labels = labels.drop("request_id")  # same rows in the same order: no join needed
    else:
        labels = frame.select("request_id").join(
            labels, on="request_id", how="left", maintain_order="left"
        ).drop("request_id")
    combined = pl.concat(
        [
            frame.select("request_id", "account_id", "timestamp", "day", "has_tools"),
            prompt_fps.rows[prompts.index],
            system_fps[0][systems.index],
            labels,
        ],
        how="horizontal",
    )
    rows = combined.select(  # in time order, as the batch was read
        "request_id",
        "account_id",
        "timestamp",
        "day",
        "template_hash",
        "template_fp",
        "system_fp",
        "capability",
        "capability_confidence",
        "cot_score",
        "has_tools",
    )
    con.register("_dg_request_features", rows)
    try:
        con.execute("INSERT INTO request_features SELECT * FROM _dg_request_features")
    finally:
        con.unregister("_dg_request_features")
    days = sorted(rows.get_column("day").unique().to_list())
    _mark_dirty(con, days)
    if not batch.fresh:
        return None
    return pl.concat([combined, frame.select(DAY_REQUEST_COLUMNS)], how="horizontal"), days


def _system_fingerprints(
    con: duckdb.DuckDBPyConnection, systems: DistinctTexts, config: FeatureConfig
) -> tuple[pl.DataFrame, int]:
    """`system_fp` per distinct system prompt (NULL when blank) and the count of new templates."""
    present = systems.values.str.strip_chars() != ""
    masked = masked_template_text(
        systems.values.filter(present), config.template_head_chars, config.template_tail_chars
    )
    assigned = assign_fingerprints(con, "system", masked, threshold=config.link_threshold)
    column = pl.Series("system_fp", [None] * systems.values.len(), dtype=pl.String)
    column = column.scatter(present.arg_true(), assigned.rows.get_column("template_fp"))
    return pl.DataFrame([column]), assigned.new_templates


def _request_labels(
    frame: pl.DataFrame,
    prompts: DistinctTexts,
    systems: DistinctTexts,
    tools: DistinctTexts,
    con: duckdb.DuckDBPyConnection,
) -> pl.DataFrame:
    """Capability label and CoT elicitation score per request, computed per new distinct prompt."""
    from detector.features.labels import request_labels

    return request_labels(frame.get_column("request_id"), prompts, systems, tools, con)


def _account_capability(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Per-account capability mix and CoT share, from the running totals (one row per account)."""
    from detector.features.capability_accounts import account_capability_from_counts

    counts = _frame(
        con,
        "SELECT account_id, value AS capability, requests FROM account_value_totals"
        " WHERE kind = 'capability'",
    )
    cot = _frame(
        con,
        """
        SELECT b.account_id, b.requests, coalesce(c.requests, 0) AS cot_requests, b.cot_score_sum
        FROM account_features_base b
        LEFT JOIN (SELECT account_id, requests FROM account_value_totals WHERE kind = 'cot') c
        USING (account_id)
        """,
    )
    if cot.height == 0:
        return None
    return account_capability_from_counts(counts, cot)


def _frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> pl.DataFrame:
    frame = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _days_without_capability_partials(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Days of a store whose partials predate the capability and CoT attribute rows."""
    rows = con.execute(
        """
        SELECT DISTINCT d.day FROM account_daily_features d
        ANTI JOIN (SELECT DISTINCT day FROM account_day_attributes WHERE kind = 'capability') a
        USING (day)
        """
    ).fetchall()
    return [row[0] for row in rows]


def _chunk_days(
    con: duckdb.DuckDBPyConnection, days: list[date], max_rows: int
) -> list[list[date]]:
    """Consecutive groups of `days` whose featurized requests stay under `max_rows` (one day at least)."""
    if not days:
        return []
    counts = dict(
        con.execute(
            "SELECT day, count(*) FROM request_features WHERE day BETWEEN ? AND ? GROUP BY day",
            [days[0], days[-1]],
        ).fetchall()
    )
    chunks: list[list[date]] = []
    current: list[date] = []
    rows = 0
    for day in days:
        count = int(counts.get(day, 0))
        if current and rows + count > max_rows:
            chunks.append(current)
            current, rows = [], 0
        current.append(day)
        rows += count
    chunks.append(current)
    return chunks


def _mark_dirty(con: duckdb.DuckDBPyConnection, days: Sequence[date | None]) -> None:
    """Record days whose partials (or, for None, the all-time tables) need recomputing."""
    if days:
        con.executemany("INSERT INTO feature_dirty_days VALUES (?)", [[day] for day in days])


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()[0]
    return bool(row and row[0])


@contextmanager
def _timed(stats: FeatureRunStats, phase: str) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        stats.seconds[phase] = stats.seconds.get(phase, 0.0) + time.perf_counter() - started
        stats.cpu_seconds[phase] = stats.cpu_seconds.get(phase, 0.0) + time.process_time() - cpu


def _progress(items: Sequence[_Item], show: bool, label: str) -> Iterator[_Item]:
    if not show or not items:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label)


__all__ = ["FeatureConfig", "FeatureRunStats", "compute_features"]
