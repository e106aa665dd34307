"""Full pipeline benchmark: ingest plus scan of simulator traffic, against DuckDB's raw scan.

For each size (default 1 M requests) and input format (Parquet, JSONL), in this order, each
step in a process of its own under `/usr/bin/time -v` (wall, CPU = user + system of all
threads, peak RSS):

1. the floor: one raw DuckDB scan of the input file (`SELECT count(*), sum(length(prompt))`);
2. `distillguard ingest FILE --accounts accounts.jsonl` into a fresh store;
3. `distillguard scan` on that store (per-stage wall seconds from its summary line, and the
   sub-step seconds the stages record in `scan_runs.stats`);
4. with `--stages`: the same scan again on a copy of the ingested store, split into three
   processes (features, graph, then scoring + rules + campaigns + publish), so that each
   stage has its own CPU time and peak RSS.

The scan runs on the first format's store only (the stores of both formats hold the same
rows); `--scan-every-format` scans each. Data comes from `distillguard simulate --scale large
--days D --max-requests N` (D = N / 250,000 rounded up: the large world's daily rate, so 1 M
is four days of 88 k accounts and 10 M forty days), generated once under `--data-dir` and
reused. Results are printed, saved as JSON next to the data, and appended to
`docs/benchmarks.md` (section "Full pipeline (benchmarks/run.py)") unless `--no-append`.

    .venv/bin/python benchmarks/run.py --sizes 1M --formats parquet,jsonl --stages
    .venv/bin/python benchmarks/run.py --sizes 10M --formats parquet,jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_measure import (
    REPO,
    Machine,
    Measured,
    append_section,
    distillguard,
    fmt_mb,
    fmt_ratio,
    fmt_seconds,
    load_average,
    machine,
    markdown_table,
    measure,
    parse_size,
    parse_stage_seconds,
    python,
    size_label,
)

HERE = Path(__file__).resolve().parent
STEP_SCRIPT = HERE / "pipeline_step.py"
SECTION = "Full pipeline (benchmarks/run.py)"
LARGE_DAILY_REQUESTS = 250_000  # nominal rate of the simulator's `large` scale
SCALE = "large"

# Bars of issue 10 for 10 M requests: (seconds, peak RSS MB) per input format.
BARS = {"parquet": (240.0, 6 * 1024), "jsonl": (420.0, 6 * 1024)}


@dataclass
class Step:
    """One measured process; `detail` holds what the process reported about itself."""

    name: str
    measured: Measured
    load: tuple[float, float, float]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """Every step measured for one (size, format)."""

    requests: int
    fmt: str
    data: Path
    input_bytes: int
    prompt_chars: int = 0
    steps: dict[str, Step] = field(default_factory=dict)
    scan_stage_seconds: dict[str, float] = field(default_factory=dict)
    scan_stage_details: dict[str, Any] = field(default_factory=dict)
    scanned_here: bool = False
    profiled: bool = False


# -- data ----------------------------------------------------------------------------------

def simulated_days(requests: int) -> int:
    """Days of the large world that hold at least `requests` at its nominal daily rate."""
    return max(1, math.ceil(requests / LARGE_DAILY_REQUESTS))


def data_dir_for(root: Path, requests: int, fmt: str, seed: int) -> Path:
    return root / f"{SCALE}-s{seed}-d{simulated_days(requests)}-{size_label(requests)}-{fmt}"


def requests_file(directory: Path, fmt: str) -> Path:
    return directory / ("requests.parquet" if fmt == "parquet" else "requests.jsonl")


def ensure_data(root: Path, requests: int, fmt: str, seed: int) -> Path:
    """The simulated requests file for (requests, fmt), generated once (niced) and reused."""
    directory = data_dir_for(root, requests, fmt, seed)
    path = requests_file(directory, fmt)
    if path.exists() and (directory / "manifest.json").exists():
        return directory
    command = [
        "nice", "-n", "10", distillguard(), "simulate", "--out", str(directory),
        "--scale", SCALE, "--days", str(simulated_days(requests)),
        "--max-requests", str(requests), "--seed", str(seed),
    ]
    if fmt == "parquet":
        command.append("--parquet")
    print(f"generating {size_label(requests)} {fmt}: {' '.join(command)}", file=sys.stderr)
    done = measure(command)
    print(done.stdout.strip(), file=sys.stderr)
    print(
        f"  took {done.wall:.0f} s wall, {done.cpu:.0f} s CPU, {done.rss_mb:.0f} MB peak",
        file=sys.stderr,
    )
    return directory


# -- steps ---------------------------------------------------------------------------------

def remove_store(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".lock")):
        path.unlink(missing_ok=True)


def last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise ValueError("no JSON line in the step's output")


def read_scan_stats(db: Path) -> dict[str, Any]:
    """The `stats` JSON of the newest completed scan (read-only connection)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT stats FROM scan_runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}


