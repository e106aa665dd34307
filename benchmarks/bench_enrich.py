"""Time IP enrichment: data load (cold and cached) and lookups of 1k / 100k / 1M distinct IPs.

    .venv/bin/python benchmarks/bench_enrich.py [--sizes 1000 100000 1000000] [--repeat 3]

Prints a Markdown table for docs/benchmarks.md. Addresses are random: 90 % public-looking
IPv4, 10 % IPv6 inside allocated prefixes, all distinct.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.enrich import data_version, load_tables, lookup_ips

IPV6_PREFIXES = (
    "2001:4860::",
    "2a01:4f8::",
    "2600:1f00::",
    "2a02:2e0::",
    "2c0f:f000::",
    "2403:6200::",
    "2800:3f0::",
    "2001:67c::",
)
LOAD_SNIPPET = (
    "import time; t, c = time.perf_counter(), time.process_time(); "
    "from detector.enrich import load_tables; load_tables(); "
    "print(time.perf_counter() - t, time.process_time() - c)"
)


def random_ips(n: int, seed: int) -> pa.Array:
    """n distinct random addresses, 90 % IPv4 and 10 % IPv6, shuffled."""
    rng = np.random.default_rng(seed)
    n6 = n // 10
    v4 = np.unique(rng.integers(1 << 24, 224 << 24, int((n - n6) * 1.05), dtype=np.uint64))
    v4 = rng.permutation(v4)[: n - n6]
    octets = [pa.array((v4 >> s) & 255).cast(pa.string()) for s in (24, 16, 8, 0)]
    dotted = pc.binary_join_element_wise(*octets, ".")
    bases = [int(ipaddress.IPv6Address(p)) for p in IPV6_PREFIXES]
    v6 = {
        str(ipaddress.IPv6Address(bases[i] + (int(h) << 64) + int(lo)))
        for i, h, lo in zip(
            rng.integers(0, len(bases), n6 + 100),
            rng.integers(0, 2**32, n6 + 100),
            rng.integers(0, 2**63, n6 + 100),
            strict=True,
        )
    }
    everything = pa.concat_arrays([dotted, pa.array(sorted(v6)[:n6], pa.string())])
    return everything.take(pa.array(rng.permutation(len(everything))))


def time_load(cache_dir: str) -> tuple[float, float]:
    """Wall and CPU seconds to import and load all tables in a fresh interpreter."""
    env = {**os.environ, "DISTILLGUARD_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET], env=env, check=True, capture_output=True, text=True
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as empty:
        cold = time_load(empty)  # builds the tables from the packages' files, writes the cache
        warm = time_load(empty)  # reads them back from that cache
    load_tables()  # this process: the user cache (built on first use)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; data: {data_version()}\n"
    )
    print("| case | distinct IPs | wall (best) | CPU | IPs/s (wall) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| import + load, cold (build from package files, write cache) | | {cold[0]:.2f} s "
        f"| {cold[1]:.2f} s | |"
    )
    print(
        f"| import + load, cached (new process, tables from disk cache) | | {warm[0]:.2f} s "
        f"| {warm[1]:.2f} s | |"
    )
    for n in args.sizes:
        ips = random_ips(n, seed=n)
        times = []
        for _ in range(args.repeat if n < 1_000_000 else max(1, args.repeat - 1)):
            start, cpu = time.perf_counter(), time.process_time()
            table = lookup_ips(ips)
            times.append((time.perf_counter() - start, time.process_time() - cpu))
        assert table.num_rows == n and pc.sum(table.column("valid")).as_py() == n
        best, best_cpu = min(times)
        print(
            f"| lookup_ips, random distinct | {n:,} | {best:.3f} s | {best_cpu:.3f} s "
            f"| {n / best:,.0f} |"
        )
    # A log's shape: many rows, far fewer distinct addresses.
    ips = random_ips(50_000, seed=1).take(
        pa.array(np.random.default_rng(2).integers(0, 50_000, 1_000_000))
    )
    start, cpu = time.perf_counter(), time.process_time()
    lookup_ips(ips)
    took, took_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"| lookup_ips, 1,000,000 rows of 50,000 distinct | 50,000 | {took:.3f} s "
        f"| {took_cpu:.3f} s | {1_000_000 / took:,.0f} rows/s |"
    )


if __name__ == "__main__":
    main()
