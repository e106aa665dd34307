"""Time `distillguard export` in every format on a synthetic store of scan outputs.

    .venv/bin/python benchmarks/bench_export.py --campaigns 500 --members 200 --accounts 1000000

Builds `campaigns` (each with 20 IPs, 10 prefixes, 5 ASNs and 20 template fingerprints),
`campaign_accounts` and `account_scores` straight from SQL, then times each export format
writing to a file, and prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from detector import store
from detector.export import Format, Level, render
from detector.export.output import write_chunks


def build(path: Path, campaigns: int, members: int, accounts: int) -> None:
    con = store.connect(path)
    try:
        con.execute(
            """
            INSERT INTO campaigns
            SELECT 'cmp-' || i, 'alr-' || i, 'Possible model extraction by ' || ? || ' accounts',
                   ['low', 'medium', 'high', 'critical'][1 + i % 4], 0.5 + (i % 50) / 100.0, true,
                   1000 + i, TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_hours(i),
                   TIMESTAMPTZ '2026-03-08 00:00:00+00' + to_hours(i),
                   '{"cot_share": 0.7, "families": ["graph", "rules"]}',
                   '["dg.cluster.shared_templates", "dg.account.cot_harvest"]',
                   json_object(
                       'ips', (SELECT list('10.' || (i % 250) || '.' || j || '.7') FROM range(20) t(j)),
                       'prefixes', (SELECT list('10.' || (i % 250) || '.' || j || '.0/24') FROM range(10) t(j)),
                       'asns', (SELECT list(64500 + j) FROM range(5) t(j)),
                       'payment_fingerprints', [],
                       'template_fingerprints', (SELECT list(md5(i || '-' || j)[:16]) FROM range(20) t(j))),
                   '["AML.T0024.002"]', 'new',
                   TIMESTAMPTZ '2026-03-08 00:00:00+00', TIMESTAMPTZ '2026-03-09 00:00:00+00', 1
            FROM range(?) r(i)
            """,
            [members, campaigns],
        )
        con.execute(
            "INSERT INTO campaign_accounts SELECT 'cmp-' || (k // ?), 'acct-' || k FROM range(?) r(k)",
            [members, campaigns * members],
        )
        con.execute(
            """
            INSERT INTO account_scores
            SELECT 'acct-' || k, (hash(k) % 1000) / 1000.0,
                   CASE WHEN k < ? THEN 'cmp-' || (k // ?) END, k < ?, '{}', 1
            FROM range(?) r(k)
            """,
            [campaigns * members, members, campaigns * members, accounts],
        )
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="export_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    db = root / "bench.duckdb"
    if db.exists():
        db.unlink()
    build(db, args.campaigns, args.members, args.accounts)
    cases = [(f, Level.campaign) for f in Format] + [(Format.csv, Level.account), (Format.jsonl, Level.account)]
    print(f"{args.campaigns} alerts x {args.members} accounts; {args.accounts:,} scored accounts; "
          f"{os.cpu_count()} cores\n")
    print("| format | level | wall | output |\n| --- | --- | --- | --- |")
    for fmt, level in cases:
        out = root / f"out.{fmt}.{level}"
        con = store.connect(db, read_only=True)
        start = time.perf_counter()
        try:
            write_chunks(render(con, fmt, level), out)
        finally:
            con.close()
        wall = time.perf_counter() - start
        print(f"| {fmt} | {level} | {wall:.2f} s | {out.stat().st_size / 1e6:.1f} MB |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
