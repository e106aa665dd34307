"""Ingest one file into the store: validate its records, enrich their IPs, quarantine bad
records, then append the good ones and remove duplicates, all in one transaction per file.

A reader that offers the whole file as one relation (`file_relation`: Parquet over
`read_parquet`, JSON Lines over an Arrow stream of numbered lines, registered per statement) is
ingested by one `INSERT ... SELECT` on the store's connection: the file's relation, validated,
joined to the enrichment of its distinct IPs (found by the reader, or a narrow pre-pass),
straight into the table. Bad rows are
counted as read minus stored, and a second statement quarantines them only when there are some.

Every other reader's batches are validated on a private in-memory DuckDB connection and
streamed into the store by a single `INSERT ... SELECT` per file: DuckDB writes such a
statement's rows out as it goes, while many small appends inside one transaction would all be
held in memory until commit. Quarantined records are spooled to a temporary Parquet file and
inserted at the end.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from detector import enrich, store
from detector.errors import InputError
from detector.ingest.prefetch import prefetched
from detector.ingest.progress import file_progress, statement_progress
from detector.ingest.readers import BATCH_VIEW, Reader, is_json_kind, literal, quoted
from detector.ingest.schema import RecordSpec
from detector.ingest.validate import (
    FileRelation,
    items_ok_column,
    quarantine_raw_sql,
    validated_sql,
)

STAGED = "ingest_staged"
STREAM = "ingest_stream"
SCAN_ROWS = 2048
IPS = "ingest_ips"
WORKER_MEMORY_LIMIT = "768MB"

QUARANTINE_SCHEMA = pa.schema(
    [
        ("ingest_run_id", pa.int64()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


class Deduper(Protocol):
    def __call__(self, con: duckdb.DuckDBPyConnection, run_id: int) -> int: ...


@dataclass(frozen=True)
class IngestResult:
    """What one file contributed: read = stored + duplicates + quarantined."""

    source: str
    format: str
    kind: str
    run_id: int
    read: int
    stored: int
    duplicates: int
    quarantined: int
    bytes: int
    seconds: float


@dataclass
class _Counts:
    read: int = 0
    appended: int = 0
    quarantined: int = 0
    failure: BaseException | None = field(default=None)


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _scannable(table: pa.Table) -> pa.Table:
    """Many small record batches, so DuckDB scans the table on every thread."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_ROWS), schema=table.schema)


def worker_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for validation, so the store's connection only appends."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET memory_limit = ?", [WORKER_MEMORY_LIMIT])
    return con


def _store_columns(spec: RecordSpec) -> list[str]:
    return [
        *spec.names,
        "extra",
        *(dst for _, dst in spec.enrichment),
        "ingest_run_id",
        "source_line",
    ]


def _validated_batch(
    work: duckdb.DuckDBPyConnection, reader: Reader, spec: RecordSpec, table: pa.Table
) -> pa.Table:
    """One batch through the reader's canonical SQL and `validated_sql`; a batch too big for the
    worker's memory is validated in halves."""
    prepared, canonical = reader.canonical(table, spec)
    work.register(BATCH_VIEW, _scannable(prepared))
    try:
        query = _validation_query(work, spec, canonical, tuple(prepared.schema.names))
        return work.sql(query).to_arrow_table()
    except duckdb.OutOfMemoryException:
        if table.num_rows < 2:
            raise
    finally:
        work.unregister(BATCH_VIEW)
    half = table.num_rows // 2
    return pa.concat_tables(
        [
            _validated_batch(work, reader, spec, table.slice(0, half)),
            _validated_batch(work, reader, spec, table.slice(half)),
        ]
    )


@functools.lru_cache(maxsize=64)
def _checked_fields(spec: RecordSpec, columns: tuple[str, ...]) -> frozenset[str]:
    return frozenset(
        f.name for f in spec.fields if is_json_kind(f.kind) and items_ok_column(f.name) in columns
    )


def _validation_query(
    work: duckdb.DuckDBPyConnection,
    spec: RecordSpec,
    canonical: str,
    batch_columns: tuple[str, ...],
) -> str:
    """`validated_sql` over a reader's canonical SQL, knowing which `f__items_ok` columns it has."""
    key = (canonical, batch_columns)
    columns = _canonical_columns.get(key)
    if columns is None:  # binding the SQL costs a little; a reader repeats the same SQL
        if len(_canonical_columns) > 256:
            _canonical_columns.clear()
        columns = _canonical_columns.setdefault(key, tuple(work.sql(canonical).columns))
    return validated_sql(spec, f"({canonical})", _checked_fields(spec, columns))


