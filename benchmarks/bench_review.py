"""Time the scan's `review` step (`detector.review.precompute`) on a store, in one process.

    .venv/bin/python benchmarks/bench_review.py STORE [--full] [--threads 2]

Prints wall and CPU seconds (user + system of this process), the steps' own wall seconds and
the 1-minute load average. Without `--full` it runs the incremental build a scan runs (which
is a full one on a store whose review tables are missing or from an older version).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from detector import store
from detector.review import precompute


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--full", action="store_true", help="rebuild from scratch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    con = store.connect(args.store)
    try:
        con.execute(f"SET threads = {int(args.threads)}")
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), _cpu()
        steps = precompute(con, full=args.full)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    finally:
        con.close()
    print(json.dumps({"store": str(args.store), "full": args.full, "wall_s": round(wall, 2),
                      "cpu_s": round(cpu, 2), "load_1min": round(load, 1), "steps": steps}, indent=1))


if __name__ == "__main__":
    main()
