"""IANA special-purpose address blocks (RFC 6890 and successors): not publicly routed."""

from __future__ import annotations

import ipaddress
from functools import cache

import numpy as np

from detector.enrich.ranges import RangeTable

SPECIAL_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
SPECIAL_V6 = (
    "::/128",
    "::1/128",
    "::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


@cache
def special_tables() -> tuple[RangeTable, RangeTable]:
    """Range tables (label 1) for the IPv4 and IPv6 special-purpose blocks."""
    v4 = [ipaddress.IPv4Network(n) for n in SPECIAL_V4]
    v6 = [ipaddress.IPv6Network(n) for n in SPECIAL_V6]
    table_v4 = RangeTable.build(
        np.array([int(n.network_address) for n in v4], np.uint32),
        np.array([int(n.broadcast_address) for n in v4], np.uint32),
        np.ones(len(v4), np.int64),
    )
    table_v6 = RangeTable.build(
        np.array([n.network_address.packed for n in v6], "S16"),
        np.array([n.broadcast_address.packed for n in v6], "S16"),
        np.ones(len(v6), np.int64),
    )
    return table_v4, table_v6
