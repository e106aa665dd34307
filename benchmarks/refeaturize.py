"""Feature stage alone on an ingested store: copy it, drop its feature tables, featurize everything.

Prints wall and CPU seconds (all threads) of the run and of each phase, and the peak RSS. The
copy keeps the source untouched; the source may be a scanned store (its features are dropped).

    .venv/bin/python benchmarks/refeaturize.py /tmp/distillguard-bench/stores/10M-parquet.duckdb /tmp/refeaturize.duckdb
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from detector import store
from detector.features import compute_features
from detector.features.tables import drop_feature_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="an ingested (or scanned) store")
    parser.add_argument("copy", type=Path, help="where the working copy goes (overwritten)")
    args = parser.parse_args()
    for suffix in ("", ".wal"):
        Path(f"{args.copy}{suffix}").unlink(missing_ok=True)
    shutil.copy(args.source, args.copy)
    con = store.connect(args.copy)
    drop_feature_tables(con)
    con.execute("CHECKPOINT")
    started, cpu = time.perf_counter(), time.process_time()
    stats = compute_features(con)
    con.close()
    result = {
        "requests": stats.new_requests,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "phase_seconds": {k: round(v, 1) for k, v in stats.seconds.items()},
        "phase_cpu_seconds": {k: round(v, 1) for k, v in stats.cpu_seconds.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
