"""The graph stage's incremental cost on a large existing store, without copying or writing it.

Attaches a scanned store read-only (its `requests`, `accounts` and feature tables become views
in a scratch database that holds the graph's own tables), then runs `build_graph`:

1. `full`: every day of the window sketched (a first scan or `--full-graph`);
2. `delta`: the sketches of the last `--new-days` days forgotten, as if those days had just
   arrived: the work of the daily scan after ingesting them;
3. `again`: nothing new (every sketch reused);

and checks that the delta build gives the same four graph tables as the full one (the delta
also forgets the last build's input fingerprint, else the unchanged inputs would keep the
tables). Wall and
CPU seconds (all threads, `getrusage`) per build. Used for the "1 M new on 10 M" figure of
the graph stage when there is no room for a second 10 M store:

    .venv/bin/python benchmarks/graph_delta.py /tmp/distillguard-bench/stores/10M-parquet.duckdb --new-days 4
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

import duckdb

from detector.graph import GraphParams, build_graph
from detector.graph.inputs import forget_build

SOURCE_TABLES = (
    "requests",
    "accounts",
    "account_daily_features",
    "account_day_attributes",
    "request_features",
    "account_features",
    "account_value_totals",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scratch(source: Path, work: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A scratch store whose input tables are read-only views of `source`."""
    for path in (work, work.with_name(work.name + ".wal")):
        path.unlink(missing_ok=True)
    con = duckdb.connect(str(work))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")  # a code-checked size string
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(source)])
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
        ).fetchall()
    }
    for table in SOURCE_TABLES:
        if table in present:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM src.main.{table}")
    return con


def snapshot(con: duckdb.DuckDBPyConnection) -> tuple[int, ...]:
    """A fingerprint of the four graph tables: a hash sum over all their rows."""
    return tuple(
        int(con.execute(f"SELECT coalesce(sum(hash(t)), 0) FROM {table} t").fetchall()[0][0])
        for table in ("account_attributes", "account_edges", "clusters", "cluster_features")
    )


def timed(con: duckdb.DuckDBPyConnection, label: str, params: GraphParams, full: bool) -> dict[str, Any]:
    started, cpu = time.perf_counter(), _cpu()
    stats = build_graph(con, params=params, full=full)
    wall, used = time.perf_counter() - started, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = ", ".join(f"{k} {v:.2f}" for k, v in stats.seconds.items() if k != "total")
    line = (
        f"| {label} | {stats.window} | {stats.accounts:,} | {stats.days_sketched} / "
        f"{stats.days_reused} | {wall:.1f} | {used:.1f} | {peak:,.0f} | {stats.edges:,} | "
        f"{stats.multi_account_clusters:,} | {steps} |"
    )
    print(line, flush=True)
    return {"wall": wall, "cpu": used, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a scanned store (opened read-only)")
    parser.add_argument("--new-days", type=int, default=4)
    parser.add_argument("--lookback-days", type=int, default=90, help="0: the whole history")
    parser.add_argument("--work", type=Path, default=Path("/tmp/distillguard-bench/graph-delta.duckdb"))
    parser.add_argument("--memory-limit", default="4GB")
    args = parser.parse_args()
    if not args.memory_limit.replace(".", "").isalnum():
        parser.error("--memory-limit: e.g. 4GB")

    params = GraphParams(lookback_days=args.lookback_days or None)
    con = scratch(args.store, args.work, args.memory_limit)
    try:
        print("| build | window | accounts | days sketched / reused | wall s | CPU s | peak RSS MB "
              "| edges | clusters ≥ 2 | steps (s) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        timed(con, "full", params, full=True)
        first = snapshot(con)
        # as before those days arrived: their sketches unmade, and the last build's inputs
        # different from today's
        con.execute(
            "DELETE FROM graph_sketch_days WHERE day > (SELECT max(day) FROM graph_sketch_days) - ?",
            [args.new_days],
        )
        forget_build(con)
        timed(con, f"delta ({args.new_days} new days)", params, full=False)
        second = snapshot(con)
        timed(con, "again (nothing new)", params, full=False)
        print(f"\ndelta == full (attributes, edges, clusters, cluster features): {first == second}")
    finally:
        con.close()
        for path in (args.work, args.work.with_name(args.work.name + ".wal")):
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
