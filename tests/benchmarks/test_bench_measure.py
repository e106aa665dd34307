"""Pure helpers of the benchmark scripts: `/usr/bin/time -v` parsing, sizes, tables, doc sections."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

# A report of GNU time 1.9 as written by `/usr/bin/time -v -o FILE` (trimmed to the fields read
# plus neighbours that must not be confused with them).
TIME_V = """\
\tCommand being timed: "distillguard scan --db x.duckdb"
\tUser time (seconds): 220.85
\tSystem time (seconds): 25.46
\tPercent of CPU this job got: 71%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 5:42.66
\tAverage resident set size (kbytes): 0
\tMaximum resident set size (kbytes): 1083956
\tExit status: 0
"""


def test_parse_time_v_reads_wall_cpu_and_peak(bench_measure: ModuleType) -> None:
    m = bench_measure.parse_time_v(TIME_V)
    assert m.wall == pytest.approx(5 * 60 + 42.66)
    assert m.cpu == pytest.approx(220.85 + 25.46)
    assert m.max_rss_kb == 1083956  # not the "Average resident set size" line above it
    assert m.rss_mb == pytest.approx(1083956 / 1024)
    assert m.exit_status == 0


def test_parse_time_v_hours_and_failures(bench_measure: ModuleType) -> None:
    text = TIME_V.replace("5:42.66", "1:02:03.5").replace("Exit status: 0", "Exit status: 3")
    m = bench_measure.parse_time_v(text)
    assert m.wall == pytest.approx(3723.5)
    assert m.exit_status == 3
    with pytest.raises(ValueError, match="rss"):
        bench_measure.parse_time_v(TIME_V.replace("Maximum resident", "Max resident"))


@pytest.mark.skipif(shutil.which("time") is None and not Path("/usr/bin/time").exists(),
                    reason="GNU time not installed")
def test_measure_runs_a_child_under_time(bench_measure: ModuleType) -> None:
    if not bench_measure.TIME_BIN.exists():
        pytest.skip("/usr/bin/time missing")
    m = bench_measure.measure([bench_measure.python(), "-c", "print('hello')"])
    assert m.stdout.strip() == "hello"
    assert m.wall > 0 and m.max_rss_kb > 1000  # a Python interpreter takes megabytes
    with pytest.raises(bench_measure.StepFailed):
        bench_measure.measure([bench_measure.python(), "-c", "raise SystemExit(2)"])


@pytest.mark.parametrize(
    ("text", "count"),
    [("1M", 1_000_000), ("10m", 10_000_000), ("250K", 250_000), ("1.5M", 1_500_000),
     ("12,345", 12_345)],
)
def test_parse_size(bench_measure: ModuleType, text: str, count: int) -> None:
    assert bench_measure.parse_size(text) == count


@pytest.mark.parametrize("bad", ["", "0", "-1M", "1.0000001K", "M"])
def test_parse_size_rejects(bench_measure: ModuleType, bad: str) -> None:
    with pytest.raises(ValueError):
        bench_measure.parse_size(bad)


def test_size_label_round_trips(bench_measure: ModuleType) -> None:
    for count in (1_000_000, 10_000_000, 250_000, 20_000, 1_500_000):
        assert bench_measure.parse_size(bench_measure.size_label(count)) == count
    assert bench_measure.size_label(1234) == "1234"


def test_parse_stage_seconds_from_scan_summary(bench_measure: ModuleType) -> None:
    output = (
        "scan #1: 1,000 new requests, 12 accounts scored in 5.0s\n"
        "campaigns: 1 new, 0 updated, 0 unchanged, 0 closed; 1 alerted (1 new alerts)\n"
        "stages: features 1.5s, graph 2.25s, scoring 0.1s, rules 0.0s, campaigns 0.3s, publish 0.9s\n"
    )
    stages = bench_measure.parse_stage_seconds(output)
    assert list(stages) == ["features", "graph", "scoring", "rules", "campaigns", "publish"]
    assert stages["graph"] == 2.25
    assert sum(stages.values()) == pytest.approx(5.05)
    assert bench_measure.parse_stage_seconds("no summary here") == {}


def test_markdown_table_aligns_and_escapes(bench_measure: ModuleType) -> None:
    table = bench_measure.markdown_table(["a", "b"], [["x|y", "1"]], right=(1,))
    lines = table.splitlines()
    assert lines[1] == "| --- | ---: |"
    assert lines[2] == "| x\\|y | 1 |"
    with pytest.raises(ValueError):
        bench_measure.markdown_table(["a", "b"], [["only one"]])


def test_append_section_keeps_other_sections(bench_measure: ModuleType, tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## ingest\n\nold ingest text\n")
    bench_measure.append_section(doc, "Full pipeline", "first run")
    bench_measure.append_section(doc, "Full pipeline", "second run")
    # Someone else adds a section after ours; our next run must stay inside our section.
    doc.write_text(doc.read_text() + "\n## graph\n\ngraph text\n")
    bench_measure.append_section(doc, "Full pipeline", "third run")
    text = doc.read_text()
    assert text.count("## Full pipeline") == 1
    assert text.index("old ingest text") < text.index("first run") < text.index("second run")
    assert text.index("second run") < text.index("third run") < text.index("## graph")
    assert text.rstrip().endswith("graph text")