def run_step(name: str, command: list[str], profile_to: Path | None = None) -> Step:
    # The previous step's writes are flushed first, so that a step does not wait on the
    # kernel writing back another's dirty pages (the scan's checkpoints fsync the store).
    flushed = time.perf_counter()
    os.sync()
    print(f"  (flushed earlier writes in {time.perf_counter() - flushed:.1f} s)", file=sys.stderr)
    load = load_average()
    print(f"  {name}: {' '.join(command)}", file=sys.stderr)
    done = measure(command, profile_to=profile_to)
    try:
        detail = last_json_line(done.stdout)
    except ValueError:
        detail = {}
    print(
        f"    {done.wall:.1f} s wall, {done.cpu:.1f} s CPU, {done.rss_mb:.0f} MB peak "
        f"(load {load[0]:.1f})",
        file=sys.stderr,
    )
    return Step(name, done, load, detail)


def run_case(
    root: Path, work: Path, requests: int, fmt: str, seed: int, *, scan: bool, stages: bool,
    keep_stores: bool, profile_dir: Path | None = None,
) -> Case:
    directory = ensure_data(root, requests, fmt, seed)
    path = requests_file(directory, fmt)
    case = Case(requests, fmt, directory, path.stat().st_size)
    print(f"{size_label(requests)} {fmt}: {path}", file=sys.stderr)
    raw = run_step("raw", [python(), str(STEP_SCRIPT), "raw", str(path)])
    case.steps["raw"] = raw
    case.prompt_chars = int(raw.detail.get("prompt_chars", 0))
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"{size_label(requests)}-{fmt}.duckdb"
    remove_store(db)
    case.steps["ingest"] = run_step(
        "ingest",
        [distillguard(), "ingest", str(path), "--accounts", str(directory / "accounts.jsonl"),
         "--db", str(db)],
    )
    if scan:
        case.scanned_here = True
        copy = work / f"{size_label(requests)}-{fmt}-stages.duckdb"
        if stages:
            remove_store(copy)
            shutil.copyfile(db, copy)
        case.steps["scan"] = run_step("scan", [distillguard(), "scan", "--db", str(db)])
        case.scan_stage_seconds = parse_stage_seconds(case.steps["scan"].measured.stdout)
        case.scan_stage_details = read_scan_stats(db).get("stages", {})
        if stages:
            for step in ("features", "graph", "decide"):
                command = [python(), str(STEP_SCRIPT), step, str(copy)]
                profile = (
                    profile_dir / f"{size_label(requests)}-{fmt}-{step}.txt" if profile_dir else None
                )
                case.steps[step] = run_step(step, command, profile)
            case.profiled = profile_dir is not None
            if not keep_stores:
                remove_store(copy)
    if not keep_stores:
        remove_store(db)
    return case


# -- report --------------------------------------------------------------------------------

def pipeline_totals(case: Case, scan_case: Case | None) -> tuple[float, float, float] | None:
    """(wall, CPU, peak RSS MB) of ingest plus scan; the scan may come from the other format."""
    source = case if case.scanned_here else scan_case
    if source is None or "scan" not in source.steps:
        return None
    ingest, scan = case.steps["ingest"].measured, source.steps["scan"].measured
    return ingest.wall + scan.wall, ingest.cpu + scan.cpu, max(ingest.rss_mb, scan.rss_mb)


