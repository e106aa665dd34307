"""Which reader a file needs: `--format auto` looks at magic bytes, the extension, then the text.

The container (JSON Lines, CSV, Parquet) comes from magic bytes and the name; within JSON Lines
and CSV the first record tells OpenTelemetry trace exports (`resourceSpans`) and LiteLLM spend
logs (`request_id`, `startTime` and `call_type` or `spend`) from canonical request logs.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Literal, get_args

from detector.errors import InputError
from detector.ingest.csv_reader import CsvReader
from detector.ingest.jsonl_reader import GZIP_MAGIC, JsonLinesReader
from detector.ingest.litellm_reader import LiteLLMReader
from detector.ingest.otel_reader import OtelReader
from detector.ingest.parquet_reader import ParquetReader
from detector.ingest.readers import Reader

Format = Literal["auto", "jsonl", "csv", "parquet", "otel", "litellm"]
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
        "otel": OtelReader(),
        "litellm": LiteLLMReader(),
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


OTEL_MARKER = b'"resourceSpans"'
LITELLM_KEYS = (b"request_id", b"startTime")
LITELLM_ANY_KEY = (b"call_type", b"spend")


def _first_line(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]


def content_format(container: str, head: bytes) -> str:
    """`otel` or `litellm` when the first record of a JSON Lines or CSV file says so, else `container`."""
    first = _first_line(head)
    if container == "jsonl" and OTEL_MARKER in first:
        return "otel"
    if container in ("jsonl", "csv"):
        quoted_keys = [b'"' + key + b'"' for key in (*LITELLM_KEYS, *LITELLM_ANY_KEY)]
        keys = quoted_keys if container == "jsonl" else [*LITELLM_KEYS, *LITELLM_ANY_KEY]
        if all(key in first for key in keys[:2]) and any(key in first for key in keys[2:]):
            return "litellm"
    return container


def container_format(path: Path) -> str:
    """`jsonl`, `csv` or `parquet`: how the records of `path` are laid out."""
    return detect_container(path)[0]


def detect_format(path: Path) -> str:
    """The format of `path` from its content and name: `jsonl`, `csv`, `parquet`, `otel` or
    `litellm`; InputError if unclear."""
    container, head = detect_container(path)
    return content_format(container, head)


def detect_container(path: Path) -> tuple[str, bytes]:
    """`jsonl`, `csv` or `parquet` for `path`, and its first bytes (decompressed); InputError if unclear."""
    head, compressed = _head(path)
    if head.startswith(PARQUET_MAGIC):
        return "parquet", head
    name = path.name.lower()
    stem = name[: -len(".gz")] if name.endswith(".gz") else name
    if stem.endswith(PARQUET_SUFFIXES) and not compressed:
        return "parquet", head
    if stem.endswith(JSONL_SUFFIXES):
        return "jsonl", head
    if stem.endswith(CSV_SUFFIXES):
        return "csv", head
    if not head:
        return "jsonl", head  # an empty file holds no records in any format
    sniffed = _by_text(head)
    if sniffed is None:
        raise InputError(
            f"{path}: cannot tell the format (not JSON Lines, CSV or Parquet); use --format"
        )
    return sniffed, head


def resolve_reader(path: Path, fmt: str) -> Reader:
    """The reader for `path` under `--format fmt` (`auto` detects)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    container: str | None = None
    chosen = fmt
    if fmt == "auto":
        container, head = detect_container(path)  # the head is read once, for both questions
        chosen = content_format(container, head)
    if chosen == "litellm":
        container = container or container_format(path)
        if container == "parquet":
            raise InputError(
                f"{path}: LiteLLM spend logs are read from JSON Lines or CSV, not Parquet"
            )
        return LiteLLMReader(container=container)
    return reader_for(chosen)


__all__ = [
    "FORMATS",
    "Format",
    "container_format",
    "content_format",
    "detect_format",
    "reader_for",
    "resolve_reader",
]
