"""Parse IP address strings into sortable keys and network prefixes, vectorized.

Accepted forms: dotted-quad IPv4 with no leading zeros (``01.2.3.4`` is rejected: some
parsers read it as octal, others as decimal, so it is ambiguous), and any IPv6 text form that
the C library's ``inet_pton`` accepts. Surrounding whitespace is stripped. IPv4-mapped IPv6
(``::ffff:1.2.3.4``) is treated as the IPv4 address it carries.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
IPV4_PREFIX_BITS = 24
IPV6_PREFIX_BITS = 48
_IPV4_MAPPED = b"\0" * 10 + b"\xff\xff"
_NO_V6 = np.zeros(0, dtype="S16")


@dataclass(frozen=True)
class ParsedAddresses:
    """Addresses parsed from n strings; the key arrays are compact (one entry per v4 / v6 row)."""

    valid: np.ndarray  # bool, n
    is_v4: np.ndarray  # bool, n (valid IPv4, including IPv4-mapped IPv6)
    is_v6: np.ndarray  # bool, n (valid native IPv6)
    v4_keys: np.ndarray  # uint32, one per True in is_v4 (in row order)
    v6_keys: np.ndarray  # S16 big-endian, one per True in is_v6 (in row order)
    prefix: pa.StringArray  # n, null where invalid


def parse_addresses(values: pa.Array) -> ParsedAddresses:
    """Parse a string array (ideally of distinct values) into validity, keys and prefixes."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    n = len(text)
    v4_mask = pc.fill_null(pc.match_substring_regex(text, IPV4_PATTERN), False)
    is_v4 = v4_mask.to_numpy(zero_copy_only=False).astype(bool)
    v4_keys = _ipv4_keys(pc.filter(text, v4_mask))

    maybe_v6 = pc.fill_null(pc.match_substring(text, ":"), False)
    v6_rows = np.flatnonzero(maybe_v6.to_numpy(zero_copy_only=False))
    v6_candidates = pc.take(text, pa.array(v6_rows, pa.int64())).to_pylist()
    mapped_rows, mapped_keys, native_rows, native_keys, native_prefixes = _parse_ipv6(
        v6_rows, v6_candidates
    )

    # Prefixes are built per family, then put in row order with one `take`: v4 rows first,
    # then IPv4-mapped rows, then native IPv6 rows, then a null for the invalid rows.
    v4_rows = np.flatnonzero(is_v4)
    families = [v4_rows, mapped_rows, native_rows]
    sizes = np.cumsum([0] + [len(f) for f in families])
    position = np.full(n, sizes[-1], dtype=np.int64)
    for rows, offset in zip(families, sizes[:-1], strict=True):
        position[rows] = offset + np.arange(len(rows))
    all_prefixes = pa.concat_arrays(
        [
            _ipv4_prefixes(v4_keys),
            _ipv4_prefixes(mapped_keys),
            pa.array(native_prefixes, pa.string()),
            pa.nulls(1, pa.string()),
        ]
    )
    if mapped_rows.size:
        merged = np.zeros(n, dtype=np.uint32)
        merged[v4_rows] = v4_keys
        merged[mapped_rows] = mapped_keys
        is_v4 = is_v4.copy()
        is_v4[mapped_rows] = True
        v4_keys = merged[is_v4]
    is_v6 = np.zeros(n, dtype=bool)
    is_v6[native_rows] = True
    return ParsedAddresses(
        valid=is_v4 | is_v6,
        is_v4=is_v4,
        is_v6=is_v6,
        v4_keys=v4_keys,
        v6_keys=native_keys,
        prefix=all_prefixes.take(pa.array(position)),
    )


def _ipv4_keys(dotted: pa.Array) -> np.ndarray:
    """Already-validated dotted quads to big-endian uint32 integers."""
    if len(dotted) == 0:
        return np.zeros(0, dtype=np.uint32)
    parts = pc.split_pattern(dotted, ".").flatten()
    octets = pc.cast(parts, pa.uint32()).to_numpy().reshape(-1, 4)
    return (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]


def _ipv4_prefixes(keys: np.ndarray) -> pa.Array:
    """The /24 network of each uint32 address, as text like ``203.0.113.0/24``."""
    octets = [pa.array((keys >> shift) & 0xFF).cast(pa.string()) for shift in (24, 16, 8)]
    return pc.binary_join_element_wise(*octets, f"0/{IPV4_PREFIX_BITS}", ".")


def _parse_ipv6(
    rows: np.ndarray, candidates: list[str | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Parse the (rarer) strings that look like IPv6 with the C parser, one call each.

    Returns rows and keys of IPv4-mapped addresses, then rows, S16 keys and /48 prefixes of
    native IPv6 addresses. Zone ids (``fe80::1%eth0``) are rejected.
    """
    mapped_rows: list[int] = []
    mapped_keys: list[bytes] = []
    native_rows: list[int] = []
    native_keys: list[bytes] = []
    for row, candidate in zip(rows.tolist(), candidates, strict=True):
        try:
            packed = socket.inet_pton(socket.AF_INET6, candidate or "")
        except (OSError, ValueError):
            continue
        if packed.startswith(_IPV4_MAPPED):
            mapped_rows.append(row)
            mapped_keys.append(packed[12:])
        else:
            native_rows.append(row)
            native_keys.append(packed)
    keys = np.frombuffer(b"".join(native_keys), dtype="S16") if native_keys else _NO_V6
    return (
        np.asarray(mapped_rows, dtype=np.int64),
        np.frombuffer(b"".join(mapped_keys), dtype=">u4").astype(np.uint32),
        np.asarray(native_rows, dtype=np.int64),
        keys,
        ipv6_prefixes(keys),
    )


def ipv6_prefixes(keys: np.ndarray) -> list[str]:
    """The /48 network of each S16 key, in RFC 5952 text like ``2001:db8:abcd::/48``."""
    if len(keys) == 0:
        return []
    groups = np.frombuffer(keys.tobytes(), dtype=">u2").reshape(-1, 8)[:, :3].tolist()
    return [_prefix48(g0, g1, g2) for g0, g1, g2 in groups]


def _prefix48(g0: int, g1: int, g2: int) -> str:
    # Groups 3-7 are zero, so the longest zero run (the one RFC 5952 compresses) is the
    # trailing one, extended left over any zero groups among the first three.
    if g2:
        return f"{g0:x}:{g1:x}:{g2:x}::/48"
    if g1:
        return f"{g0:x}:{g1:x}::/48"
    if g0:
        return f"{g0:x}::/48"
    return "::/48"
