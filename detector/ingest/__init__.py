"""Ingestion: load request logs and account metadata into the store, nothing lost.

Each file goes through the same stages: a reader for its format (JSON Lines, CSV, Parquet)
yields batches, `validate` checks them against the data contract, bad records go to the
`quarantine`, good ones get their IP enriched and land in `requests` (or `accounts`), and
duplicates are removed, all in one transaction per file.

    con = store.connect("distillguard.duckdb")
    results = ingest_files(con, ["logs/2026-03-01.jsonl.gz"])
    ingest_accounts(con, "accounts.csv")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from detector.errors import DistillguardError, InputError
from detector.ingest.dedupe import drop_duplicate_accounts, drop_duplicate_requests
from detector.ingest.formats import FORMATS, Format, detect_format, resolve_reader
from detector.ingest.readers import Reader
from detector.ingest.schema import ACCOUNT_SPEC, MAX_RECORD_BYTES, REQUEST_SPEC, RecordSpec
from detector.ingest.write import Deduper, IngestResult, ingest_file, record_failure
from detector.store import session_settings


def check_readable(paths: Iterable[str | Path]) -> list[Path]:
    """The paths as `Path`s, or InputError naming the first that is missing or unreadable."""
    checked: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a file")
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        checked.append(path)
    return checked


INGEST_MEMORY_LIMIT = "768MB"
"""DuckDB's buffer limit while ingesting (it spills to its temp directory beyond this); the
Python side adds a few batches of about 32 MB each."""


@contextmanager
def bounded_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Cap DuckDB's memory for the ingest, and restore the caller's settings afterwards."""
    # Row order in the table carries no meaning (duplicates are ranked by `source_line`), and
    # keeping it would make DuckDB buffer a streamed insert.
    with session_settings(con, memory_limit=INGEST_MEMORY_LIMIT, preserve_insertion_order=False):
        yield


def ingest_with_readers(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    readers: Sequence[Reader],
    spec: RecordSpec,
    dedupe: Deduper,
    *,
    progress: bool = False,
) -> list[IngestResult]:
    """Ingest each checked path with its reader, one transaction per file, under
    `bounded_memory`; a failure is recorded in `ingest_runs` and re-raised. A reader with a
    `close` method is closed after its file; records it skipped are noted in the file's run."""
    results: list[IngestResult] = []
    with bounded_memory(con):
        for path, reader in zip(paths, readers, strict=True):
            try:
                result = ingest_file(con, path, reader, spec, dedupe, progress=progress)
            except DistillguardError as exc:
                record_failure(con, path, reader.format, spec.name, str(exc))
                raise
            finally:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
            skipped = skipped_records(reader)
            if skipped:
                con.execute(
                    "UPDATE ingest_runs SET message = ? WHERE run_id = ?",
                    [f"skipped {skipped} spans that are not GenAI inference", result.run_id],
                )
            results.append(result)
    return results


def skipped_records(reader: Reader) -> int:
    """Records the reader passed over as not requests (OpenTelemetry spans other than inference)."""
    return int(getattr(reader, "skipped", 0))


def _ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    spec: RecordSpec,
    dedupe: Deduper,
    fmt: str,
    progress: bool,
) -> list[IngestResult]:
    checked = check_readable(paths)
    readers = [resolve_reader(path, fmt) for path in checked]  # every format known before any write
    return ingest_with_readers(con, checked, readers, spec, dedupe, progress=progress)


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    *,
    fmt: Format | str = "auto",
    progress: bool = False,
) -> list[IngestResult]:
    """Load request logs, one transaction per file; every path is checked before anything is written."""
    return _ingest(con, paths, REQUEST_SPEC, drop_duplicate_requests, fmt, progress)


def ingest_accounts(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    fmt: Format | str = "auto",
    progress: bool = False,
) -> IngestResult:
    """Load an account metadata file; an account already stored is replaced by the newer line."""
    return _ingest(con, [path], ACCOUNT_SPEC, drop_duplicate_accounts, fmt, progress)[0]


__all__ = [
    "FORMATS",
    "MAX_RECORD_BYTES",
    "Format",
    "IngestResult",
    "check_readable",
    "detect_format",
    "ingest_accounts",
    "ingest_files",
]
