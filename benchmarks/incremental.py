"""Incremental benchmark: ingest and scan one batch of daily files after another, in one process.

The simulator writes one file for the whole period; it is split into one Parquet file per
UTC day, and the days are then loaded in batches into one store, each batch followed by a
scan (the scheduled job). Two plans:

- `daily` (default): every day is its own batch, so day N is scanned on a store that holds
  days 1..N. The cost of day N should not grow with N beyond the look-back window.
- `delta`: the first `--base-days` days in one batch, then the next `--new-days` in a second
  one: "1 M new requests on a store of 10 M" with `--scale large --base-days 36 --new-days 4`
  (bar: the second scan within 30 s).

Everything runs in this process (the imports and model loading are paid once, on the first
batch); wall and CPU seconds (all threads, `getrusage`) are measured per batch, and peak RSS
is the process's high-water mark so far.

    .venv/bin/python benchmarks/incremental.py --scale small --days 10
    .venv/bin/python benchmarks/incremental.py --plan delta --scale large --base-days 36 --new-days 4
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench_measure import (
    REPO,
    append_section,
    distillguard,
    fmt_mb,
    fmt_seconds,
    load_average,
    machine,
    markdown_table,
    measure,
)

SECTION = "Incremental scans (benchmarks/incremental.py)"
DELTA_BAR_SECONDS = 30.0


@dataclass
class BatchResult:
    """One batch: what was loaded, what ingest and scan cost, and the scan's own stage times."""

    label: str
    days: list[date]
    new_requests: int
    store_requests: int
    ingest_wall: float
    ingest_cpu: float
    scan_wall: float
    scan_cpu: float
    peak_rss_mb: float
    load: tuple[float, float, float]
    stages: dict[str, float] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict)  # the graph stage's own stats


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate_once(root: Path, scale: str, days: int, seed: int) -> Path:
    """The simulated Parquet file (generated once under `root`, niced) and its directory."""
    directory = root / f"{scale}-s{seed}-d{days}-parquet"
    if not (directory / "manifest.json").exists():
        command = [
            "nice", "-n", "10", distillguard(), "simulate", "--out", str(directory),
            "--scale", scale, "--days", str(days), "--seed", str(seed), "--parquet",
        ]
        print(" ".join(command), file=sys.stderr)
        measure(command)
    return directory


