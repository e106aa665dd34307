"""The line splitter: exact numbering and raw text across chunk boundaries, bounded oversize lines."""

from __future__ import annotations

import io

import pytest

from detector.ingest.lines import iter_lines
from detector.ingest.schema import MAX_RECORD_BYTES, RAW_KEEP_BYTES


def split(data: bytes, chunk: int) -> list[tuple[int, str, str | None, bool]]:
    rows = []
    for table in iter_lines(io.BytesIO(data), chunk):
        rows += list(
            zip(
                *(table.column(n).to_pylist() for n in ("line", "raw", "reject", "unterminated")),
                strict=True,
            )
        )
    return rows


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_lines_are_the_same_whatever_the_chunk_size(chunk):
    data = b'{"a":1}\n\n{"b":"\xc3\xa9"}\r\nlast'
    rows = split(data, chunk)
    assert [(n, raw) for n, raw, _, _ in rows] == [
        (1, '{"a":1}\n'),
        (2, "\n"),
        (3, '{"b":"é"}\r\n'),
        (4, "last"),
    ]
    assert [u for *_, u in rows] == [False, False, False, True]


def test_invalid_utf8_line_is_flagged_and_repaired():
    rows = split(b"ok\nbad \xff here\nok\n", 1 << 20)
    assert rows[1][2] == "invalid UTF-8"
    assert rows[1][1] == "bad \ufffd here\n"
    assert rows[0][2] is None and rows[2][2] is None


@pytest.mark.parametrize("chunk", [4096, 1 << 20, 4 << 20])
def test_oversize_line_is_cut_and_numbering_continues(chunk):
    big = b"x" * (MAX_RECORD_BYTES * 2 + 5)
    rows = split(b"a\n" + big + b"\nb\n", chunk)
    assert [n for n, *_ in rows] == [1, 2, 3]
    assert rows[1][2] is not None and rows[1][2].startswith("record too large")
    assert (
        str(MAX_RECORD_BYTES * 2 + 6) in rows[1][2] or str(MAX_RECORD_BYTES * 2 + 5) in rows[1][2]
    )
    assert len(rows[1][1]) <= max(RAW_KEEP_BYTES, len(big) + 1)
    assert rows[2][1] == "b\n"


def test_file_without_any_newline_stays_bounded():
    rows = split(b"y" * (MAX_RECORD_BYTES * 3), 1 << 16)
    assert len(rows) == 1
    assert rows[0][2].startswith("record too large")
    assert len(rows[0][1]) == RAW_KEEP_BYTES
    assert rows[0][3] is True
