"""`--format auto`: magic bytes first, then the extension, then the first characters."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detector.errors import InputError
from detector.ingest import detect_format


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", b'{"a": 1}\n', "jsonl"),
        ("a.ndjson", b'{"a": 1}\n', "jsonl"),
        ("a.csv", b"request_id,prompt\n1,x\n", "csv"),
        ("noext", b'  \n{"a": 1}\n', "jsonl"),
        ("noext", b"[1, 2]\n", "jsonl"),
        ("noext", b"request_id,prompt\n1,x\n", "csv"),
        ("a.jsonl.gz", gzip.compress(b'{"a": 1}\n', mtime=0), "jsonl"),
        ("a.gz", gzip.compress(b'{"a": 1}\n', mtime=0), "jsonl"),
        ("a.log", b"", "jsonl"),
    ],
)
def test_detects_text_formats(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_format(path) == expected


def test_parquet_is_detected_by_magic_whatever_the_name(tmp_path):
    path = tmp_path / "export.dat"
    pq.write_table(pa.table({"a": [1]}), path)
    assert detect_format(path) == "parquet"


@pytest.mark.parametrize("name", ["a.csv.gz", "export.gz"])
def test_gzip_csv_is_detected_by_name_or_by_content(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert detect_format(path) == "csv"


def test_unknown_content_is_refused(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"\x00\x00\x00")
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(path)
