"""Which reader a file needs: `--format auto` looks at magic bytes, the extension, then the text."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Literal, get_args

from detector.errors import InputError
from detector.ingest.csv_reader import CsvReader
from detector.ingest.jsonl_reader import GZIP_MAGIC, JsonLinesReader
from detector.ingest.parquet_reader import ParquetReader
from detector.ingest.readers import Reader

Format = Literal["auto", "jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = get_args(Format)

PARQUET_MAGIC = b"PAR1"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
SNIFF_BYTES = 64 * 1024


def reader_for(fmt: str) -> Reader:
    """The reader of a named format."""
    readers: dict[str, Reader] = {
        "jsonl": JsonLinesReader(),
        "csv": CsvReader(),
        "parquet": ParquetReader(),
    }
    if fmt not in readers:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return readers[fmt]


def _head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the file, decompressed if it is gzip, and whether it was."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.startswith(GZIP_MAGIC):
        return head, False
    try:
        return zlib.decompressobj(wbits=31).decompress(head, SNIFF_BYTES), True
    except zlib.error as exc:
        raise InputError(f"{path}: corrupt gzip data: {exc}") from exc


def _by_text(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return None
    if text[:1] in (b"{", b"["):
        return "jsonl"
    first_line = text.split(b"\n", 1)[0]
    if b"," in first_line:
        return "csv"
    return None


def detect_format(path: Path) -> str:
    """`jsonl`, `csv` or `parquet` for `path`, from its content and name; InputError if unclear."""
    head, compressed = _head(path)
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    name = path.name.lower()
    stem = name[: -len(".gz")] if name.endswith(".gz") else name
    if stem.endswith(PARQUET_SUFFIXES) and not compressed:
        return "parquet"
    if stem.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if stem.endswith(CSV_SUFFIXES):
        if compressed:
            raise InputError(f"{path}: gzip-compressed CSV is not supported; decompress it first")
        return "csv"
    if not head:
        return "jsonl"  # an empty file holds no records in any format
    sniffed = _by_text(head)
    if sniffed == "csv" and compressed:
        raise InputError(f"{path}: gzip-compressed CSV is not supported; decompress it first")
    if sniffed is None:
        raise InputError(
            f"{path}: cannot tell the format (not JSON Lines, CSV or Parquet); use --format"
        )
    return sniffed


def resolve_reader(path: Path, fmt: str) -> Reader:
    """The reader for `path` under `--format fmt` (`auto` detects)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return reader_for(detect_format(path) if fmt == "auto" else fmt)


__all__ = ["FORMATS", "Format", "detect_format", "reader_for", "resolve_reader"]
