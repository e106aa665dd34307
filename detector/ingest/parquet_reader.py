"""Parquet: typed columns named as the canonical fields, read in row batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detector.errors import InputError
from detector.ingest.lines import int64_array
from detector.ingest.readers import BATCH_VIEW, Batch
from detector.ingest.schema import RecordSpec
from detector.ingest.tabular import EXTRA_COLUMN, canonical_select, normalize

BATCH_ROWS = 16_384


class ParquetReader:
    """Reads Parquet files in row batches; `line` is the row number from 1."""

    format = "parquet"

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

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
        return normalized, canonical_select(spec, BATCH_VIEW, modes, has_extra)
