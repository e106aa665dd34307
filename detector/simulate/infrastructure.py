"""Network and client infrastructure: real ISP and cloud prefixes, IP pools, user agents, ids.

Prefixes are public ranges of real networks (checked against the offline ASN data of
`geoip2fast`), so that enrichment at ingest gives sensible ASNs, countries and network classes.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa


@dataclass(frozen=True)
class Prefix:
    """A public address block and what it is: its AS, country and kind of network."""

    cidr: str
    asn: int
    as_name: str
    country: str
    kind: str  # "residential", "mobile", "hosting", "campus", "business"


# Residential and mobile access networks, by the region whose users they serve.
RESIDENTIAL: dict[str, tuple[Prefix, ...]] = {
    "americas": (
        Prefix("73.0.0.0/10", 7922, "Comcast", "US", "residential"),
        Prefix("24.0.0.0/14", 7922, "Comcast", "US", "residential"),
        Prefix("70.112.0.0/13", 11427, "Charter Spectrum", "US", "residential"),
        Prefix("99.224.0.0/12", 812, "Rogers", "CA", "residential"),
        Prefix("187.10.0.0/15", 27699, "Telefonica Brasil", "BR", "residential"),
    ),
    "europe": (
        Prefix("79.192.0.0/10", 3320, "Deutsche Telekom", "DE", "residential"),
        Prefix("84.128.0.0/12", 3320, "Deutsche Telekom", "DE", "residential"),
        Prefix("91.0.0.0/11", 3320, "Deutsche Telekom", "DE", "residential"),
        Prefix("86.128.0.0/14", 2856, "British Telecom", "GB", "residential"),
        Prefix("90.8.0.0/14", 3215, "Orange", "FR", "residential"),
        Prefix("83.32.0.0/11", 3352, "Telefonica de Espana", "ES", "residential"),
    ),
    "asia": (
        Prefix("49.32.0.0/13", 55836, "Reliance Jio", "IN", "mobile"),
        Prefix("122.170.0.0/18", 24560, "Bharti Airtel", "IN", "residential"),
        Prefix("153.128.0.0/10", 4713, "NTT OCN", "JP", "residential"),
        Prefix("106.128.0.0/10", 2516, "KDDI", "JP", "mobile"),
        Prefix("175.200.0.0/21", 4766, "Korea Telecom", "KR", "residential"),
        Prefix("116.224.0.0/12", 4812, "China Telecom", "CN", "residential"),
        Prefix("123.112.0.0/14", 4808, "China Unicom", "CN", "residential"),
    ),
}

# IPv6 access networks (a share of households reach the API over IPv6).
RESIDENTIAL_V6: dict[str, tuple[Prefix, ...]] = {
    "americas": (Prefix("2601::/20", 7922, "Comcast", "US", "residential"),),
    "europe": (Prefix("2003::/19", 3320, "Deutsche Telekom", "DE", "residential"),),
    "asia": (Prefix("2405:200::/29", 55836, "Reliance Jio", "IN", "mobile"),),
}

HOSTING: tuple[Prefix, ...] = (
    Prefix("3.80.0.0/12", 14618, "Amazon AWS", "US", "hosting"),
    Prefix("54.144.0.0/14", 14618, "Amazon AWS", "US", "hosting"),
    Prefix("18.204.0.0/14", 14618, "Amazon AWS", "US", "hosting"),
    Prefix("52.8.0.0/13", 16509, "Amazon AWS", "US", "hosting"),
    Prefix("34.68.0.0/14", 396982, "Google Cloud", "US", "hosting"),
    Prefix("35.190.0.0/17", 15169, "Google", "US", "hosting"),
    Prefix("20.0.0.0/11", 8075, "Microsoft Azure", "US", "hosting"),
    Prefix("40.68.0.0/14", 8075, "Microsoft Azure", "US", "hosting"),
    Prefix("51.68.0.0/17", 16276, "OVH", "GB", "hosting"),
    Prefix("54.36.0.0/14", 16276, "OVH", "FR", "hosting"),
    Prefix("145.239.0.0/16", 16276, "OVH", "DE", "hosting"),
    Prefix("65.108.0.0/15", 24940, "Hetzner", "FI", "hosting"),
    Prefix("95.216.0.0/15", 24940, "Hetzner", "FI", "hosting"),
    Prefix("88.198.0.0/16", 24940, "Hetzner", "DE", "hosting"),
    Prefix("159.203.0.0/16", 14061, "DigitalOcean", "CA", "hosting"),
    Prefix("167.99.0.0/16", 14061, "DigitalOcean", "US", "hosting"),
    Prefix("134.209.0.0/16", 14061, "DigitalOcean", "US", "hosting"),
    Prefix("139.162.0.0/16", 63949, "Akamai Linode", "SG", "hosting"),
    Prefix("45.32.0.0/16", 20473, "Vultr", "US", "hosting"),
    Prefix("45.76.0.0/15", 20473, "Vultr", "US", "hosting"),
    Prefix("47.88.0.0/16", 45102, "Alibaba Cloud", "US", "hosting"),
    Prefix("43.130.0.0/16", 132203, "Tencent Cloud", "US", "hosting"),
)

# The big three clouds, where legitimate enterprises and eval jobs run.
MAJOR_CLOUD: tuple[Prefix, ...] = tuple(
    p for p in HOSTING if p.asn in {14618, 16509, 396982, 15169, 8075}
)
# Cheap VPS hosts favoured by proxy operators (legitimate users run there too).
VPS_HOSTING: tuple[Prefix, ...] = tuple(p for p in HOSTING if p not in MAJOR_CLOUD)

CAMPUS: tuple[Prefix, ...] = (
    Prefix("128.32.0.0/16", 25, "University of California at Berkeley", "US", "campus"),
    Prefix("171.64.0.0/15", 32, "Stanford University", "US", "campus"),
)

# Business access (classified as ordinary access networks, not hosting, by enrichment).
BUSINESS: tuple[Prefix, ...] = (Prefix("12.0.0.0/12", 7018, "AT&T Business", "US", "business"),)

REGION_TZ: dict[str, tuple[int, ...]] = {
    "americas": (-8, -7, -6, -5, -5, -5, -4, -3),
    "europe": (0, 1, 1, 1, 2),
    "asia": (5, 8, 8, 9, 9),
}
REGION_COUNTRY: dict[str, tuple[str, ...]] = {
    "americas": ("US", "US", "US", "CA", "BR"),
    "europe": ("DE", "GB", "FR", "ES", "NL"),
    "asia": ("IN", "JP", "KR", "CN", "SG"),
}
REGION_WEIGHTS = {"americas": 0.45, "europe": 0.32, "asia": 0.23}


@functools.cache
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


def format_ipv4(values: np.ndarray) -> list[str]:
    """Dotted quads for integer IPv4 addresses, vectorized."""
    x = pl.Series("x", np.asarray(values, dtype=np.int64))
    octets = [((x // (1 << shift)) % 256).cast(pl.String) for shift in (24, 16, 8, 0)]
    return (
        pl.select(pl.concat_str([pl.lit(o) for o in octets], separator=".")).to_series().to_list()
    )


def random_hosts(rng: np.random.Generator, prefix: Prefix, n: int) -> list[str]:
    """`n` random host addresses inside `prefix` (never the network or broadcast address)."""
    net = _network(prefix.cidr)
    base = int(net.network_address)
    if net.version == 4:
        return format_ipv4(base + rng.integers(1, net.num_addresses - 1, size=n))
    # IPv6: pick a /64 for the household and a random interface id.
    sub = rng.integers(0, 2 ** min(40, 64 - net.prefixlen), size=n)
    iid = rng.integers(1, 2**62, size=n)
    return [
        str(ipaddress.IPv6Address(base + (int(s) << 64) + int(i)))
        for s, i in zip(sub, iid, strict=True)
    ]


def slash24_hosts(
    rng: np.random.Generator, prefix: Prefix, n_blocks: int, per_block: int
) -> list[str]:
    """Addresses packed into `n_blocks` random /24s of `prefix` (a rented proxy block)."""
    net = _network(prefix.cidr)
    base = int(net.network_address)
    blocks = rng.choice(net.num_addresses // 256, size=n_blocks, replace=False)
    hosts = np.concatenate(
        [rng.choice(np.arange(2, 255), size=per_block, replace=False) for _ in blocks]
    )
    return format_ipv4(base + np.repeat(blocks, per_block) * 256 + hosts)


def residential_hosts(
    rng: np.random.Generator, region: str, n: int, v6_share: float = 0.0
) -> list[str]:
    """Home addresses in a region, spread over its access networks, some over IPv6."""
    return residential_hosts_by_region(rng, np.full(n, region), v6_share)


def residential_hosts_by_region(
    rng: np.random.Generator, regions: np.ndarray, v6_share: float = 0.0
) -> list[str]:
    """One home address per entry of `regions`, vectorized over all entries."""
    n = len(regions)
    out = np.empty(n, dtype=object)
    use_v6 = rng.random(n) < v6_share
    for region, prefixes in RESIDENTIAL.items():
        mine = np.flatnonzero((regions == region) & ~use_v6)
        nets = [_network(p.cidr) for p in prefixes]
        bases = np.array([int(net.network_address) for net in nets], dtype=np.int64)
        sizes = np.array([net.num_addresses for net in nets], dtype=np.int64)
        which = rng.integers(0, len(prefixes), size=len(mine))
        offsets = 1 + (rng.random(len(mine)) * (sizes[which] - 2)).astype(np.int64)
        out[mine] = format_ipv4(bases[which] + offsets)
        v6 = np.flatnonzero((regions == region) & use_v6)
        if len(v6):
            out[v6] = random_hosts(rng, RESIDENTIAL_V6[region][0], len(v6))
    return [str(x) for x in out]


def pick_region(rng: np.random.Generator, n: int) -> np.ndarray:
    """Regions of `n` users, weighted by where the API's users live."""
    names = np.array(list(REGION_WEIGHTS))
    p = np.array(list(REGION_WEIGHTS.values()))
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def hex_ids(rng: np.random.Generator, n: int, nbytes: int, prefix: str) -> list[str]:
    """`n` random-looking identifiers: a prefix and `2 * nbytes` hex digits."""
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return [prefix + row.tobytes().hex() for row in raw]


