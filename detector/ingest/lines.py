"""Split a byte stream into numbered lines as Arrow arrays, without a Python object per line.

The stream is read in large chunks; newline positions are found with numpy and each chunk
becomes one Arrow string array over the chunk's own memory (zero copy). A line longer than the
record limit is cut at `RAW_KEEP_BYTES` instead of being held whole, so memory stays bounded
even for a file with no newline at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from detector.ingest.schema import MAX_RECORD_BYTES, RAW_KEEP_BYTES

CHUNK_BYTES = 32 * 1024 * 1024

LINE_BATCH_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("raw", pa.string()),
        ("reject", pa.string()),
        ("unterminated", pa.bool_()),
    ]
)
"""What `iter_lines` yields: line number from 1, the line's text (with its newline), a reason
the line cannot be a record (oversize, invalid UTF-8) or null, and whether it is the file's
last line without a newline."""


def int64_array(values: np.ndarray) -> pa.Array:
    """A numpy int64 vector as an Arrow array, zero copy (and without pyarrow's pandas shim)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _bool_array(values: np.ndarray) -> pa.Array:
    bits = np.packbits(values.astype(bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _oversize_reason(size: int) -> str:
    return f"record too large: {size} bytes > {MAX_RECORD_BYTES} bytes"


def string_array(buffer: np.ndarray, offsets: np.ndarray) -> tuple[pa.Array, np.ndarray | None]:
    """The lines as an Arrow string array over `buffer`; lines of invalid UTF-8 are repaired and flagged."""
    count = len(offsets) - 1
    array = pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(buffer)]
    )
    try:
        array.validate(full=True)
        return array, None
    except pa.ArrowInvalid:
        pass
    # Rare path, only for a chunk that holds invalid UTF-8: find the offending lines one by one.
    texts: list[str] = []
    bad = np.zeros(count, dtype=bool)
    data = buffer.tobytes()
    for index in range(count):
        piece = data[offsets[index] : offsets[index + 1]]
        try:
            texts.append(piece.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(piece.decode("utf-8", errors="replace"))
            bad[index] = True
    return pa.array(texts, pa.string()), bad


def _batch(
    buffer: np.ndarray,
    starts: np.ndarray,
    first_line: int,
    unterminated_last: bool,
    limit: int = MAX_RECORD_BYTES,
    too_large: Callable[[int], str] = _oversize_reason,
) -> pa.Table:
    """Lines `buffer[starts[i]:starts[i+1]]` (each keeps its newline), numbered from `first_line`;
    a line over `limit` bytes gets the reason `too_large(size)`."""
    count = len(starts) - 1
    raw, bad_utf8 = string_array(buffer, starts)
    lengths = np.diff(starts)
    oversize = lengths > limit
    reject: pa.Array
    if oversize.any() or bad_utf8 is not None:
        reasons: list[str | None] = [None] * count
        if bad_utf8 is not None:
            for index in np.flatnonzero(bad_utf8):
                reasons[index] = "invalid UTF-8"
        for index in np.flatnonzero(oversize):
            reasons[index] = too_large(int(lengths[index]))
        reject = pa.array(reasons, pa.string())
    else:
        reject = pa.nulls(count, pa.string())
    unterminated = np.zeros(count, dtype=bool)
    if unterminated_last and count:
        unterminated[-1] = True
    lines = int64_array(np.arange(first_line, first_line + count, dtype=np.int64))
    return pa.Table.from_arrays(
        [lines, raw, reject, _bool_array(unterminated)], schema=LINE_BATCH_SCHEMA
    )


def single_line(line: int, head: bytes, reason: str, unterminated: bool) -> pa.Table:
    """A batch of one line that cannot be a record: its kept head and the reason."""
    return pa.Table.from_pydict(
        {
            "line": [line],
            "raw": [head.decode("utf-8", errors="replace")],
            "reject": [reason],
            "unterminated": [unterminated],
        },
        schema=LINE_BATCH_SCHEMA,
    )


def iter_lines(
    stream: BinaryIO,
    chunk_bytes: int = CHUNK_BYTES,
    limit: int = MAX_RECORD_BYTES,
    too_large: Callable[[int], str] = _oversize_reason,
) -> Iterator[pa.Table]:
    """Every line of `stream` (blank ones included, numbered from 1), in tables of about
    `chunk_bytes`. A line over `limit` bytes is rejected with the reason `too_large(size)`; only
    its first `RAW_KEEP_BYTES` are held when it spans more than one chunk."""
    carry = np.empty(0, dtype=np.uint8)
    next_line = 1
    # While skipping the rest of an oversize line: its kept head and its size so far.
    oversize_head: bytes | None = None
    oversize_size = 0
    while True:
        buffer = np.empty(len(carry) + chunk_bytes, dtype=np.uint8)
        buffer[: len(carry)] = carry
        got = stream.readinto(buffer[len(carry) :].data)  # type: ignore[attr-defined]
        at_eof = not got
        buffer = buffer[: len(carry) + got]
        fresh = buffer[len(carry) :]
        if oversize_head is not None:
            newline = np.flatnonzero(fresh == 10)
            if len(newline) == 0 and not at_eof:
                oversize_size += got
                carry = np.empty(0, dtype=np.uint8)
                continue
            cut = int(newline[0]) if len(newline) else -1
            oversize_size += cut + 1 if cut >= 0 else 0
            yield single_line(next_line, oversize_head, too_large(oversize_size), cut < 0)
            next_line += 1
            oversize_head = None
            if at_eof:
                return
            buffer = fresh[cut + 1 :]
        if at_eof:
            if len(buffer) > limit:
                yield single_line(
                    next_line,
                    buffer[:RAW_KEEP_BYTES].tobytes(),
                    too_large(len(buffer)),
                    True,
                )
            elif len(buffer):
                ends = np.array([0, len(buffer)], dtype=np.int64)
                yield _batch(buffer, ends, next_line, True, limit, too_large)
            return
        newlines = np.flatnonzero(buffer == 10)
        if len(newlines) == 0:
            if len(buffer) > limit:
                oversize_head = buffer[:RAW_KEEP_BYTES].tobytes()
                oversize_size = len(buffer)
                carry = np.empty(0, dtype=np.uint8)
            else:
                carry = buffer.copy()
            continue
        end = int(newlines[-1]) + 1
        if end >= 2**31:
            raise ValueError("line batch over 2 GiB; lower chunk_bytes")
        starts = np.empty(len(newlines) + 1, dtype=np.int64)
        starts[0] = 0
        starts[1:] = newlines + 1
        yield _batch(buffer[:end], starts, next_line, False, limit, too_large)
        next_line += len(newlines)
        carry = buffer[end:].copy()