def summary_rows(cases: list[Case]) -> list[list[str]]:
    """One row per measured step and one for the whole pipeline, with ratios to the raw scan."""
    rows: list[list[str]] = []
    scanned = {c.requests: c for c in cases if c.scanned_here}
    labels = {
        "raw": "raw DuckDB scan (floor)",
        "ingest": "ingest",
        "scan": "scan (one process)",
        "features": "· features (own process)",
        "graph": "· graph (own process)",
        "decide": "· scoring+rules+campaigns+publish (own process)",
    }
    for case in cases:
        raw = case.steps["raw"].measured
        size = f"{case.requests:,}"
        for name, label in labels.items():
            step = case.steps.get(name)
            if step is None:
                continue
            m = step.measured
            rows.append([
                size, case.fmt, label, fmt_seconds(m.wall), fmt_seconds(m.cpu), fmt_mb(m.rss_mb),
                "" if name == "raw" else fmt_ratio(m.wall / raw.wall),
                "" if name == "raw" else fmt_ratio(m.cpu / max(raw.cpu, 1e-9)),
                f"{step.load[0]:.1f}",
            ])
        totals = pipeline_totals(case, scanned.get(case.requests))
        if totals is not None:
            wall, cpu, rss = totals
            note = "" if case.scanned_here else " (scan of the other format's store)"
            rows.append([
                size, case.fmt, f"**full pipeline: ingest + scan**{note}", f"**{fmt_seconds(wall)}**",
                fmt_seconds(cpu), fmt_mb(rss), f"**{fmt_ratio(wall / raw.wall)}**",
                fmt_ratio(cpu / max(raw.cpu, 1e-9)), "",
            ])
    return rows


def _sub_steps(detail: dict[str, Any]) -> str:
    """'templates 12.0, capability_cot 30.1, ...' from a stage's recorded per-step seconds."""
    seconds = detail.get("seconds")
    if not isinstance(seconds, dict):
        return ""
    recorded = detail.get("cpu_seconds")
    cpu: dict[str, float] = recorded if isinstance(recorded, dict) else {}
    parts = []
    for key, value in seconds.items():
        if key == "total":
            continue
        cpu_part = f" ({cpu[key]:.1f} CPU)" if key in cpu else ""
        parts.append(f"{key} {float(value):.1f}{cpu_part}")
    return ", ".join(parts)


def stage_rows(cases: list[Case]) -> list[list[str]]:
    """Per-stage wall seconds inside the one-process scan, with the stages' own sub-steps."""
    rows = []
    for case in cases:
        if not case.scanned_here:
            continue
        stages = dict(case.scan_stage_seconds)
        if "scan" in case.steps and stages:
            # What the process spent outside the stages: interpreter, imports, store, lock.
            stages["start-up, imports, run log"] = max(
                0.0, case.steps["scan"].measured.wall - sum(stages.values())
            )
        total = sum(stages.values()) or 1.0
        for stage, seconds in stages.items():
            rows.append([
                f"{case.requests:,}", case.fmt, stage, fmt_seconds(seconds),
                f"{100 * seconds / total:.0f} %", _sub_steps(case.scan_stage_details.get(stage, {})),
            ])
    return rows


def bar_lines(cases: list[Case]) -> list[str]:
    """Against the 10 M bars, for cases of at least 10 M requests."""
    lines = []
    scanned = {c.requests: c for c in cases if c.scanned_here}
    for case in cases:
        totals = pipeline_totals(case, scanned.get(case.requests))
        if case.requests < 10_000_000 or totals is None or case.fmt not in BARS:
            continue
        limit, rss_limit = BARS[case.fmt]
        wall, _, rss = totals
        met = wall <= limit and rss <= rss_limit
        lines.append(
            f"- {case.requests:,} {case.fmt}: {wall:.0f} s and {rss:,.0f} MB against the bar of "
            f"{limit:.0f} s and {rss_limit:,} MB: **{'met' if met else 'not met'}**."
        )
    return lines