_canonical_columns: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
"""Output columns of each canonical SQL (with the batch columns it ran over), bound once."""


def _split_batch(
    work: duckdb.DuckDBPyConnection, spec: RecordSpec, staged: pa.Table, run_id: int, source: str
) -> tuple[pa.Table, pa.Table]:
    """Enrich validated rows (the output of `validated_sql`) and split them into store rows and
    quarantine rows; an IP the lookup finds invalid sends its row to the quarantine."""
    ips = staged.column(spec.ip_field)
    found = enrich.lookup_ips(ips)  # looks up each distinct address once, keeps the row order
    invalid_ip = pc.and_(pc.is_valid(ips), pc.invert(found.column("valid")))
    good_mask = pc.and_(pc.is_null(staged.column("reason")), pc.invert(invalid_ip))
    all_good = (pc.sum(good_mask).as_py() or 0) == staged.num_rows
    kept = staged if all_good else staged.filter(good_mask)
    kept_found = found if all_good else found.filter(good_mask)
    good = pa.Table.from_arrays(
        [kept.column(name) for name in (*spec.names, "extra")]
        + [kept_found.column(src) for src, _ in spec.enrichment]
        + [pa.repeat(pa.scalar(run_id, pa.int64()), kept.num_rows), kept.column("line")],
        names=_store_columns(spec),
    )
    if all_good:
        bad = QUARANTINE_SCHEMA.empty_table()
    else:
        bad = _quarantine_rows(work, spec, staged.filter(pc.invert(good_mask)), run_id, source)
    return good, bad


def _quarantine_rows(
    work: duckdb.DuckDBPyConnection, spec: RecordSpec, rejected: pa.Table, run_id: int, source: str
) -> pa.Table:
    """Quarantine rows (reason and raw text) for validated rows that are not stored."""
    work.register(STAGED, rejected)
    bad = work.sql(
        f"""
        SELECT $run::BIGINT AS ingest_run_id, $source AS source, s.line,
               coalesce(s.reason, {literal("invalid " + spec.ip_field)}) AS reason,
               {quarantine_raw_sql(spec, "s")} AS raw
        FROM {STAGED} s
        ORDER BY s.line
        """,
        params={"run": run_id, "source": source},
    ).to_arrow_table()
    work.unregister(STAGED)
    return bad.cast(QUARANTINE_SCHEMA)


def _file_relation(
    con: duckdb.DuckDBPyConnection, reader: Reader, path: Path, spec: RecordSpec
) -> FileRelation | None:
    """The reader's whole-file relation for `path`, if it offers one for this file."""
    whole = getattr(reader, "file_relation", None)
    if whole is None:
        return None
    relation: FileRelation | None = whole(con, path, spec)
    return relation


@contextmanager
def _streams(con: duckdb.DuckDBPyConnection, relation: FileRelation) -> Iterator[None]:
    """The relation's Arrow streams registered for one statement over it."""
    streams = relation.streams() if relation.streams is not None else {}
    for name, stream in streams.items():
        con.register(name, stream)
    yield
    # Not in a `finally`: after a failed statement the transaction refuses even this.
    for name in streams:
        con.unregister(name)


def _ip_table(con: duckdb.DuckDBPyConnection, spec: RecordSpec, relation: FileRelation) -> pa.Table:
    """Enrichment of every distinct IP of the file: those the reader found, or one narrow
    pre-pass over the relation's IP column."""
    if relation.ips is not None:
        return enrich.lookup_ips(relation.ips)
    ip = quoted(spec.ip_field)
    with _streams(con, relation):
        distinct = con.sql(
            f"SELECT DISTINCT {ip} AS ip FROM ({relation.sql}) WHERE {ip} IS NOT NULL",
            params=relation.params,
        ).to_arrow_table()
    return enrich.lookup_ips(distinct.column("ip"))


_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)
"""What DuckDB raises for a file it cannot read or decode (reported as the input's fault)."""


def _good_sql(spec: RecordSpec) -> str:
    """Whether a validated row `v` joined to its IP's enrichment `e` is stored: no rule broken
    and, when it has an IP, one the lookup finds valid."""
    return f"(v.reason IS NULL AND (v.{quoted(spec.ip_field)} IS NULL OR coalesce(e.valid, false)))"


