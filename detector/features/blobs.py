"""Fixed-width binary columns: rows of a uint8 matrix to and from an Arrow binary array."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa


def blob_array(matrix: np.ndarray) -> pa.Array:
    """Rows of a uint8 matrix as an arrow binary array, without a Python loop."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix).tobytes()
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
    )


def blob_matrix(column: pl.Series, width: int) -> np.ndarray:
    """Fixed-width binary values back into a (n x width) uint8 matrix."""
    if column.len() == 0:
        return np.empty((0, width), np.uint8)
    data, offsets = value_buffers(column, pa.large_binary())
    return data[offsets[0] : offsets[-1]].reshape(len(offsets) - 1, width)


def value_buffers(column: pl.Series, large_type: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and int64 offsets of a string or binary column (cast to `large_type`), without
    copying values into Python objects."""
    array = column.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(large_type)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(1, np.uint8)
    )
    return data, np.ascontiguousarray(offsets)