def split_days(source: Path, out: Path) -> list[tuple[date, Path]]:
    """One Parquet file per UTC day of `source`, in day order; written in one pass, reused."""
    import duckdb

    done = out / "complete"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.sql(
                "SELECT *, CAST(CAST(\"timestamp\" AS TIMESTAMPTZ) AS DATE) AS day"
                " FROM read_parquet(?)",
                params=[str(source)],
            ).write_parquet(str(out), partition_by=["day"], compression="zstd")
        finally:
            con.close()
        done.write_text("ok\n")
    files = []
    for folder in sorted(out.glob("day=*")):
        parts = sorted(folder.glob("*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"expected one Parquet file in {folder}, found {len(parts)}")
        files.append((date.fromisoformat(folder.name.removeprefix("day=")), parts[0]))
    return files


def plan_batches(
    days: list[tuple[date, Path]], plan: str, base_days: int, new_days: int
) -> list[tuple[str, list[tuple[date, Path]]]]:
    """The batches to load: one per day (`daily`), or a base and a delta (`delta`)."""
    if plan == "daily":
        return [(f"day {i + 1}", [d]) for i, d in enumerate(days)]
    if base_days < 1 or new_days < 1 or base_days + new_days > len(days):
        raise ValueError(
            f"delta plan needs 1 <= base ({base_days}) and 1 <= new ({new_days}) with base + new "
            f"<= the {len(days)} days simulated"
        )
    return [
        (f"base: days 1-{base_days}", days[:base_days]),
        (f"delta: days {base_days + 1}-{base_days + new_days}", days[base_days:base_days + new_days]),
    ]


def run_batches(
    db: Path, batches: list[tuple[str, list[tuple[date, Path]]]], accounts: Path
) -> list[BatchResult]:
    """Ingest and scan each batch in turn in this process; measure each."""
    from detector import store
    from detector.ingest import ingest_accounts, ingest_files
    from detector.scan import run_scan

    results = []
    for i, (label, files) in enumerate(batches):
        load = load_average()
        started, cpu = time.perf_counter(), _cpu()
        con = store.connect(db)
        try:
            loaded = ingest_files(con, [p for _, p in files])
            if i == 0:
                ingest_accounts(con, accounts)
        finally:
            con.close()
        ingest_wall, ingest_cpu = time.perf_counter() - started, _cpu() - cpu
        started, cpu = time.perf_counter(), _cpu()
        summary = run_scan(db)
        scan_wall, scan_cpu = time.perf_counter() - started, _cpu() - cpu
        con = store.connect(db)
        try:
            total = int(con.execute("SELECT count(*) FROM requests").fetchall()[0][0])
            graph = _graph_stats(con)
        finally:
            con.close()
        result = BatchResult(
            label=label, days=[d for d, _ in files],
            new_requests=sum(r.stored for r in loaded), store_requests=total,
            ingest_wall=ingest_wall, ingest_cpu=ingest_cpu, scan_wall=scan_wall,
            scan_cpu=scan_cpu, peak_rss_mb=_peak_mb(), load=load, stages=dict(summary.seconds),
            graph=graph,
        )
        print(
            f"{label}: +{result.new_requests:,} -> {total:,} requests; ingest {ingest_wall:.1f} s "
            f"({ingest_cpu:.1f} CPU), scan {scan_wall:.1f} s ({scan_cpu:.1f} CPU); "
            + ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items()),
            file=sys.stderr,
        )
        results.append(result)
    return results


def _graph_stats(con: Any) -> dict[str, Any]:
    """The graph stage's stats of the newest finished scan (window, sketched days, steps)."""
    rows = con.execute(
        "SELECT stats FROM scan_runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1"
    ).fetchall()
    stats = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    graph = stats.get("stages", {}).get("graph", {})
    return graph if isinstance(graph, dict) else {}


def graph_line(result: BatchResult) -> str:
    """One line on the graph stage of a batch: window, sketched and reused days, steps."""
    g = result.graph
    if not g or "skipped" in g:
        return f"- {result.label}: graph skipped"
    steps = ", ".join(
        f"{k} {v:.2f}" for k, v in (g.get("phase_seconds") or {}).items() if k != "total"
    )
    return (
        f"- {result.label}: window {g.get('window', '?')}, {g.get('accounts', 0):,} accounts, "
        f"activity days sketched {g.get('days_sketched', '?')} / reused {g.get('days_reused', '?')}"
        f"; steps (s): {steps}"
    )


def growth(results: list[BatchResult]) -> str:
    """How the scan's CPU per new request moves from the second batch to the last."""
    if len(results) < 3:
        return ""
    first, last = results[1], results[-1]
    per = [r.scan_cpu / max(r.new_requests, 1) * 1000 for r in (first, last)]
    return (
        f"Scan CPU per 1,000 new requests: {per[0]:.2f} s at {first.label} "
        f"(store {first.store_requests:,}) and {per[1]:.2f} s at {last.label} "
        f"(store {last.store_requests:,}): x{per[1] / max(per[0], 1e-9):.1f} while the store "
        f"grew x{last.store_requests / max(first.store_requests, 1):.1f}."
    )


def report(results: list[BatchResult], command: str, data: Path) -> str:
    host = machine()
    stage_names = list(dict.fromkeys(s for r in results for s in r.stages))
    rows = []
    for r in results:
        rows.append([
            r.label, f"{r.new_requests:,}", f"{r.store_requests:,}", fmt_seconds(r.ingest_wall),
            fmt_seconds(r.ingest_cpu), fmt_seconds(r.scan_wall), fmt_seconds(r.scan_cpu),
            *[fmt_seconds(r.stages.get(s)) for s in stage_names], fmt_mb(r.peak_rss_mb),
            f"{r.load[0]:.1f}",
        ])
    header = ["batch", "new requests", "store requests", "ingest wall s", "ingest CPU s",
              "scan wall s", "scan CPU s", *[f"{s} s" for s in stage_names], "peak RSS MB", "load"]
    parts = [
        f"### Run of {host.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {host.describe([r.load for r in results])}.",
        "",
        f"Data: `{data}` split into one Parquet file per UTC day. One process for all batches "
        "(the first batch also pays imports and model loading); CPU is the process's user + "
        "system time over all threads; stage columns are wall seconds from the scan summary; "
        "peak RSS is the process high-water mark so far; load is the 1-minute load average "
        "when the batch started.",
        "",
        markdown_table(header, rows, right=tuple(range(1, len(header)))),
    ]
    if any(r.graph for r in results):
        parts += ["", "Graph stage per batch (`scan_runs.stats`):", "",
                  *[graph_line(r) for r in results]]
    line = growth(results)
    if line:
        parts += ["", line]
    if len(results) == 2 and results[0].label.startswith("base"):
        delta = results[1]
        parts += [
            "",
            f"Delta scan of {delta.new_requests:,} new requests on a store of "
            f"{delta.store_requests:,}: {delta.scan_wall:.1f} s wall ({delta.scan_cpu:.1f} s CPU) "
            f"against the bar of {DELTA_BAR_SECONDS:.0f} s for 1 M on 10 M.",
        ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", choices=("daily", "delta"), default="daily")
    parser.add_argument("--scale", default="small", help="simulator scale: tiny, small, large")
    parser.add_argument("--days", type=int, default=None,
                        help="days to simulate (daily: default 10; delta: base + new)")
    parser.add_argument("--base-days", type=int, default=36)
    parser.add_argument("--new-days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/distillguard-bench"))
    parser.add_argument("--keep-store", action="store_true")
    parser.add_argument("--no-append", action="store_true", help="do not edit docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()

    days = args.days or (10 if args.plan == "daily" else args.base_days + args.new_days)
    directory = simulate_once(args.data_dir, args.scale, days, args.seed)
    day_files = split_days(directory / "requests.parquet", directory / "days")
    batches = plan_batches(day_files, args.plan, args.base_days, args.new_days)
    db = args.data_dir / "stores" / f"incremental-{args.plan}-{directory.name}.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    results = run_batches(db, batches, directory / "accounts.jsonl")
    command = "benchmarks/incremental.py " + " ".join(sys.argv[1:])
    text = report(results, command, directory / "requests.parquet")
    print(text)
    out = args.data_dir / f"incremental-{args.plan}-{directory.name}.json"
    out.write_text(json.dumps([_as_json(r) for r in results], indent=2, default=str))
    if not args.keep_store:
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
    if not args.no_append:
        append_section(args.doc, SECTION, text)


def _as_json(result: BatchResult) -> dict[str, Any]:
    return {**result.__dict__, "days": [d.isoformat() for d in result.days]}


if __name__ == "__main__":
    main()