def report(cases: list[Case], host: Machine, command: str) -> str:
    loads = [s.load for c in cases for s in c.steps.values()]
    data_lines = []
    for case in cases:
        mean = case.prompt_chars / case.requests if case.requests else 0
        data_lines.append(
            f"- {case.requests:,} requests, {case.fmt}: `{requests_file(case.data, case.fmt)}` "
            f"({case.input_bytes / 1e6:,.0f} MB, mean prompt {mean:,.0f} characters)"
        )
    parts = [
        f"### Run of {host.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {host.describe(loads)}.",
        "",
        "Data (`distillguard simulate --scale large --days D --max-requests N --seed S`):",
        *data_lines,
        "",
        "Each row is one process under `/usr/bin/time -v`; CPU is user + system time of all its "
        "threads; the ratios divide by the raw DuckDB scan of the same file in the same run; "
        "load is the 1-minute load average when the step started; each step starts after `sync` "
        "(the earlier steps' writes flushed to disk, not timed).",
        "",
        markdown_table(
            ["requests", "input", "step", "wall s", "CPU s", "peak RSS MB", "wall ÷ raw",
             "CPU ÷ raw", "load"],
            summary_rows(cases),
            right=(3, 4, 5, 6, 7, 8),
        ),
    ]
    rows = stage_rows(cases)
    if rows:
        parts += [
            "",
            "Stages inside the one-process scan (wall seconds from its summary line; sub-steps "
            "as the stages record them in `scan_runs.stats`, wall seconds with process CPU "
            "seconds where the stage records them):",
            "",
            markdown_table(["requests", "store from", "stage", "wall s", "share", "sub-steps (s)"],
                           rows, right=(3, 4)),
        ]
    if any(c.profiled for c in cases):
        parts += ["", "py-spy (`record --nonblocking --rate 50 --pid`) sampled the own-process stage "
                  "rows from outside; its own CPU is not in their figures."]
    bars = bar_lines(cases)
    if bars:
        parts += ["", *bars]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M", help="comma list of request counts: 1M,10M")
    parser.add_argument("--formats", default="parquet,jsonl", help="comma list: parquet,jsonl")
    parser.add_argument("--stages", action="store_true",
                        help="also run features, graph and the rest each in its own process")
    parser.add_argument("--scan-every-format", action="store_true",
                        help="scan every format's store (default: the first format's only)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/distillguard-bench"))
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the stores go (default: DATA_DIR/stores)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-stores", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="record the --stages processes with py-spy (collapsed stacks) in DIR")
    parser.add_argument("--no-append", action="store_true", help="do not edit docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = set(formats) - {"parquet", "jsonl"}
    if unknown:
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    host = machine()
    work = args.work_dir or args.data_dir / "stores"
    cases: list[Case] = []
    for requests in sizes:
        for i, fmt in enumerate(formats):
            cases.append(run_case(
                args.data_dir, work, requests, fmt, args.seed,
                scan=i == 0 or args.scan_every_format, stages=args.stages,
                keep_stores=args.keep_stores, profile_dir=args.profile,
            ))
    command = "benchmarks/run.py " + " ".join(sys.argv[1:])
    text = report(cases, host, command)
    print(text)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = args.data_dir / f"results-{stamp}.json"
    results.write_text(json.dumps([_as_json(c) for c in cases], indent=2, default=str))
    print(f"raw results: {results}", file=sys.stderr)
    if not args.no_append:
        append_section(args.doc, SECTION, text)


def _as_json(case: Case) -> dict[str, Any]:
    return {
        "requests": case.requests,
        "format": case.fmt,
        "data": str(case.data),
        "input_bytes": case.input_bytes,
        "prompt_chars": case.prompt_chars,
        "scan_stage_seconds": case.scan_stage_seconds,
        "scan_stage_details": case.scan_stage_details,
        "steps": {
            name: {
                "wall": s.measured.wall, "cpu": s.measured.cpu, "user": s.measured.user,
                "system": s.measured.system, "max_rss_kb": s.measured.max_rss_kb,
                "load": s.load, "detail": s.detail,
            }
            for name, s in case.steps.items()
        },
    }


if __name__ == "__main__":
    main()
