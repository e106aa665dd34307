"""One measured step of the pipeline, run as its own process by `run.py`; prints a JSON line.

    python benchmarks/pipeline_step.py raw FILE          # DuckDB floor: one raw scan of FILE
    python benchmarks/pipeline_step.py features DB       # compute_features on the store
    python benchmarks/pipeline_step.py graph DB          # build_graph on the store
    python benchmarks/pipeline_step.py decide DB         # scoring, rules, campaigns and publish

`features`, `graph` and `decide` in that order on a freshly ingested store do what one
`distillguard scan` does, each in a process of its own so that its CPU time and peak RSS can
be read apart.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RAW_SQL = {
    "parquet": "SELECT count(*), sum(length(prompt)) FROM read_parquet($path)",
    # Only the prompt is materialized; DuckDB still has to parse every line in full.
    "jsonl": (
        "SELECT count(*), sum(length(prompt)) FROM read_json($path, "
        "format = 'newline_delimited', columns = {'prompt': 'VARCHAR'})"
    ),
}


def file_format(path: Path) -> str:
    return "parquet" if path.suffix == ".parquet" else "jsonl"


def raw_scan(path: Path) -> dict[str, Any]:
    """The floor: count the rows and sum the prompt lengths with plain DuckDB."""
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(RAW_SQL[file_format(path)], {"path": str(path)}).fetchall()
    return {
        "rows": int(rows[0][0]),
        "prompt_chars": int(rows[0][1] or 0),
        "seconds": time.perf_counter() - started,
        "sql": RAW_SQL[file_format(path)],
    }


def features(db: Path) -> dict[str, Any]:
    from detector import store
    from detector.features.pipeline import compute_features

    con = store.connect(db)
    try:
        started = time.perf_counter()
        stats = compute_features(con)
        return {"seconds": time.perf_counter() - started, **stats.__dict__}
    finally:
        con.close()


def graph(db: Path) -> dict[str, Any]:
    from detector import store
    from detector.graph import build_graph

    con = store.connect(db)
    try:
        started = time.perf_counter()
        stats = build_graph(con)
        return {"seconds": time.perf_counter() - started, **stats.__dict__}
    finally:
        con.close()


def decide(db: Path) -> dict[str, Any]:
    """The scan without its features and graph stages (they ran in earlier processes)."""
    from detector.scan import campaigns_stage, rules_stage, run_scan, scoring_stage

    started = time.perf_counter()
    summary = run_scan(
        db, stages=(("scoring", scoring_stage), ("rules", rules_stage), ("campaigns", campaigns_stage))
    )
    return {
        "seconds": time.perf_counter() - started,
        "stages": summary.seconds,
        "accounts_scored": summary.accounts_scored,
        "campaigns": len(summary.new) + len(summary.updated) + summary.unchanged,
    }


STEPS = {"raw": raw_scan, "features": features, "graph": graph, "decide": decide}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    result = STEPS[args.step](args.path)
    result["process_seconds"] = time.perf_counter() - began
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
