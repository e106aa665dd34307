"""Ingest one file into the store: validate each batch, enrich its IPs, quarantine bad
records, then append the good ones and remove duplicates, all in one transaction per file.

Batches are validated on a private in-memory DuckDB connection and streamed into the store
by a single `INSERT ... SELECT` per file: DuckDB writes such a statement's rows out as it goes,
while many small appends inside one transaction would all be held in memory until commit.
Quarantined records are spooled to a temporary Parquet file and inserted at the end.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from detector import enrich, store
from detector.ingest.prefetch import prefetched
from detector.ingest.progress import file_progress
from detector.ingest.readers import BATCH_VIEW, Reader, quoted
from detector.ingest.schema import RecordSpec
from detector.ingest.validate import quarantine_raw_sql, validated_sql

STAGED = "ingest_staged"
LOOKUP = "ingest_ip_lookup"
STREAM = "ingest_stream"
SCAN_ROWS = 2048
WORKER_MEMORY_LIMIT = "512MB"

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


def _lookup_table(ips: pa.Array) -> pa.Table:
    """`enrich.lookup_ips` of the distinct IPs, with columns prefixed `lookup_`."""
    found = enrich.lookup_ips(ips)
    return found.rename_columns([f"lookup_{name}" for name in found.column_names])


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


def _split_batch(
    work: duckdb.DuckDBPyConnection,
    reader: Reader,
    spec: RecordSpec,
    table: pa.Table,
    run_id: int,
    source: str,
) -> tuple[pa.Table, pa.Table, int]:
    """Validate and enrich one batch: (good rows in store columns, quarantine rows, rows read)."""
    prepared, canonical = reader.canonical(table, spec)
    work.register(BATCH_VIEW, _scannable(prepared))
    staged = work.sql(validated_sql(spec, f"({canonical})")).to_arrow_table()
    work.unregister(BATCH_VIEW)
    work.register(STAGED, _scannable(staged))
    ip = quoted(spec.ip_field)
    distinct = work.sql(
        f"SELECT DISTINCT {ip} AS ip FROM {STAGED} WHERE reason IS NULL AND {ip} IS NOT NULL"
    ).to_arrow_table()
    work.register(LOOKUP, _lookup_table(distinct.column("ip").combine_chunks()))
    joined = f"{STAGED} s LEFT JOIN {LOOKUP} l ON l.lookup_ip = s.{ip}"
    invalid_ip = f"s.{ip} IS NOT NULL AND NOT coalesce(l.lookup_valid, false)"
    bad = work.sql(
        f"""
        SELECT $run::BIGINT AS ingest_run_id, $source AS source, s.line,
               coalesce(s.reason, 'invalid {spec.ip_field}') AS reason,
               {quarantine_raw_sql(spec, "s")} AS raw
        FROM {joined}
        WHERE s.reason IS NOT NULL OR ({invalid_ip})
        ORDER BY s.line
        """,
        params={"run": run_id, "source": source},
    ).to_arrow_table()
    values = ", ".join(
        [f"s.{quoted(name)}" for name in [*spec.names, "extra"]]
        + [f"l.{quoted('lookup_' + src)}" for src, _ in spec.enrichment]
        + ["$run::BIGINT", "s.line"]
    )
    good = work.sql(
        f"SELECT {values} FROM {joined} WHERE s.reason IS NULL AND NOT ({invalid_ip}) ORDER BY s.line",
        params={"run": run_id},
    ).to_arrow_table()
    work.unregister(LOOKUP)
    work.unregister(STAGED)
    return good.rename_columns(_store_columns(spec)), bad.cast(QUARANTINE_SCHEMA), staged.num_rows


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
    try:
        with file_progress(path.name, path.stat().st_size, progress) as advance:
            for batch in prefetched(reader.batches(path, spec)):
                good, bad, read = _split_batch(work, reader, spec, batch.table, run_id, str(path))
                counts.read += read
                if bad.num_rows:
                    spool.write_table(bad)
                    counts.quarantined += bad.num_rows
                yield from good.cast(schema).to_batches()
                advance(batch.position)
    except BaseException as error:
        counts.failure = error  # DuckDB wraps errors raised in a scan; the caller re-raises this
        raise
    finally:
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


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reader: Reader,
    spec: RecordSpec,
    dedupe: Deduper,
    *,
    progress: bool = False,
) -> IngestResult:
    """Store one file whole or not at all (one transaction), and record it in `ingest_runs`."""
    started = time.perf_counter()
    source = str(path)
    size = path.stat().st_size
    counts = _Counts()
    columns = ", ".join(quoted(name) for name in _store_columns(spec))
    schema = con.sql(f"SELECT {columns} FROM {quoted(spec.table)} LIMIT 0").to_arrow_table().schema
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
