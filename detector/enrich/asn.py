"""AS number, AS name and operator category per address range, from `plevin-db-network` data.

`plevin-db-network` ships a routing snapshot (prefix -> ASN, network handle, operator
category) inside the package; `plevin` reads it one address at a time. We read the whole
range table once through plevin's own file reader, turn it into numpy range tables, and cache
them on disk keyed by the two package versions and the data's build date, so later processes
load them in a fraction of a second and every lookup is a vectorized search.

The file reader is plevin's internal API (`plevin.reader.File`); if a future plevin changes
it, extraction fails with `AsnDataError` and enrichment goes on without AS data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.enrich.cache import cached_arrays
from detector.enrich.ranges import RangeTable

READER_PACKAGE = "plevin"
DATA_PACKAGE = "plevin-db-network"
HOSTING_CATEGORIES = frozenset({"hosting", "cdn"})
CACHE_FORMAT = 2  # bump when the arrays written by `_extract` change


class AsnDataError(RuntimeError):
    """The plevin data file could not be read into range tables."""


@dataclass(frozen=True)
class AsnTables:
    """Range tables whose labels are network ids, and per-network AS facts (id 0 = none)."""

    v4: RangeTable
    v6: RangeTable
    numbers: np.ndarray  # int64 AS number per network id, -1 unknown
    names: pa.StringArray  # AS handle per network id, null when unknown
    hosting: np.ndarray  # bool: the operator is a hosting or CDN company
    source: str  # e.g. "plevin-db-network 2026.10.4.2 (built 2026-10-04)"; "" when absent


@cache
def asn_tables() -> AsnTables:
    """Load (from the disk cache, else from plevin's data file) the AS range tables."""
    try:
        version = metadata.version(DATA_PACKAGE)
        reader_version = metadata.version(READER_PACKAGE)
        import plevin_db_network
        from plevin.reader import File

        # Open this package's file by path: plevin.database() may pick another plevin-db-*.
        file = File(plevin_db_network.PATH)
        built = str(file.built)
        key = f"v{CACHE_FORMAT}-{READER_PACKAGE}-{reader_version}-{DATA_PACKAGE}-{version}-{built}"
        arrays = cached_arrays("asn", key, lambda: _extract(file))
    except (metadata.PackageNotFoundError, ImportError, OSError, ValueError, AsnDataError):
        return _empty()
    return AsnTables(
        v4=RangeTable(arrays["v4_starts"], arrays["v4_ends"], arrays["v4_networks"]),
        v6=RangeTable(arrays["v6_starts"], arrays["v6_ends"], arrays["v6_networks"]),
        numbers=arrays["numbers"],
        names=_names(arrays["name_bytes"], arrays["name_offsets"]),
        hosting=arrays["hosting"],
        source=f"{DATA_PACKAGE} {version} (built {built}, read with plevin {reader_version})",
    )


def _empty() -> AsnTables:
    none = RangeTable(np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.int64))
    none6 = RangeTable(np.zeros(0, "S16"), np.zeros(0, "S16"), np.zeros(0, np.int64))
    return AsnTables(
        none, none6, np.full(1, -1, np.int64), pa.nulls(1, pa.string()), np.zeros(1, bool), ""
    )


def _names(data: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """Handles stored as Arrow-style UTF-8 bytes + offsets, to a string array (empty -> null)."""
    names = pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
    )
    result: pa.StringArray = pc.if_else(pc.equal(pc.binary_length(names), 0), None, names)
    return result


def _extract(file: Any) -> dict[str, np.ndarray]:
    """Read plevin's spine (range starts -> network) and network columns into arrays."""
    try:
        sections = file.sections
        v4_starts = np.fromiter(_index_values(sections["spine.v4"]), dtype=np.uint64)
        v6_starts = list(_index_values(sections["spine.v6"]))
        v4_networks = _column(sections["spine.v4.network"])
        v6_networks = _column(sections["spine.v6.network"])
        asn = _column(sections["col.network.asn"])
        operator = _column(sections["link.network.operator"])
        category = _column(sections["col.operator.category"])
        handles = sections["col.network.handle"]
        strings = sections["strings"]
        names = [strings[handles[row]] for row in range(handles.count)]
        categories: list[str] = file.head["vocabularies"]["categories"]
    except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
        raise AsnDataError(f"cannot read plevin data: {exc}") from exc

    hosting_codes = np.array([c in HOSTING_CATEGORIES for c in categories], dtype=bool)
    operator_hosting = np.zeros(len(category) + 1, dtype=bool)
    operator_hosting[1:] = hosting_codes[category]
    # Network ids in the spine are 1-based (0 = no network); the same goes for operator links.
    numbers = np.concatenate([[-1], np.where(asn > 0, asn, -1)]).astype(np.int64)
    hosting = np.concatenate([[False], operator_hosting[operator]])
    v4_ends = np.empty(len(v4_starts), dtype=np.uint64)
    v4_ends[:-1] = v4_starts[1:].astype(np.uint64) - 1
    v4_ends[-1] = 2**32 - 1
    v6_ends = _s16_ends(v6_starts)
    return {
        "v4_starts": v4_starts.astype(np.uint32),
        "v4_ends": v4_ends.astype(np.uint32),
        "v4_networks": v4_networks.astype(np.int32),
        "v6_starts": _s16(v6_starts),
        "v6_ends": v6_ends,
        "v6_networks": v6_networks.astype(np.int32),
        "numbers": numbers,
        **_encoded_names(["", *names]),
        "hosting": hosting,
    }


def _encoded_names(names: list[str]) -> dict[str, np.ndarray]:
    arrow = pa.array(names, pa.string())
    offsets = np.frombuffer(arrow.buffers()[1], dtype=np.int32)[: len(names) + 1]
    data = np.frombuffer(arrow.buffers()[2], dtype=np.uint8)[: offsets[-1]]
    return {"name_bytes": data.copy(), "name_offsets": offsets.copy()}


def _index_values(index: Any) -> Iterator[int]:
    """Every range start in a plevin index section, in order."""
    groups = -(-index.count // index.per_group)
    return itertools.chain.from_iterable(index.groups[g] for g in range(groups))


def _column(section: Any) -> np.ndarray:
    return np.concatenate(
        [np.asarray(section.whole(block), dtype=np.int64) for block in range(section.blocks)]
    )


def _s16(values: list[int]) -> np.ndarray:
    return np.frombuffer(b"".join(v.to_bytes(16, "big") for v in values), dtype="S16")


def _s16_ends(starts: list[int]) -> np.ndarray:
    """Each range ends where the next begins (plevin's own lookup rule)."""
    return _s16([nxt - 1 for nxt in starts[1:]] + [2**128 - 1])
