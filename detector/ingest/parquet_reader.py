"""Parquet: typed columns named as the canonical fields.

Two ways in: `file_relation` lets DuckDB scan the whole file as the canonical relation (in
parallel, typed nested columns checked natively, no Arrow or JSON round trip), which the
ingest validates and inserts with one statement whenever every column has a type it maps;
`batches` + `canonical` read Arrow row batches like any other reader, for the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from duckdb.sqltypes import DuckDBPyType

from detector.errors import InputError
from detector.ingest.lines import int64_array
from detector.ingest.readers import BATCH_VIEW, Batch, is_json_kind, quoted
from detector.ingest.schema import Field, RecordSpec
from detector.ingest.tabular import (
    EXTRA_COLUMN,
    Mode,
    arrow_items_checks,
    canonical_select,
    items_check_sql,
    normalize,
)
from detector.ingest.validate import FileRelation

BATCH_ROWS = 16_384
ROW_NUMBER = "file_row_number"

_INTEGERS = {
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "hugeint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "uhugeint",
}
_DECIMALS = {"float", "double", "decimal"}
_TIMESTAMPS = {
    "timestamp",
    "timestamp with time zone",
    "timestamp_ms",
    "timestamp_ns",
    "timestamp_s",
}


def _sql_mode(column: str, type_: DuckDBPyType) -> tuple[str, Mode] | None:
    """A column as the canonical relation wants it, and its mode; None if its type is not mapped."""
    kind = type_.id
    if kind == "varchar":
        return column, Mode.VARCHAR
    if kind in _INTEGERS:
        return column, Mode.BIGINT  # kept as read: validation range-checks the exact value
    if kind in _TIMESTAMPS:
        return f"epoch_ms({column})", Mode.BIGINT  # a naive timestamp is taken as UTC
    if kind == "date":
        return f"epoch_ms({column}::TIMESTAMP)", Mode.BIGINT
    if kind in _DECIMALS:
        return column, Mode.DOUBLE
    if kind == "boolean":
        return column, Mode.BOOLEAN
    if kind in ("list", "array"):
        return column, Mode.ARRAY
    if kind in ("struct", "map"):
        return column, Mode.OBJECT
    return None


def _duck_items_check(field: Field, type_: DuckDBPyType) -> str | None:
    """`items_check_sql` for a list column as DuckDB types it."""
    if type_.id != "list":
        return None
    item = type_.child
    if item.id == "struct":
        members = {
            name: isinstance(child, DuckDBPyType) and child.id in ("varchar", '"null"')
            for name, child in item.children
        }
        return items_check_sql(field, True, members)
    return items_check_sql(field, False, {"": item.id == "varchar"})


class ParquetReader:
    """Reads Parquet files; `line` is the row number from 1."""

    format = "parquet"

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

    def largest_row_group_bytes(self, path: Path) -> int:
        """Uncompressed size of the file's largest row group (0 when unreadable: the ingest
        reports that later, with its reason)."""
        try:
            metadata = pq.ParquetFile(path).metadata
        except (pa.ArrowInvalid, OSError):
            return 0
        sizes = (metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        return max(sizes, default=0)

    def file_relation(
        self, con: duckdb.DuckDBPyConnection, path: Path, spec: RecordSpec
    ) -> FileRelation | None:
        """The whole file as the canonical relation over `read_parquet` (its column types are
        read through `con`), or None when a column has a type this mapping does not cover (the
        batch path handles those)."""
        try:
            scan = con.read_parquet(str(path))
            rows = pq.ParquetFile(path).metadata.num_rows
        except (duckdb.Error, pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file: {exc}") from exc
        if {"line", ROW_NUMBER, EXTRA_COLUMN} & set(scan.columns):
            return None
        by_name = {f.name: f for f in spec.fields}
        selected = [f"{ROW_NUMBER} + 1 AS line"]
        modes = {name: Mode.ABSENT for name in spec.names}
        checks: dict[str, str] = {}
        extra: list[str] = []
        for name, type_ in zip(scan.columns, scan.types, strict=True):
            column = quoted(name)
            field = by_name.get(name)
            if field is None:
                extra.append(f"{column} := {column}")
                continue
            mapped = _sql_mode(column, type_)
            if mapped is None:
                return None
            expression, modes[name] = mapped
            selected.append(f"{expression} AS {column}")
            if is_json_kind(field.kind) and modes[name] is Mode.ARRAY:
                check = _duck_items_check(field, type_)
                if check is not None:
                    checks[name] = check
        if extra:
            selected.append(f"struct_pack({', '.join(extra)}) AS {quoted(EXTRA_COLUMN)}")
        source = (
            f"(SELECT {', '.join(selected)} "
            f"FROM read_parquet($path, file_row_number = true)) AS {BATCH_VIEW}"
        )
        sql = canonical_select(spec, source, modes, bool(extra), items_checks=checks)
        return FileRelation(sql, {"path": str(path)}, rows, frozenset(checks))

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file: {exc}") from exc
        total_rows = max(parquet.metadata.num_rows, 1)
        size = path.stat().st_size
        first = 1
        with parquet:
            for record_batch in parquet.iter_batches(batch_size=self.batch_rows):
                count = record_batch.num_rows
                table = pa.Table.from_batches([record_batch])
                table = table.append_column("line", int64_array(np.arange(first, first + count)))
                first += count
                yield Batch(table, size * (first - 1) // total_rows)

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        normalized, modes = normalize(table, spec, untyped_text=False)
        has_extra = EXTRA_COLUMN in normalized.column_names
        checks = arrow_items_checks(normalized, spec)
        return normalized, canonical_select(spec, BATCH_VIEW, modes, has_extra, items_checks=checks)