def _insert_relation(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    spec: RecordSpec,
    relation: FileRelation,
    run_id: int,
    progress: bool,
) -> _Counts:
    """Validate, enrich and append the whole file with one `INSERT ... SELECT` on the store's
    connection; a second statement quarantines the bad rows, only when there are some."""
    counts = _Counts(read=relation.rows)
    validated = validated_sql(spec, f"({relation.sql})", relation.items_checked)
    joined = f"({validated}) v LEFT JOIN {IPS} e ON e.ip = v.{quoted(spec.ip_field)}"
    columns = _store_columns(spec)
    values = [
        *(f"v.{quoted(name)}" for name in (*spec.names, "extra")),
        *(f"e.{quoted(src)}" for src, _ in spec.enrichment),
        "$run",
        "v.line",
    ]
    params = {**relation.params, "run": run_id}
    try:
        ips = _ip_table(con, spec, relation)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    con.register(IPS, ips)
    try:
        with (
            statement_progress(con, path.name, path.stat().st_size, progress),
            _streams(con, relation),
        ):
            counts.appended = _count(
                con.execute(
                    f"INSERT INTO {quoted(spec.table)} ({', '.join(map(quoted, columns))}) "
                    f"SELECT {', '.join(values)} FROM {joined} WHERE {_good_sql(spec)}",
                    params,
                )
            )
        if counts.appended < counts.read:
            with _streams(con, relation):
                counts.quarantined = _count(
                    con.execute(
                        f"""
                        INSERT INTO quarantine (ingest_run_id, source, line, reason, raw)
                        SELECT $run, $source, v.line,
                               coalesce(v.reason, {literal("invalid " + spec.ip_field)}),
                               {quarantine_raw_sql(spec, "v")}
                        FROM {joined} WHERE NOT {_good_sql(spec)}
                        """,
                        {**params, "source": str(path)},
                    )
                )
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    # Not in a `finally`: after a failed statement the transaction accepts nothing but its
    # rollback, which drops the view anyway.
    con.unregister(IPS)
    return counts


def _batch_tables(
    work: duckdb.DuckDBPyConnection, reader: Reader, path: Path, spec: RecordSpec
) -> Iterator[tuple[pa.Table, int]]:
    """The file's rows validated batch by batch through the reader's `batches` + `canonical`."""
    for batch in reader.batches(path, spec):
        yield _validated_batch(work, reader, spec, batch.table), batch.position


def _good_batches(
    path: Path,
    reader: Reader,
    spec: RecordSpec,
    run_id: int,
    schema: pa.Schema,
    spool: pq.ParquetWriter,
    counts: _Counts,
    progress: bool,
) -> Iterator[pa.RecordBatch]:
    """Good rows of every batch of the file, cast to the store's schema; bad ones go to `spool`."""
    work = worker_connection()
    validator = work.cursor()
    try:
        # Validation runs on a cursor of its own in the prefetch thread.
        tables = _batch_tables(validator, reader, path, spec)
        with file_progress(path.name, path.stat().st_size, progress) as advance:
            for staged, position in prefetched(tables):
                good, bad = _split_batch(work, spec, staged, run_id, str(path))
                counts.read += staged.num_rows
                if bad.num_rows:
                    spool.write_table(bad)
                    counts.quarantined += bad.num_rows
                yield from good.cast(schema).to_batches()
                advance(position)
    except BaseException as error:
        counts.failure = error  # DuckDB wraps errors raised in a scan; the caller re-raises this
        raise
    finally:
        validator.close()
        work.close()


def _append_stream(
    con: duckdb.DuckDBPyConnection,
    spec: RecordSpec,
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
) -> int:
    """Append every streamed row to the record table with one statement; how many."""
    con.register(STREAM, pa.RecordBatchReader.from_batches(schema, batches))
    columns = ", ".join(quoted(name) for name in schema.names)
    appended = _count(
        con.execute(f"INSERT INTO {quoted(spec.table)} ({columns}) SELECT {columns} FROM {STREAM}")
    )
    con.unregister(STREAM)
    return appended


