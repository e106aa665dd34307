"""The OTLP export line splitter: numbering, oversize lines, invalid UTF-8, no final newline."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from detector.ingest.export_lines import iter_export_lines


def _rows(data: bytes, chunk: int, limit: int) -> list[tuple[int, str, str | None, bool]]:
    tables = list(iter_export_lines(io.BytesIO(data), chunk_bytes=chunk, limit=limit))
    table = pa.concat_tables(tables) if tables else None
    if table is None:
        return []
    return list(
        zip(
            table["line"].to_pylist(),
            table["raw"].to_pylist(),
            table["reject"].to_pylist(),
            table["unterminated"].to_pylist(),
            strict=True,
        )
    )


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_lines_are_numbered_and_oversize_ones_cut(chunk: int) -> None:
    data = b"ab\n" + b"x" * 40 + b"\ncd\n\xff\xfe\nlast"
    rows = _rows(data, chunk, limit=20)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == (1, "ab\n", None, False)
    assert rows[1][2] is not None and rows[1][2].startswith("export line too large: 41 bytes")
    assert rows[2] == (3, "cd\n", None, False)
    assert rows[3][2] == "invalid UTF-8"
    assert rows[4] == (5, "last", None, True)


def test_empty_stream_has_no_lines() -> None:
    assert _rows(b"", 8, limit=20) == []
