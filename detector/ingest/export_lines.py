"""Split OTLP JSON Lines into numbered lines; a line is a whole export batch, so it may be large.

The OpenTelemetry file exporter writes one `ExportTraceServiceRequest` per line, up to 512
spans with a batch processor: many megabytes when prompts are captured. The record limit
applies to each span (see `detector.ingest.otel_reader`), so lines are kept whole up to
`EXPORT_LINE_BYTES`; a longer line is quarantined with its head. The splitting itself is
`detector.ingest.lines.iter_lines` with that limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa

from detector.ingest.lines import iter_lines

EXPORT_LINE_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 16 * 1024 * 1024


def iter_export_lines(
    stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES, limit: int = EXPORT_LINE_BYTES
) -> Iterator[pa.Table]:
    """Every line of `stream` (numbered from 1) in tables of about `chunk_bytes`; a line over
    `limit` bytes is rejected as too large."""

    def too_large(size: int) -> str:
        return f"export line too large: {size} bytes > {limit} bytes"

    return iter_lines(stream, chunk_bytes, limit, too_large)
