"""IP enrichment: validity, network prefix, ASN, country and network class per distinct IP.

Offline data, all shipped inside PyPI packages and read without any network access:

- country: `geoip2fast` (MaxMind GeoLite2 country ranges, IPv4 + IPv6), see `geo`;
- AS number, AS name and hosting operators: `plevin-db-network` (routing snapshot), see `asn`;
- hosting / VPN / Tor ranges: `iporigin` (providers' published feeds, Tor exits), see
  `netclass`;
- VPN, proxy, private-relay and Tor exit ranges and hosts: `plevin-db-abuse`, see
  `anonymizers`.

Network class precedence: tor > vpn > hosting > residential (residential means "in no list").

Each table is loaded once per process (and cached on disk under the user cache dir), and
every lookup is a vectorized `numpy.searchsorted` over the distinct addresses of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.enrich.addresses import parse_addresses
from detector.enrich.anonymizers import anonymizer_tables
from detector.enrich.asn import asn_tables
from detector.enrich.geo import geo_tables
from detector.enrich.netclass import HOSTING, NETWORK_CLASSES, RESIDENTIAL, netclass_tables
from detector.enrich.reserved import special_tables

__all__ = ["ENRICHMENT_SCHEMA", "data_version", "load_tables", "lookup_ips"]

ENRICHMENT_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("valid", pa.bool_()),
        ("ip_prefix", pa.string()),
        ("asn", pa.int64()),
        ("as_name", pa.string()),
        ("country", pa.string()),
        ("network_class", pa.string()),
    ]
)


def lookup_ips(ips: Sequence[str | None] | pa.Array) -> pa.Table:
    """One row per input IP (same order): whether it is a valid address, and what we know of it.

    Each distinct string is parsed and looked up once. Invalid strings and nulls get
    ``valid=False`` and nulls elsewhere; private and reserved addresses are valid, with no
    ASN or country, and class ``residential`` (the contract's "residential/unknown").
    """
    values = _as_string_array(ips)
    encoded = pc.dictionary_encode(values)
    distinct = _enrich_distinct(encoded.dictionary)
    indices = encoded.indices
    columns = [values] + [pc.take(distinct[name], indices) for name in ENRICHMENT_SCHEMA.names[1:]]
    columns[1] = pc.fill_null(columns[1], False)
    return pa.Table.from_arrays(columns, schema=ENRICHMENT_SCHEMA)


def data_version() -> str:
    """Names and versions of the offline data used, recorded with every ingest run."""
    geo, asn, net, anon = geo_tables(), asn_tables(), netclass_tables(), anonymizer_tables()
    parts = [f"geoip2fast {geo.version} ({geo.source})"]
    parts.append(asn.source or "plevin-db-network absent (no AS data)")
    parts.append(anon.source or "plevin-db-abuse absent (no VPN/proxy lists)")
    parts.append(f"iporigin {net.version} (built {net.built_at:%Y-%m-%d})")
    return "; ".join(parts)


def load_tables() -> None:
    """Load every range table now (for warm-up and for timing the load separately)."""
    geo_tables()
    asn_tables()
    netclass_tables()
    anonymizer_tables()


def _as_string_array(ips: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(ips, pa.ChunkedArray):
        ips = ips.combine_chunks()
    if isinstance(ips, pa.Array):
        return ips if ips.type == pa.string() else ips.cast(pa.string())
    return pa.array(ips, type=pa.string())


def _enrich_distinct(distinct: pa.Array) -> dict[str, pa.Array]:
    """Enrichment columns for an array of distinct, non-null strings."""
    parsed = parse_addresses(distinct)
    n = len(distinct)
    geo, asn, net, anon = geo_tables(), asn_tables(), netclass_tables(), anonymizer_tables()
    special_v4, special_v6 = special_tables()

    special = np.zeros(n, dtype=bool)
    country_id = np.full(n, -1, dtype=np.int64)
    network_id = np.zeros(n, dtype=np.int64)
    net_code = np.full(n, RESIDENTIAL, dtype=np.int64)
    for mask, keys, v6, tables in (
        (parsed.is_v4, parsed.v4_keys, False, (special_v4, geo.v4, asn.v4, net.v4)),
        (parsed.is_v6, parsed.v6_keys, True, (special_v6, geo.v6, asn.v6, net.v6)),
    ):
        rows = np.flatnonzero(mask)
        order = np.argsort(keys, kind="stable")  # sort once, search four tables in order
        rows, keys = rows[order], keys[order]
        special[rows] = tables[0].find(keys, missing=0) > 0
        country_id[rows] = tables[1].find(keys)
        network_id[rows] = tables[2].find(keys, missing=0)
        # Class codes are ordered by precedence (residential < hosting < vpn < tor).
        net_code[rows] = np.maximum(
            tables[3].find(keys, missing=RESIDENTIAL), anon.classify(keys, v6=v6)
        )

    # Not publicly routed (private, loopback, documentation, ...): no owner to speak of. An
    # address in no country range at all is public space that GeoLite2 does not place.
    in_geo_reserved = (country_id >= 0) & geo.reserved[np.maximum(country_id, 0)]
    public = parsed.valid & ~(special | in_geo_reserved)
    network_id[~public] = 0
    net_code[parsed.valid & ~public] = RESIDENTIAL
    net_code[public & (net_code == RESIDENTIAL) & asn.hosting[network_id]] = HOSTING

    numbers = asn.numbers[network_id]
    country_vocab = pa.array(geo.country_codes, pa.string())
    country_index = pa.array(country_id, pa.int64(), mask=~public | (country_id < 0))
    class_index = pa.array(net_code, pa.int64(), mask=~parsed.valid)
    return {
        "valid": pa.array(parsed.valid, pa.bool_()),
        "ip_prefix": parsed.prefix,
        "asn": pa.array(numbers, pa.int64(), mask=numbers < 0),
        "as_name": asn.names.take(pa.array(network_id)),
        "country": country_vocab.take(country_index),
        "network_class": pa.array(NETWORK_CLASSES, pa.string()).take(class_index),
    }
