"""Address parsing and prefixes, checked against Python's own `ipaddress` as the reference."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.enrich.addresses import ipv6_prefixes, parse_addresses


def _parse(values: list[str | None]):
    return parse_addresses(pa.array(values, pa.string()))


def _reference_prefix(text: str) -> str:
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:  # by design: read as IPv4
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "abc",
        "",
        " ",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3.4/24",
        "1..2.3",
        "-1.2.3.4",
        "1.2.3.4:80",
        "gggg::1",
        "1:2:3:4:5:6:7:8:9",
        "2001:db8::1::2",
        "fe80::1%eth0",
        "::ffff:999.1.1.1",
        "0x7f.0.0.1",
        "\uff11.\uff12.\uff13.\uff14",
    ],
)
def test_rejects_invalid_and_ambiguous(text: str) -> None:
    parsed = _parse([text])
    assert not parsed.valid[0]
    assert parsed.prefix[0].as_py() is None


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("0.0.0.0", "0.0.0.0/24"),
        ("255.255.255.255", "255.255.255.0/24"),
        ("  10.1.2.3\t", "10.1.2.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("2001:DB8:ABCD:0012:0000:0000:0000:0001", "2001:db8:abcd::/48"),
        ("2001:db8::1", "2001:db8::/48"),
        ("2001:0:5::1", "2001:0:5::/48"),
        ("::1", "::/48"),
        ("::ffff:192.0.2.7", "192.0.2.0/24"),
    ],
)
def test_valid_addresses_and_their_prefix(text: str, prefix: str) -> None:
    parsed = _parse([text])
    assert parsed.valid[0]
    assert parsed.prefix[0].as_py() == prefix


def test_ipv4_mapped_is_looked_up_as_ipv4() -> None:
    parsed = _parse(["::ffff:8.8.8.8", "8.8.8.8", "2001:db8::1"])
    assert parsed.is_v4.tolist() == [True, True, False]
    assert parsed.is_v6.tolist() == [False, False, True]
    assert parsed.v4_keys.tolist() == [0x08080808, 0x08080808]


def test_keys_are_big_endian_and_in_row_order() -> None:
    parsed = _parse(["1.2.3.4", "x", "2001:db8::2", "255.0.0.1", "::1"])
    assert parsed.v4_keys.tolist() == [0x01020304, 0xFF000001]
    assert [bytes(k).ljust(16, b"\0") for k in parsed.v6_keys] == [
        ipaddress.IPv6Address("2001:db8::2").packed,
        ipaddress.IPv6Address("::1").packed,
    ]


def test_nulls_are_invalid() -> None:
    parsed = _parse([None, "1.1.1.1", None])
    assert parsed.valid.tolist() == [False, True, False]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.ip_addresses(), min_size=1, max_size=50))
def test_any_address_parses_like_ipaddress(addresses: list) -> None:
    texts = [str(a) for a in addresses] + [a.exploded for a in addresses]
    parsed = _parse(texts)
    assert parsed.valid.all()
    assert parsed.prefix.to_pylist() == [_reference_prefix(t) for t in texts]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdef.:x %", max_size=20), max_size=30))
def test_random_strings_valid_only_if_ipaddress_agrees(texts: list[str]) -> None:
    parsed = _parse(texts)
    for text, valid in zip(texts, parsed.valid.tolist(), strict=True):
        if valid:
            assert _reference_prefix(text.strip()) is not None
        elif "%" not in text:  # zone ids: ipaddress accepts them, we do not
            with pytest.raises(ValueError):
                ipaddress.ip_address(text.strip())


def test_ipv6_prefixes_follow_rfc5952() -> None:
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 2, size=(500, 3)) * rng.integers(1, 0x10000, size=(500, 3))
    addresses = [
        ipaddress.IPv6Address(int(g0) << 112 | int(g1) << 96 | int(g2) << 80)
        for g0, g1, g2 in groups.tolist()
    ]
    keys = np.frombuffer(b"".join(a.packed for a in addresses), dtype="S16")
    expected = [str(ipaddress.ip_network(f"{a}/48")) for a in addresses]
    assert ipv6_prefixes(keys) == expected
