"""Compare every feature table of two stores, exactly and in any row order (EXCEPT ALL both ways).

The check behind "every feature table identical" in docs/benchmarks.md: run the feature stage
on two copies of one store (e.g. `benchmarks/refeaturize.py`) with two versions of the code,
then compare them. Exits 1 when any table differs or is missing from one store.

    .venv/bin/python benchmarks/compare_feature_tables.py REFERENCE.duckdb CANDIDATE.duckdb
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb

from detector.features.tables import ALL_TABLES


def differing_rows(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int, int, int]:
    """Row counts of `table` in stores `a` and `b`, and rows of each missing from the other."""
    def count(sql: str) -> int:
        return int(con.execute(sql).fetchall()[0][0])

    return (
        count(f"SELECT count(*) FROM a.{table}"),
        count(f"SELECT count(*) FROM b.{table}"),
        count(f"SELECT count(*) FROM (SELECT * FROM a.{table} EXCEPT ALL SELECT * FROM b.{table})"),
        count(f"SELECT count(*) FROM (SELECT * FROM b.{table} EXCEPT ALL SELECT * FROM a.{table})"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("candidate", type=Path)
    args = parser.parse_args()
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="dg-compare-") as spill:
        con.execute("SET temp_directory = ?", [spill])
        con.execute("ATTACH ? AS a (READ_ONLY)", [str(args.reference)])
        con.execute("ATTACH ? AS b (READ_ONLY)", [str(args.candidate)])
        bad = 0
        for table in ALL_TABLES:
            try:
                rows_a, rows_b, only_a, only_b = differing_rows(con, table)
            except duckdb.CatalogException as error:
                print(f"{table:28s} missing: {str(error).splitlines()[0]}")
                bad += 1
                continue
            print(f"{table:28s} rows {rows_a:>10,} {rows_b:>10,}  only in one: {only_a} {only_b}")
            bad += only_a + only_b + (rows_a != rows_b)
        con.close()
    print("IDENTICAL" if bad == 0 else f"DIFFERENT ({bad})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