def hex_id_series(rng: np.random.Generator, n: int, nbytes: int, prefix: str) -> pl.Series:
    """Like `hex_ids`, vectorized through Arrow (for one id per request)."""
    raw = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8)
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(nbytes), n, [None, pa.py_buffer(raw.tobytes())]
    )
    return prefix + pl.Series(fixed.cast(pa.binary())).bin.encode("hex")


def payment_fingerprints(rng: np.random.Generator, n: int) -> list[str]:
    """Stable-hash-looking payment method fingerprints."""
    return hex_ids(rng, n, 10, "pm_")


# User agents of SDKs, tools and consoles that call LLM APIs.
SDK_UAS: tuple[str, ...] = (
    "OpenAI/Python 1.54.4",
    "OpenAI/Python 1.40.6",
    "Anthropic/Python 0.39.0",
    "Anthropic/Python 0.34.2",
    "Anthropic/TypeScript 0.32.1",
    "OpenAI/JS 4.71.1",
    "python-httpx/0.27.2",
    "python-requests/2.32.3",
    "axios/1.7.7",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Go-http-client/2.0",
    "curl/8.5.0",
)
BROWSER_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
)
AGENT_UAS: tuple[str, ...] = (
    "aider/0.62.1",
    "aider/0.59.0",
    "Cline/3.1.4",
    "continue/0.9.231 (vscode)",
    "opencode/0.3.18 (darwin; arm64)",
    "opencode/0.3.18 (linux; x64)",
    "goose/1.0.2",
)
ROUTER_UAS: tuple[str, ...] = ("litellm/1.52.6", "python-httpx/0.27.2", "OpenAI/Python 1.54.4")
