"""Which SQL statements of a scan would run on Spark SQL or Trino: capture them, then transpile.

Runs a whole scan (features, graph, scoring, rules, campaigns, publish) on a tiny simulated
store through a connection proxy that records every statement with the `detector/` line that
issued it, then transpiles each distinct statement from DuckDB to Spark SQL and to Trino with
sqlglot (errors on anything sqlglot knows it cannot express) and lists the DuckDB-specific
constructs each statement uses. A statement that transpiles is a candidate, not a proof: the
functions' semantics (hashes, regex dialects, NULL and integer-division rules) still differ.

    .venv/bin/python benchmarks/sql_portability.py --out /tmp/sql_portability.md
"""

from __future__ import annotations

import argparse
import re
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_measure import REPO, markdown_table

# DuckDB-only (or DuckDB-spelled) constructs that show up in the project's SQL, with how
# Spark SQL / Trino spell them. Matched on the statement text, case-insensitively.
CONSTRUCTS: dict[str, tuple[str, str, str]] = {
    # name: (pattern in the statement, how Spark SQL / Trino spell it, a minimal example)
    "GROUP BY ALL": (r"GROUP\s+BY\s+ALL\b", "list the keys (Trino: ALL is a grouping-set quantifier)",
                     "SELECT a, count(*) FROM t GROUP BY ALL"),
    "QUALIFY": (r"\bQUALIFY\b", "subquery with row_number() and WHERE",
                "SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) <= 3"),
    "SELECT * REPLACE/EXCLUDE": (r"\*\s+(REPLACE|EXCLUDE)\s*\(", "explicit column list",
                                 "SELECT * REPLACE (round(a, 9) AS a) FROM t"),
    "BY NAME": (r"\bBY\s+NAME\b", "explicit column lists",
                "SELECT a FROM x UNION ALL BY NAME SELECT a FROM y"),
    "SEMI/ANTI JOIN": (r"(?<!LEFT )\b(SEMI|ANTI)\s+JOIN\b", "Spark: LEFT SEMI/ANTI JOIN; Trino: EXISTS",
                       "SELECT * FROM t SEMI JOIN u USING (k)"),
    "arg_max/arg_min": (r"\barg_(max|min)\s*\(", "max_by/min_by (both engines)",
                        "SELECT arg_max(a, b) FROM t"),
    "ordered first()": (r"\b(first|arbitrary)\s*\([^)]*ORDER\s+BY", "min_by/max_by with a composite key",
                        "SELECT first(a ORDER BY n DESC, v) FROM t"),
    "any_value": (r"\bany_value\s*\(", "Spark any_value (3.4+); Trino arbitrary",
                  "SELECT any_value(a) FROM t"),
    "epoch()/epoch_us()": (r"\bepoch(_us|_ms)?\s*\(", "Spark unix_micros/unix_timestamp; Trino to_unixtime",
                           "SELECT epoch_us(ts) FROM t"),
    "timezone()": (r"\btimezone\s*\(", "session time zone UTC; Trino AT TIME ZONE",
                   "SELECT timezone('UTC', ts) FROM t"),
    "hash()": (r"\bhash\s*\(", "engine-specific hash: Spark xxhash64, Trino xxhash64(varbinary)",
               "SELECT hash(a) FROM t"),
    "integer //": (r"//", "Spark div; Trino integer /", "SELECT a // 2 FROM t"),
    "HUGEINT": (r"\b(HUGEINT|INT128)\b", "DECIMAL(38, 0)", "SELECT CAST(a AS HUGEINT) FROM t"),
    "unsigned ints": (r"\bU(BIGINT|INTEGER|TINYINT|SMALLINT)\b", "signed BIGINT (reinterpret) or DECIMAL(20)",
                      "SELECT CAST(a AS UBIGINT) FROM t"),
    "list literal / unnest(?::T[])": (r"unnest\s*\(\s*\?|::\w+\[\]", "IN list or a small dimension table",
                                      "SELECT * FROM t WHERE a IN (SELECT unnest(?::VARCHAR[]))"),
    "list_* functions": (r"\blist_\w+\s*\(", "Spark collect_list/array_*; Trino array_agg/array functions",
                         "SELECT list_contains(l, 1) FROM t"),
    "median()": (r"\bmedian\s*\(", "Spark median (3.4+); Trino approx_percentile only",
                 "SELECT median(a) FROM t"),
    "temp tables": (r"CREATE\s+(OR\s+REPLACE\s+)?TEMP", "Spark cached temp views; Trino CTAS into a scratch schema",
                    "CREATE OR REPLACE TEMP TABLE x AS SELECT 1 AS a"),
    "registered DataFrame": (r"\b_dg_\w+|\bgraph_overlap_rows\b", "DataFrame -> temp view (Spark); no equivalent in Trino",
                             ""),
}
SKIP = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SET|PRAGMA|CHECKPOINT|SELECT current_setting|SELECT \?|FROM pragma)", re.I)


@dataclass
class Statement:
    sql: str
    sites: set[str] = field(default_factory=set)
    spark: str = ""
    trino: str = ""
    constructs: list[str] = field(default_factory=list)


