"""Network class (hosting, VPN, Tor) from the range table shipped inside `iporigin`.

iporigin compiles the providers' own published feeds (AWS, GCP, Azure, Oracle, Hetzner, OVH,
DigitalOcean, ... ; Mullvad, ProtonVPN, Apple Private Relay; Tor exits; declared crawlers)
into one packed binary of non-overlapping ranges. Its own reader keeps Python lists and
bisects one address at a time, so we read the same file with numpy record dtypes instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata, resources
from typing import Final, Literal

import numpy as np

from detector.enrich.ranges import RangeTable

PACKAGE = "iporigin"
DATA_FILE = "data/ranges.bin"
MAGIC = b"IPORIGIN"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHQHII")
_V4_RECORD = np.dtype([("start", "<u4"), ("end", "<u4"), ("label", "<u2")])
_V6_RECORD = np.dtype([("start", "S16"), ("end", "S16"), ("label", "<u2")])

NetworkClass = Literal["hosting", "vpn", "tor", "residential"]
NETWORK_CLASSES: Final = ("residential", "hosting", "vpn", "tor")
RESIDENTIAL, HOSTING, VPN, TOR = range(4)
# iporigin's kinds folded into the contract's four classes: a CDN edge or a declared crawler
# is a machine in someone's data centre, not a person's line.
KIND_CODES: Final = {"hosting": HOSTING, "cdn": HOSTING, "bot": HOSTING, "vpn": VPN, "tor": TOR}


class NetclassDataError(RuntimeError):
    """The iporigin data file is missing or in a format this code does not understand."""


@dataclass(frozen=True)
class NetclassTables:
    """Range tables whose labels are class codes (indexes into NETWORK_CLASSES)."""

    v4: RangeTable
    v6: RangeTable
    providers: tuple[str, ...]
    built_at: datetime
    version: str


@cache
def netclass_tables() -> NetclassTables:
    """Parse iporigin's packed ranges once per process (a few milliseconds)."""
    blob = resources.files(PACKAGE).joinpath(DATA_FILE).read_bytes()
    magic, fmt, built_at, n_labels, n_v4, n_v6 = _HEADER.unpack_from(blob, 0)
    if magic != MAGIC or fmt != FORMAT_VERSION:
        raise NetclassDataError(f"{PACKAGE} data: unexpected header {magic!r} v{fmt}")
    offset = _HEADER.size
    codes: list[int] = []
    providers: list[str] = []
    for _ in range(n_labels):
        (length,) = struct.unpack_from("<H", blob, offset)
        provider, _, kind = blob[offset + 2 : offset + 2 + length].decode().partition("\t")
        codes.append(KIND_CODES.get(kind, RESIDENTIAL))
        providers.append(provider)
        offset += 2 + length
    v4 = np.frombuffer(blob, dtype=_V4_RECORD, count=n_v4, offset=offset)
    offset += n_v4 * _V4_RECORD.itemsize
    v6 = np.frombuffer(blob, dtype=_V6_RECORD, count=n_v6, offset=offset)
    code_of = np.asarray(codes, dtype=np.int64)
    return NetclassTables(
        v4=RangeTable.build(v4["start"].copy(), v4["end"].copy(), code_of[v4["label"]]),
        v6=RangeTable.build(v6["start"].copy(), v6["end"].copy(), code_of[v6["label"]]),
        providers=tuple(sorted(set(providers))),
        built_at=datetime.fromtimestamp(built_at, UTC),
        version=metadata.version(PACKAGE),
    )
