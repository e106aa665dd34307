"""The floor under ingest: copying a Parquet file into a DuckDB table with no checks at all.

For each text-column compression (DuckDB's default, zstd as the store uses, uncompressed), a
fresh database gets `INSERT INTO t SELECT * FROM read_parquet(FILE)` and a checkpoint; then a
full read of the text columns. Prints CPU and wall seconds, the file size and peak memory.

    .venv/bin/python benchmarks/bench_store_floor.py /tmp/distillguard-bench/large-s1-d4-1M-parquet/requests.parquet
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb

TEXT_COLUMNS = ("system_prompt", "prompt", "messages", "tools")
MODES = ("default", "zstd", "uncompressed")


def _timed(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    con.execute(sql, params).fetchall()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(source: Path, mode: str, folder: Path) -> str:
    """One copy of `source` into a fresh database whose text columns use `mode`."""
    db = folder / f"floor-{mode}.duckdb"
    con = duckdb.connect(str(db))
    columns = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()
    text = [c[0] for c in columns if c[0] in TEXT_COLUMNS]
    compression = "" if mode == "default" else f" USING COMPRESSION {mode}"
    definitions = ", ".join(
        f'"{name}" {kind}' + (compression if name in TEXT_COLUMNS else "") for name, kind, *_ in columns
    )
    con.execute(f"CREATE TABLE t ({definitions})")
    wall, cpu = time.perf_counter(), time.process_time()
    con.execute("INSERT INTO t SELECT * FROM read_parquet(?)", [str(source)])
    con.execute("CHECKPOINT")
    insert_wall, insert_cpu = time.perf_counter() - wall, time.process_time() - cpu
    con.close()
    size_mb = db.stat().st_size / 2**20
    con = duckdb.connect(str(db))
    lengths = ", ".join(f'sum(length("{name}"))' for name in text)
    read_wall, read_cpu = _timed(con, f"SELECT {lengths} FROM t", [])
    con.close()
    db.unlink()
    return (
        f"| {mode} | {insert_wall:.1f} | {insert_cpu:.1f} | {size_mb:,.0f} | {read_wall:.2f} | {read_cpu:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parquet", type=Path)
    parser.add_argument("--modes", default=",".join(MODES), help="comma list: " + ",".join(MODES))
    args = parser.parse_args()
    print(f"source: {args.parquet}")
    print("| text compression | insert wall s | insert CPU s | store MB | full text read wall s | CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="distillguard-floor-") as folder:
        for mode in args.modes.split(","):
            print(measure(args.parquet, mode, Path(folder)), flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
