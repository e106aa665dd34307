"""VPN, proxy, private-relay and Tor exit addresses from `plevin-db-abuse` data.

`plevin-db-abuse` ships ranges and single host addresses tagged with a service
(``anonymous_vpn``, ``public_proxy``, ``residential_proxy``, ``private_relay``,
``tor_exit_node``) and the provider behind them (NordVPN, ExpressVPN, iCloud Private Relay,
...). Like `asn`, we read its file once through plevin's reader, keep only the class per range
and per host, and cache the arrays on disk keyed by the package versions and build date.

In the contract's four classes every anonymizing service is ``vpn`` except Tor exits
(``tor``): a proxy or relay exit hides the client just as a VPN does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np

from detector.enrich.cache import cached_arrays
from detector.enrich.netclass import RESIDENTIAL, TOR, VPN
from detector.enrich.ranges import RangeTable

READER_PACKAGE = "plevin"
DATA_PACKAGE = "plevin-db-abuse"
SERVICE_CLASSES = {
    "tor_exit_node": TOR,
    "anonymous_vpn": VPN,
    "private_relay": VPN,
    "public_proxy": VPN,
    "residential_proxy": VPN,
}
CACHE_FORMAT = 2  # bump when the arrays written by `_extract` change


@dataclass(frozen=True)
class AnonymizerTables:
    """Per family: ranges and single hosts whose labels are class codes (RESIDENTIAL = none)."""

    v4_ranges: RangeTable
    v4_hosts: RangeTable
    v6_ranges: RangeTable
    v6_hosts: RangeTable
    source: str  # e.g. "plevin-db-abuse 2026.10.4.2 (built 2026-10-04)"; "" when absent

    def classify(self, keys: np.ndarray, v6: bool) -> np.ndarray:
        """Class code per key: a host entry wins over the range it sits in, as in plevin."""
        ranges, hosts = (self.v6_ranges, self.v6_hosts) if v6 else (self.v4_ranges, self.v4_hosts)
        codes = ranges.find(keys, missing=RESIDENTIAL)
        host_codes = hosts.find(keys, missing=-1)
        return np.where(host_codes >= 0, host_codes, codes)


@cache
def anonymizer_tables() -> AnonymizerTables:
    """Load (from the disk cache, else from plevin-db-abuse's file) the anonymizer tables."""
    try:
        version = metadata.version(DATA_PACKAGE)
        reader_version = metadata.version(READER_PACKAGE)
        import plevin_db_abuse
        from plevin.reader import File

        file = File(plevin_db_abuse.PATH)
        built = str(file.built)
        key = f"v{CACHE_FORMAT}-{READER_PACKAGE}-{reader_version}-{DATA_PACKAGE}-{version}-{built}"
        arrays = cached_arrays("anonymizers", key, lambda: _extract(file))
    except (metadata.PackageNotFoundError, ImportError, OSError, ValueError, AbuseDataError):
        return _empty()
    tables = {
        name: RangeTable(arrays[f"{name}_starts"], arrays[f"{name}_ends"], arrays[f"{name}_codes"])
        for name in ("v4_ranges", "v6_ranges")
    } | {  # a host is a range of one address
        name: RangeTable(
            arrays[f"{name}_starts"], arrays[f"{name}_starts"], arrays[f"{name}_codes"]
        )
        for name in ("v4_hosts", "v6_hosts")
    }
    return AnonymizerTables(
        **tables,
        source=f"{DATA_PACKAGE} {version} (built {built}, read with plevin {reader_version})",
    )


class AbuseDataError(RuntimeError):
    """The plevin-db-abuse file could not be read into range tables."""


def _empty() -> AnonymizerTables:
    v4 = RangeTable(np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.int8))
    v6 = RangeTable(np.zeros(0, "S16"), np.zeros(0, "S16"), np.zeros(0, np.int8))
    return AnonymizerTables(v4, v4, v6, v6, "")


def _extract(file: Any) -> dict[str, np.ndarray]:
    try:
        sections = file.sections
        services: list[str] = file.head["vocabularies"]["services"]
        service = _column(sections["col.abuse.service"])
        # Abuse ids are 1-based (0 = none): class code per abuse id.
        code_of = np.array(
            [RESIDENTIAL] + [SERVICE_CLASSES.get(services[s], RESIDENTIAL) for s in service],
            dtype=np.int8,
        )
        out: dict[str, np.ndarray] = {}
        for family, width in (("v4", 4), ("v6", 16)):
            starts = list(_index_values(sections[f"spine.{family}"]))
            codes = code_of[_column(sections[f"spine.{family}.abuse"])]
            ends = [nxt - 1 for nxt in starts[1:]] + [2 ** (8 * width) - 1]
            keep = codes != RESIDENTIAL
            out[f"{family}_ranges_starts"] = _keys(starts, width)[keep]
            out[f"{family}_ranges_ends"] = _keys(ends, width)[keep]
            out[f"{family}_ranges_codes"] = codes[keep]
            hosts = _keys(list(_index_values(sections[f"hosts.{family}"])), width)
            # Host records are 0-based abuse ids (plevin adds one), range records 1-based.
            host_codes = code_of[_column(sections[f"hosts.{family}.abuse"]) + 1]
            # Hosts with an abuse level but no anonymizing service are dropped (most of them).
            # plevin would let such a host override the class of a flagged range around it.
            keep = host_codes != RESIDENTIAL
            out[f"{family}_hosts_starts"] = hosts[keep]
            out[f"{family}_hosts_codes"] = host_codes[keep]
    except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
        raise AbuseDataError(f"cannot read plevin abuse data: {exc}") from exc
    return out


def _index_values(index: Any) -> Iterator[int]:
    groups = -(-index.count // index.per_group)
    return itertools.chain.from_iterable(index.groups[g] for g in range(groups))


def _column(section: Any) -> np.ndarray:
    return np.concatenate(
        [np.asarray(section.whole(block), dtype=np.int64) for block in range(section.blocks)]
    )


def _keys(values: list[int], width: int) -> np.ndarray:
    if width == 4:
        return np.array(values, dtype=np.uint64).astype(np.uint32)
    if not values:
        return np.zeros(0, "S16")
    return np.frombuffer(b"".join(v.to_bytes(16, "big") for v in values), dtype="S16")