def _append_batches(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reader: Reader,
    spec: RecordSpec,
    run_id: int,
    spool_path: Path,
    counts: _Counts,
    progress: bool,
) -> None:
    """The generic path: the reader's batches validated on a worker connection, streamed into
    one `INSERT`, the bad rows spooled to `spool_path` and inserted at the end."""
    columns = ", ".join(quoted(name) for name in _store_columns(spec))
    schema = con.sql(f"SELECT {columns} FROM {quoted(spec.table)} LIMIT 0").to_arrow_table().schema
    with pq.ParquetWriter(spool_path, QUARANTINE_SCHEMA) as spool:
        batches = _good_batches(path, reader, spec, run_id, schema, spool, counts, progress)
        try:
            counts.appended = _append_stream(con, spec, batches, schema)
        except duckdb.Error:
            if counts.failure is not None:
                raise counts.failure from None
            raise
    if counts.quarantined:
        con.execute(
            "INSERT INTO quarantine (ingest_run_id, source, line, reason, raw)"
            " SELECT ingest_run_id, source, line, reason, raw FROM read_parquet(?)",
            [str(spool_path)],
        )


ROW_GROUP_BYTES_FOR_TWO_THREADS = 96 * 2**20
"""Above this uncompressed row-group size the one-statement path starts on one thread: each
thread holds a row group with its validation and zstd buffers, and two row groups of ~200 MB
exhaust the ingest's 768 MB cap."""


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reader: Reader,
    spec: RecordSpec,
    dedupe: Deduper,
    *,
    progress: bool = False,
) -> IngestResult:
    """Store one file whole or not at all (one transaction), and record it in `ingest_runs`.

    A file the one-statement path cannot hold within the memory cap (row groups of hundreds
    of megabytes, one in flight per thread) is stored again with one thread, and then
    through the batch path, which splits what does not fit. Files whose row groups are known
    to be that big start with one thread."""
    row_group_bytes = getattr(reader, "largest_row_group_bytes", None)
    if row_group_bytes is None or row_group_bytes(path) <= ROW_GROUP_BYTES_FOR_TWO_THREADS:
        try:
            return _ingest_file(con, path, reader, spec, dedupe, progress=progress, whole_file=True)
        except duckdb.OutOfMemoryException:
            pass
    try:
        with store.session_settings(con, threads="1"):
            return _ingest_file(con, path, reader, spec, dedupe, progress=progress, whole_file=True)
    except duckdb.OutOfMemoryException:
        return _ingest_file(con, path, reader, spec, dedupe, progress=progress, whole_file=False)


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reader: Reader,
    spec: RecordSpec,
    dedupe: Deduper,
    *,
    progress: bool,
    whole_file: bool,
) -> IngestResult:
    started = time.perf_counter()
    source = str(path)
    size = path.stat().st_size
    counts = _Counts()
    with tempfile.TemporaryDirectory(prefix="distillguard-ingest-") as spool_dir:
        spool_path = Path(spool_dir) / "quarantine.parquet"
        with store.transaction(con):
            run_id = _count(con.execute("SELECT nextval('ingest_run_ids')"))
            con.execute(
                """
                INSERT INTO ingest_runs (run_id, source, format, kind, started_at, status, file_size,
                                         enrichment_version)
                VALUES (?, ?, ?, ?, now(), 'running', ?, ?)
                """,
                [run_id, source, reader.format, spec.name, size, enrich.data_version()],
            )
            relation = _file_relation(con, reader, path, spec) if whole_file else None
            if relation is not None:
                counts = _insert_relation(con, path, spec, relation, run_id, progress)
            else:
                _append_batches(con, path, reader, spec, run_id, spool_path, counts, progress)
            removed = dedupe(con, run_id) if counts.appended else 0
            stored = counts.appended - removed
            duplicates = counts.read - stored - counts.quarantined
            con.execute(
                """
                UPDATE ingest_runs
                SET finished_at = now(), status = 'done', read = ?, stored = ?, duplicates = ?,
                    quarantined = ?
                WHERE run_id = ?
                """,
                [counts.read, stored, duplicates, counts.quarantined, run_id],
            )
    return IngestResult(
        source=source,
        format=reader.format,
        kind=spec.name,
        run_id=run_id,
        read=counts.read,
        stored=stored,
        duplicates=duplicates,
        quarantined=counts.quarantined,
        bytes=size,
        seconds=time.perf_counter() - started,
    )


def record_failure(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, kind: str, message: str
) -> None:
    """Note a file that could not be ingested (its transaction was rolled back)."""
    con.execute(
        """
        INSERT INTO ingest_runs (run_id, source, format, kind, started_at, finished_at, status,
                                 file_size, enrichment_version, message)
        VALUES (nextval('ingest_run_ids'), ?, ?, ?, now(), now(), 'failed', ?, ?, ?)
        """,
        [
            str(path),
            fmt,
            kind,
            path.stat().st_size if path.exists() else None,
            enrich.data_version(),
            message,
        ],
    )
