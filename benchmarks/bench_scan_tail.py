"""Time the stages of `scan` after the graph (scoring, rules, campaigns, publish, review).

Runs `detector.scan.scan` on an already scanned store with only the stages after the graph,
so the ScanContext, the publish transaction and the review tables are exactly the scan's.
Reports wall and CPU seconds per stage and for the main functions inside them (CPU over all
threads of the process, DuckDB's included; a function called twice reports the sum),
the time to import `detector.scan`, and the peak RSS. The store is modified (a
new scan run is published): run it on a copy.

    .venv/bin/python benchmarks/bench_scan_tail.py /tmp/copy-of-a-scanned-store.duckdb --repeat 2
"""

from __future__ import annotations

import argparse
import importlib
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
CPU_STARTED = time.process_time()
import detector.scan as scan_module  # noqa: E402  (timed import)

IMPORT_SECONDS = time.perf_counter() - STARTED
IMPORT_CPU = time.process_time() - CPU_STARTED

from detector import store  # noqa: E402
from detector.scan_lock import scan_lock  # noqa: E402

Timings = dict[str, tuple[float, float]]

# Functions inside the stages, timed too: (module, attribute) as the stages call them.
PARTS = (
    ("detector.scan_stages", "score_entities"),
    ("detector.scan_stages", "cluster_frame"),
    ("detector.scan_stages", "add_kit_groups"),
    ("detector.scan_stages", "member_support"),
    ("detector.scan_stages", "add_affiliates"),
    ("detector.scan_stages", "assemble_campaigns"),
    ("detector.scan_stages", "_request_accounts"),
    ("detector.scan", "gather_evidence"),
    ("detector.scan", "publish"),
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(name: str, fn: Callable[..., Any], out: Timings) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            before = out.get(name, (0.0, 0.0))  # calls add up
            out[name] = (before[0] + time.perf_counter() - wall, before[1] + _cpu() - cpu)

    return wrapper


def run_tail(db: Path) -> Timings:
    """One scan of `db` with the stages after the graph; wall and CPU seconds per stage."""
    import detector.review as review

    timings: Timings = {}
    stages = [
        (name, _timed(name, fn, timings))
        for name, fn in (
            ("scoring", scan_module.scoring_stage),
            ("rules", scan_module.rules_stage),
            ("campaigns", scan_module.campaigns_stage),
        )
    ]
    publish, precompute = scan_module._publish, review.precompute
    scan_module._publish = _timed("publish", publish, timings)  # type: ignore[assignment]
    review.precompute = _timed("review", precompute, timings)  # type: ignore[assignment]
    originals = []
    for module_name, attr in PARTS:
        module = importlib.import_module(module_name)
        if hasattr(module, attr):  # parts another version of the code lacks are skipped
            originals.append((module, attr, getattr(module, attr)))
            setattr(module, attr, _timed(f"  {attr}", getattr(module, attr), timings))
    try:
        with scan_lock(db):
            con = store.connect(db)
            try:
                wall, cpu = time.perf_counter(), _cpu()
                summary = scan_module.scan(con, stages=stages)
                timings["total"] = (time.perf_counter() - wall, _cpu() - cpu)
            finally:
                con.close()
    finally:
        scan_module._publish = publish  # type: ignore[assignment]
        review.precompute = precompute  # type: ignore[assignment]
        for module, attr, original in originals:
            setattr(module, attr, original)
    print(f"  campaigns {len(summary.new) + len(summary.updated) + summary.unchanged},"
          f" alerts {summary.alerts}, accounts scored {summary.accounts_scored}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="a scanned store (modified: use a copy)")
    parser.add_argument("--repeat", type=int, default=1, help="scans to run one after another")
    args = parser.parse_args()
    print(f"import detector.scan: {IMPORT_SECONDS:.2f} s wall, {IMPORT_CPU:.2f} CPU-s")
    for i in range(args.repeat):
        timings = run_tail(args.db)
        print(f"run {i + 1}:")
        for name in ("scoring", "rules", "campaigns", "publish", "review", "total"):
            wall, cpu = timings.get(name, (float("nan"), float("nan")))
            print(f"  {name:<10} {wall:7.2f} s wall {cpu:7.2f} CPU-s")
        print("  inside the stages:")
        for name, (wall, cpu) in timings.items():
            if name.startswith("  "):
                print(f"  {name:<22} {wall:7.2f} s wall {cpu:7.2f} CPU-s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
