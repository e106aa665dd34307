"""Split OTLP JSON Lines into numbered lines; a line is a whole export batch, so it may be large.

The OpenTelemetry file exporter writes one `ExportTraceServiceRequest` per line, up to 512
spans with a batch processor: many megabytes when prompts are captured. The record limit
applies to each span (see `detector.ingest.otel_reader`), so lines are kept whole up to
`EXPORT_LINE_BYTES`; a longer line is quarantined with its head. Newlines are found with numpy
and each chunk becomes one Arrow string array over its own memory, as in `detector.ingest.lines`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from detector.ingest.lines import LINE_BATCH_SCHEMA, int64_array, single_line, string_array
from detector.ingest.schema import RAW_KEEP_BYTES

EXPORT_LINE_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 16 * 1024 * 1024


def _oversize(size: int, limit: int) -> str:
    return f"export line too large: {size} bytes > {limit} bytes"


def _table(data: bytes, starts: np.ndarray, first_line: int, unterminated_last: bool) -> pa.Table:
    """Lines `data[starts[i]:starts[i+1]]`, numbered from `first_line`; invalid UTF-8 is flagged."""
    count = len(starts) - 1
    raw, bad_utf8 = string_array(np.frombuffer(data, dtype=np.uint8), starts)
    reject: pa.Array = pa.nulls(count, pa.string())
    if bad_utf8 is not None:
        reject = pa.array(["invalid UTF-8" if bad else None for bad in bad_utf8], pa.string())
    unterminated = np.zeros(count, dtype=bool)
    if unterminated_last and count:
        unterminated[-1] = True
    lines = int64_array(np.arange(first_line, first_line + count, dtype=np.int64))
    return pa.Table.from_arrays(
        [lines, raw, reject, pa.array(unterminated, pa.bool_())], schema=LINE_BATCH_SCHEMA
    )


def _rejected(line: int, head: bytes, size: int, unterminated: bool, limit: int) -> pa.Table:
    return single_line(line, head[:RAW_KEEP_BYTES], _oversize(size, limit), unterminated)


def iter_export_lines(
    stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES, limit: int = EXPORT_LINE_BYTES
) -> Iterator[pa.Table]:
    """Every line of `stream` (numbered from 1) in tables of about `chunk_bytes`; a line over
    `limit` bytes comes back alone, cut, with a reason."""
    carry = b""
    next_line = 1
    skipping: tuple[bytes, int] | None = None  # head and size so far of an oversize line
    while True:
        data = stream.read(chunk_bytes)
        if skipping is not None:
            newline = data.find(b"\n")
            head, size = skipping
            if newline < 0 and data:
                skipping = (head, size + len(data))
                continue
            yield _rejected(next_line, head, size + newline + 1, newline < 0, limit)
            next_line += 1
            skipping = None
            if not data:
                return
            data = data[newline + 1 :]
            if not data:
                continue  # the rest of the file is in the next read
        if not data:
            if carry:
                yield _table(carry, np.array([0, len(carry)], dtype=np.int64), next_line, True)
            return
        buffer = carry + data
        newlines = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8) == 10)
        if len(newlines) == 0:
            if len(buffer) > limit:
                skipping, carry = (buffer[:RAW_KEEP_BYTES], len(buffer)), b""
            else:
                carry = buffer
            continue
        end = int(newlines[-1]) + 1
        starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
        lengths = np.diff(starts)
        if (lengths > limit).any():
            # An oversize line inside the chunk: emit lines one group at a time around it.
            first = 0
            for index in np.flatnonzero(lengths > limit):
                if index > first:
                    yield _table(buffer, starts[first : index + 1], next_line + first, False)
                yield _rejected(
                    next_line + int(index),
                    buffer[starts[index] : starts[index] + RAW_KEEP_BYTES],
                    int(lengths[index]),
                    False,
                    limit,
                )
                first = int(index) + 1
            if first < len(lengths):
                yield _table(buffer, starts[first:], next_line + first, False)
        else:
            yield _table(buffer[:end], starts, next_line, False)
        next_line += len(newlines)
        carry = buffer[end:]
