"""The vectorized range search: boundaries, gaps and 16-byte IPv6 keys."""

from __future__ import annotations

import ipaddress

import numpy as np

from detector.enrich.ranges import RangeTable


def test_ipv4_boundaries_and_gaps() -> None:
    table = RangeTable.build(
        np.array([30, 10, 50], np.uint32), np.array([39, 19, 50], np.uint32), np.array([3, 1, 5])
    )
    keys = np.array([0, 9, 10, 15, 19, 20, 29, 30, 39, 40, 50, 51, 2**32 - 1], np.uint32)
    assert table.find(keys).tolist() == [-1, -1, 1, 1, 1, -1, -1, 3, 3, -1, 5, -1, -1]
    assert table.find(keys, missing=0).tolist()[0] == 0


def test_ipv6_keys_compare_as_addresses() -> None:
    def key(text: str) -> bytes:
        return ipaddress.IPv6Address(text).packed

    starts = np.array([key("2001:db8::"), key("::1"), key("2001:db8:1::")], "S16")
    ends = np.array(
        [key("2001:db8:0:ffff:ffff:ffff:ffff:ffff"), key("::1"), key("2001:db8:1::ff")], "S16"
    )
    table = RangeTable.build(starts, ends, np.array([7, 8, 9]))
    queries = np.array(
        [key(t) for t in ["::", "::1", "::2", "2001:db8::5", "2001:db8:1::ff", "2001:db8:1::100"]],
        "S16",
    )
    assert table.find(queries).tolist() == [-1, 8, -1, 7, 9, -1]


def test_empty_inputs() -> None:
    table = RangeTable.build(np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, int))
    assert table.find(np.array([1, 2], np.uint32)).tolist() == [-1, -1]
    assert len(table.find(np.zeros(0, np.uint32))) == 0
