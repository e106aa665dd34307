"""Country ranges from the data file shipped inside the `geoip2fast` package.

geoip2fast ships MaxMind GeoLite2 country ranges (IPv4 and IPv6) as a gzipped pickle of sorted
Python lists. We read that file directly (never geoip2fast's updater, which can download),
turn it into numpy range tables, and cache those on disk keyed by the package version.
"""

from __future__ import annotations

import gzip
import itertools
import pickle
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources

import numpy as np

from detector.enrich.cache import cached_arrays
from detector.enrich.ranges import RangeTable

PACKAGE = "geoip2fast"
DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
MAX_IPV4 = 2**32 - 1
# geoip2fast numbers 16 pseudo-countries first: 15 kinds of non-public space (private,
# loopback, shared/CGNAT, test nets, multicast, ...), then "99: not found in database".
RESERVED_COUNTRY_IDS = 15
NOT_FOUND_COUNTRY_ID = 15


@dataclass(frozen=True)
class GeoTables:
    """Country range tables for IPv4 and IPv6; labels index `country_codes`."""

    v4: RangeTable
    v6: RangeTable
    country_codes: np.ndarray  # object: ISO alpha-2 per id, None for the pseudo-countries
    reserved: np.ndarray  # bool per id: private / loopback / reserved space
    source: str  # e.g. "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618"
    version: str


@cache
def geo_tables() -> GeoTables:
    """Country tables for the installed geoip2fast, from the disk cache or its data file."""
    version = metadata.version(PACKAGE)
    arrays = cached_arrays("country", f"{PACKAGE}-{version}", _extract)
    codes = np.char.decode(arrays["codes"], "ascii").astype(object)
    reserved = np.arange(len(codes)) < RESERVED_COUNTRY_IDS
    codes[reserved] = None
    codes[NOT_FOUND_COUNTRY_ID] = None
    return GeoTables(
        v4=RangeTable(arrays["v4_starts"], arrays["v4_ends"], arrays["v4_ids"]),
        v6=RangeTable(arrays["v6_starts"], arrays["v6_ends"], arrays["v6_ids"]),
        country_codes=codes,
        reserved=reserved,
        source=str(arrays["source"]),
        version=version,
    )


def _extract() -> dict[str, np.ndarray]:
    path = resources.files(PACKAGE).joinpath(DATA_FILE)
    with path.open("rb") as raw, gzip.open(raw, "rb") as handle:
        # Trusted input: a data file installed with the package, like its code.
        _format, source_info, _total, database = pickle.load(handle)
    country_names, first_ip, country_ids, netlengths = (
        database[2],
        database[4],
        database[6],
        database[8],
    )
    starts = list(itertools.chain.from_iterable(first_ip))
    lengths = np.fromiter(itertools.chain.from_iterable(netlengths), dtype=np.int64)
    ids = np.fromiter(itertools.chain.from_iterable(country_ids), dtype=np.int32)
    # IPv4 entries come first and are the only ones whose start fits in 32 bits.
    n_v4 = next((i for i, s in enumerate(starts) if s > MAX_IPV4), len(starts))
    v4_starts = np.array(starts[:n_v4], dtype=np.uint64)
    v4_ends = v4_starts + np.left_shift(np.uint64(1), (32 - lengths[:n_v4]).astype(np.uint64))
    v6_ints = starts[n_v4:]
    v6_ends = [
        s + (1 << (128 - n)) - 1 for s, n in zip(v6_ints, lengths[n_v4:].tolist(), strict=True)
    ]
    return {
        "v4_starts": v4_starts.astype(np.uint32),
        "v4_ends": (v4_ends - np.uint64(1)).astype(np.uint32),
        "v4_ids": ids[:n_v4],
        "v6_starts": _s16(v6_ints),
        "v6_ends": _s16(v6_ends),
        "v6_ids": ids[n_v4:],
        "codes": np.array([name.split(":", 1)[0].encode() for name in country_names], dtype=bytes),
        "source": np.array(str(source_info.get("info", ""))),
    }


def _s16(values: list[int]) -> np.ndarray:
    """128-bit integers as a numpy array of 16-byte big-endian keys."""
    if not values:
        return np.zeros(0, dtype="S16")
    return np.frombuffer(b"".join(v.to_bytes(16, "big") for v in values), dtype="S16")
