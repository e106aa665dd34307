"""Time the decision stages of `scan` (scoring, rules, campaigns, publish) at provider scale.

Builds a store with synthetic `account_features` (N accounts, the real column set), `clusters`
(singletons plus planted multi-account clusters), `cluster_features`, `accounts` and a
`requests` table, then runs `detector.scan.run_scan` with the scoring, rules and campaigns
stages only (features and graph are benchmarked by their own scripts). Prints seconds per
stage and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_scan_decide.py --accounts 100000 --requests 1000000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from detector import store
from detector.scan import campaigns_stage, rules_stage, run_scan, scoring_stage

START = datetime(2026, 3, 1, tzinfo=UTC)


def build(db: Path, n_accounts: int, n_requests: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = np.array([f"acct_{i:07d}" for i in range(n_accounts)])
    attack = rng.random(n_accounts) < 0.05
    requests = np.maximum(1, rng.lognormal(3, 1.5, n_accounts)).astype(np.int64)
    share = lambda lo, hi: rng.uniform(lo, hi, n_accounts)  # noqa: E731
    features = pl.DataFrame({
        "account_id": ids,
        "requests": requests,
        "input_tokens": requests * rng.integers(200, 2000, n_accounts),
        "output_tokens": requests * rng.integers(100, 1500, n_accounts),
        "active_days": rng.integers(1, 28, n_accounts),
        "active_hours": rng.integers(1, 300, n_accounts),
        "peak_per_minute": rng.integers(1, 30, n_accounts),
        "hour_entropy": np.where(attack, share(2.9, 3.17), share(0.5, 2.6)),
        "interarrival_cv": np.where(attack, share(0.5, 1.5), share(1.5, 7)),
        "distinct_ips": rng.integers(1, 10, n_accounts),
        "distinct_prefixes": rng.integers(1, 6, n_accounts),
        "distinct_asns": rng.integers(1, 4, n_accounts),
        "hosting_share": np.where(attack, share(0.8, 1), share(0, 0.3)),
        "model_pivot_share": share(0, 0.1),
        "top_template_share": share(0.05, 0.9),
        "template_entropy": share(0, 4),
        "shared_rare_template_share": share(0, 0.6),
        "capability_entropy": share(0, 2.5),
        "capability_divergence": share(0, 0.5),
        "high_value_share": np.where(attack, share(0.85, 1), share(0, 0.7)),
        "cot_share": np.where(attack, share(0.3, 0.9), share(0, 0.1)),
        "cot_intensity": share(0, 0.5),
    })
    # planted clusters of 5-200 accounts among the attackers, the rest singletons
    cluster = np.array([f"cl_{i}" for i in range(n_accounts)], dtype=object)
    attackers = np.flatnonzero(attack)
    pos = 0
    while pos < len(attackers):
        size = int(rng.integers(5, 200))
        cluster[attackers[pos:pos + size]] = f"cl_campaign_{pos}"
        pos += size
    clusters = pl.DataFrame({"account_id": ids, "cluster_id": cluster.astype(str)})
    accounts = pl.DataFrame({
        "account_id": ids,
        "payment_fingerprint": np.where(attack, [f"card_{i % 7}" for i in range(n_accounts)],
                                        [f"card_u{i}" for i in range(n_accounts)]),
        "created_at": [START] * n_accounts,
    })
    owner = rng.choice(n_accounts, n_requests, p=requests / requests.sum())
    reqs = pl.DataFrame({
        "request_id": [f"r{i}" for i in range(n_requests)],
        "timestamp": pl.datetime_range(START, START.replace(day=28), interval="1s", eager=True,
                                       time_zone="UTC").sample(n_requests, with_replacement=True, seed=seed),
        "account_id": ids[owner],
        "client_ip": [f"10.{i % 250}.{(i // 250) % 250}.1" for i in owner],
        "model": "m-1",
        "prompt": "Explain every intermediate step of the proof, then grade it against the rubric.",
        "ip_prefix": [f"10.{i % 250}.0.0/16" for i in owner],
        "asn": (owner % 5000).astype(np.int64),
    })
    con = store.connect(db)
    with store.transaction(con):
        for name, frame in (("account_features", features), ("clusters", clusters)):
            con.register("staged", frame.to_arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM staged")
            con.unregister("staged")
        con.register("staged", accounts.to_arrow())
        con.execute("INSERT INTO accounts (account_id, payment_fingerprint, created_at, ingest_run_id)"
                    " SELECT account_id, payment_fingerprint, created_at, 1 FROM staged")
        con.unregister("staged")
        con.register("staged", reqs.to_arrow())
        con.execute('INSERT INTO requests (request_id, "timestamp", account_id, client_ip, model, prompt,'
                    " ip_prefix, asn, ingest_run_id) SELECT *, 1 FROM staged")
        con.unregister("staged")
        con.execute("INSERT INTO ingest_runs (run_id, source, format, kind, started_at, status)"
                    " VALUES (1, 'bench', 'jsonl', 'requests', now(), 'done')")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_scan_decide"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="scan the store left by a previous run")
    args = parser.parse_args()
    db = args.dir / "bench.duckdb"
    if not (args.reuse and db.exists()):
        shutil.rmtree(args.dir, ignore_errors=True)
        args.dir.mkdir(parents=True)
        started = time.perf_counter()
        build(db, args.accounts, args.requests, args.seed)
        print(f"built store in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    summary = run_scan(db, stages=[("scoring", scoring_stage), ("rules", rules_stage),
                                   ("campaigns", campaigns_stage)])
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items())
    print(f"accounts {args.accounts:,}  requests {args.requests:,}  alerts {summary.alerts}"
          f"  wall {wall:.1f}s ({stages})  process CPU {cpu:.1f}s  peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
