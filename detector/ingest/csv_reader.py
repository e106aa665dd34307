"""CSV with a header row, plain or gzip-compressed: every cell is text; `messages` and
`tools` hold JSON text.

Read by pyarrow's streaming CSV reader (quoted newlines allowed). A row with the wrong number
of fields cannot be parsed into columns: it is quarantined with its text, but the parser does
not report where it was, so its `line` is empty. `line` of other rows is the data row number
among the well-formed rows, from 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from detector.errors import InputError
from detector.ingest.jsonl_reader import open_maybe_gzip
from detector.ingest.lines import int64_array
from detector.ingest.readers import BATCH_VIEW, Batch
from detector.ingest.schema import RAW_KEEP_BYTES, RecordSpec
from detector.ingest.tabular import EXTRA_COLUMN, canonical_select, normalize

BLOCK_BYTES = 32 * 1024 * 1024
"""pyarrow parses this much at a time; a single CSV row larger than this fails the file."""

MALFORMED = "__malformed"


def read_header(path: Path) -> list[str]:
    """Column names of the CSV header (first line), gzip-compressed or not."""
    stream, underlying = open_maybe_gzip(path)
    with stream, underlying:
        first = stream.readline(1024 * 1024).decode("utf-8", errors="replace")
    names = next(csv.reader(io.StringIO(first)), [])
    if not names or not any(name.strip() for name in names):
        raise InputError(f"{path}: CSV file without a header row")
    return [name.strip() for name in names]


class CsvReader:
    """Reads CSV files with a header row, streaming in blocks."""

    format = "csv"

    def __init__(self, block_bytes: int = BLOCK_BYTES) -> None:
        self.block_bytes = block_bytes

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        if path.stat().st_size == 0:
            return
        names = read_header(path)
        malformed: list[str] = []

        def keep_malformed(row: pacsv.InvalidRow) -> str:
            malformed.append(row.text[:RAW_KEEP_BYTES])
            return "skip"

        handle, underlying = open_maybe_gzip(path)
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(
                    block_size=self.block_bytes, column_names=names, skip_rows=1
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True, invalid_row_handler=keep_malformed
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            handle.close()
            underlying.close()
            raise InputError(f"{path}: not a readable CSV file: {exc}") from exc
        size = path.stat().st_size
        first = 1
        with handle, underlying:
            while True:
                try:
                    record_batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError, EOFError) as exc:
                    raise InputError(
                        f"{path}: CSV parse error near data row {first}: {exc}"
                    ) from exc
                count = record_batch.num_rows
                table = pa.Table.from_batches([record_batch])
                table = table.append_column("line", int64_array(np.arange(first, first + count)))
                first += count
                if malformed:
                    table = pa.concat_tables(
                        [table, _malformed_rows(malformed, table.schema)], promote_options="default"
                    )
                    malformed.clear()
                yield Batch(table, underlying.tell())
        if malformed:
            yield Batch(_malformed_rows(malformed, None), size)

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        marked = table.column(MALFORMED) if MALFORMED in table.column_names else None
        table = table.drop_columns([MALFORMED]) if marked is not None else table
        normalized, modes = normalize(table, spec, untyped_text=True)
        if marked is not None:
            normalized = normalized.append_column(MALFORMED, marked)
        has_extra = EXTRA_COLUMN in normalized.column_names
        if marked is None:
            return normalized, canonical_select(spec, BATCH_VIEW, modes, has_extra)
        # A malformed row is rejected with its text as raw.
        return normalized, canonical_select(
            spec,
            BATCH_VIEW,
            modes,
            has_extra,
            raw_sql=MALFORMED,
            reject_sql=f"CASE WHEN {MALFORMED} IS NOT NULL THEN 'malformed CSV row (wrong number of fields)' END",
        )


def _malformed_rows(texts: list[str], schema: pa.Schema | None) -> pa.Table:
    table = pa.table(
        {"line": pa.nulls(len(texts), pa.int64()), MALFORMED: pa.array(texts, pa.string())}
    )
    if schema is None:
        return table
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(len(texts), field.type))
    return table.select([*schema.names, MALFORMED])
