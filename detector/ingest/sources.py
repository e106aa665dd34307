"""Ingest request logs in any supported format, with the options foreign formats need.

`ingest_sources` is `detector.ingest.ingest_files` plus what OpenTelemetry, LiteLLM and mapped
files take: a column mapping, which attribute or column names the account, and a count of the
records that are not requests (OpenTelemetry spans other than GenAI inference), which is also
written to the run's `ingest_runs.message`. Each file still goes through the same validation,
quarantine, enrichment, de-duplication and one transaction per file (`write.ingest_file`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from detector.errors import InputError
from detector.ingest import check_readable, ingest_with_readers, skipped_records
from detector.ingest.dedupe import drop_duplicate_requests
from detector.ingest.formats import FORMATS, container_format, detect_format, resolve_reader
from detector.ingest.litellm_reader import LiteLLMReader
from detector.ingest.mapping import CONTAINERS, MappedReader, Mapping
from detector.ingest.otel_reader import OtelReader
from detector.ingest.readers import Reader
from detector.ingest.schema import REQUEST_SPEC
from detector.ingest.write import IngestResult


@dataclass(frozen=True)
class SourceOptions:
    """How to read request files: the format (`auto` detects), a column mapping, and the
    attributes (OpenTelemetry) or columns (LiteLLM) that name the account, in order of preference."""

    fmt: str = "auto"
    mapping: Mapping | None = None
    account_keys: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SourceResult:
    """One file's ingest result and how many of its records were not requests (skipped)."""

    result: IngestResult
    skipped: int = 0


def reader_for_source(path: Path, options: SourceOptions) -> Reader:
    """The reader for `path` under `options`; InputError for options that do not fit the format."""
    if options.fmt not in FORMATS:
        raise InputError(f"unknown format {options.fmt!r}; expected one of {', '.join(FORMATS)}")
    if options.mapping is not None:
        if options.fmt in ("otel", "litellm"):
            raise InputError(f"--map and --map-file do not apply to --format {options.fmt}")
        if options.account_keys:
            raise InputError(
                "--account-from does not apply to mapped files; use --map account_id=COLUMN"
            )
        container = options.mapping.container or (
            options.fmt if options.fmt in CONTAINERS else container_format(path)
        )
        return MappedReader(container, options.mapping)
    chosen = detect_format(path) if options.fmt == "auto" else options.fmt
    if options.account_keys:
        if chosen == "otel":
            return OtelReader(account_attributes=options.account_keys)
        if chosen == "litellm":
            return LiteLLMReader(container_format(path), account_columns=options.account_keys)
        raise InputError(
            f"{path}: --account-from applies to OpenTelemetry and LiteLLM logs, not {chosen}; "
            "use --map account_id=COLUMN"
        )
    return resolve_reader(path, chosen)


def ingest_sources(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    options: SourceOptions | None = None,
    *,
    progress: bool = False,
) -> list[SourceResult]:
    """Load request logs, one transaction per file; every path and reader is checked first."""
    options = options or SourceOptions()
    checked = check_readable(paths)
    readers = [reader_for_source(path, options) for path in checked]

    results = ingest_with_readers(
        con,
        checked,
        readers,
        REQUEST_SPEC,
        drop_duplicate_requests,
        progress=progress,
    )
    return [
        SourceResult(result, skipped_records(reader))
        for result, reader in zip(results, readers, strict=True)
    ]


def account_keys(values: Sequence[str] | None) -> tuple[str, ...]:
    """`--account-from` values, blanks dropped, order kept."""
    return tuple(value.strip() for value in values or () if value.strip())