class RecordingConnection:
    """Delegates to a DuckDB connection and records the SQL of `execute`, `executemany`, `sql`."""

    def __init__(self, con: Any, log: dict[str, Statement]) -> None:
        self._con = con
        self._log = log

    def _record(self, sql: str) -> None:
        site = next(
            (
                f"{Path(f.filename).relative_to(REPO)}:{f.lineno}"
                for f in reversed(traceback.extract_stack()[:-2])
                if "/detector/" in f.filename and not f.filename.endswith("store.py")
            ),
            "?",
        )
        key = " ".join(sql.split())
        if SKIP.match(key):
            return
        # Keyed on the text without layout; kept with its newlines, which end `--` comments.
        self._log.setdefault(key, Statement(sql.strip())).sites.add(site)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._record(sql)
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._record(sql)
        return self._con.executemany(sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._record(sql)
        return self._con.sql(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def capture(work: Path) -> dict[str, Statement]:
    """Simulate a tiny store, ingest it, and record every statement of one full scan."""
    from detector import store
    from detector.ingest import ingest_accounts, ingest_files
    from detector.scan import scan
    from detector.simulate import simulate

    summary = simulate(work / "sim", seed=3, scale="tiny", parquet=True, use_packages=False)
    db = work / "tiny.duckdb"
    con = store.connect(db)
    try:
        ingest_files(con, [summary.requests_path])
        ingest_accounts(con, summary.accounts_path)
        log: dict[str, Statement] = {}
        scan(RecordingConnection(con, log))  # type: ignore[arg-type]
    finally:
        con.close()
    return log


def transpile(statement: Statement) -> None:
    import sqlglot
    from sqlglot.errors import ErrorLevel, SqlglotError

    for dialect in ("spark", "trino"):
        try:
            sqlglot.transpile(statement.sql, read="duckdb", write=dialect,
                              unsupported_level=ErrorLevel.RAISE)
            outcome = "ok"
        except SqlglotError as exc:
            outcome = "fails: " + str(exc).splitlines()[0][:80]
        setattr(statement, dialect, outcome)
    statement.constructs = [
        name for name, (pattern, _, _) in CONSTRUCTS.items() if re.search(pattern, statement.sql, re.I)
    ]


def rewritten(name: str, dialect: str) -> str:
    """Whether sqlglot turns the construct's example into something without the construct."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    pattern, _, example = CONSTRUCTS[name]
    if not example:
        return "n/a"
    try:
        out = sqlglot.transpile(example, read="duckdb", write=dialect)[0]
    except SqlglotError:
        return "error"
    return "kept" if re.search(pattern, out, re.I) else f"`{out}`"


def report(log: dict[str, Statement]) -> str:
    statements = sorted(log.values(), key=lambda s: sorted(s.sites)[0])
    for statement in statements:
        transpile(statement)
    by_module: dict[str, list[Statement]] = {}
    for s in statements:
        module = sorted(s.sites)[0].split(":")[0]
        by_module.setdefault(module, []).append(s)
    rows = []
    for module, items in sorted(by_module.items()):
        used = sorted({c for s in items for c in s.constructs})
        rows.append([
            f"`{module}`", str(len(items)),
            str(sum(s.spark == "ok" for s in items)), str(sum(s.trino == "ok" for s in items)),
            str(sum(not s.constructs for s in items)), ", ".join(used),
        ])
    counts: dict[str, int] = {}
    for s in statements:
        for c in s.constructs:
            counts[c] = counts.get(c, 0) + 1
    construct_rows = [
        [name, str(counts[name]), CONSTRUCTS[name][1], rewritten(name, "spark"),
         rewritten(name, "trino")]
        for name in sorted(counts, key=lambda n: -counts[n])
    ]
    failures = [
        [sorted(s.sites)[0], s.spark, s.trino]
        for s in statements if s.spark != "ok" or s.trino != "ok"
    ]
    parts = [
        f"{len(statements)} distinct statements issued by one scan of a tiny simulated store "
        f"(sqlglot {_sqlglot_version()}, read as DuckDB, written as Spark SQL and Trino).",
        "",
        markdown_table(
            ["module (first call site)", "statements", "sqlglot writes Spark", "sqlglot writes Trino",
             "free of DuckDB-only constructs", "DuckDB-only constructs used"],
            rows, right=(1, 2, 3, 4),
        ),
        "",
        "DuckDB-only constructs, and whether sqlglot rewrites a minimal example of each (\"kept\" "
        "means it copies the DuckDB spelling into the other dialect, which that engine rejects or "
        "reads differently):",
        "",
        markdown_table(["construct", "statements", "Spark SQL / Trino", "sqlglot → Spark",
                        "sqlglot → Trino"], construct_rows, right=(1,)),
    ]
    if failures:
        parts += ["", "Statements sqlglot refused:", "",
                  markdown_table(["call site", "Spark", "Trino"], failures)]
    return "\n".join(parts) + "\n"


def _sqlglot_version() -> str:
    import sqlglot

    version: Callable[[], str] | str = getattr(sqlglot, "__version__", "?")
    return str(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dg-sql-") as tmp:
        text = report(capture(Path(tmp)))
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
