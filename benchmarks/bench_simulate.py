"""Benchmark `distillguard simulate`: the full `small` scale, and a partial `large` run.

Usage:
    .venv/bin/python benchmarks/bench_simulate.py [--large-requests 1000000] [--out /tmp/bench_sim]

Each run happens in a fresh subprocess, so the peak resident memory is that run's alone. The
large run reports set-up time, throughput after set-up, and resident memory after every
simulated day, to show that memory stays flat while the output grows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from detector.simulate import simulate

    out, scale, max_requests = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None
    began = time.perf_counter()
    days = []

    def rss_mb():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def progress(day, total, rows):
        days.append({"day": day, "rows": rows, "seconds": round(time.perf_counter() - began, 2),
                     "rss_mb": round(rss_mb(), 1)})

    s = simulate(out, seed=1, scale=scale, max_requests=max_requests, progress=progress)
    print(json.dumps({
        "requests": s.requests, "accounts": s.accounts, "seconds": round(time.perf_counter() - began, 2),
        "bytes": s.requests_path.stat().st_size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "days": days,
    }))
    """
)


def run(out: Path, scale: str, max_requests: int) -> dict[str, object]:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), scale, str(max_requests)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-requests", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_simulate"))
    parser.add_argument("--skip-small", action="store_true")
    args = parser.parse_args()

    if not args.skip_small:
        small = run(args.out / "small", "small", 0)
        print(
            f"small: {small['requests']:,} requests, {small['accounts']:,} accounts in {small['seconds']} s "
            f"({small['bytes'] / 1e6:.0f} MB JSONL, {small['bytes'] / small['requests']:.0f} B/record), "  # type: ignore[operator]
            f"peak RSS {small['peak_rss_mb']} MB"
        )
        shutil.rmtree(args.out / "small", ignore_errors=True)

    large = run(args.out / "large", "large", args.large_requests)
    days = large["days"]
    assert isinstance(days, list)
    first = next(d for d in days if d["rows"] > 0)
    setup = first["seconds"]
    rate = (large["requests"] - first["rows"]) / max(1e-9, large["seconds"] - setup)  # type: ignore[operator]
    mb_s = rate * large["bytes"] / large["requests"] / 1e6  # type: ignore[operator]
    rss = [d["rss_mb"] for d in days if d["rows"] > 0]
    print(
        f"large (partial): {large['requests']:,} requests from {large['accounts']:,} accounts in "
        f"{large['seconds']} s; set-up and first day {setup} s; then {rate:,.0f} requests/s ({mb_s:.0f} MB/s); "
        f"peak RSS {large['peak_rss_mb']} MB; RSS per day {min(rss):.0f}-{max(rss):.0f} MB over {len(rss)} days"
    )
    print(json.dumps(days))
    shutil.rmtree(args.out / "large", ignore_errors=True)


if __name__ == "__main__":
    main()
