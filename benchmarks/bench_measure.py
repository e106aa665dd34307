"""Shared helpers of `run.py` and `incremental.py`: measured child processes, machine facts, tables.

Every measured step runs as its own process under `/usr/bin/time -v`, so wall time, CPU time
(user + system, all threads) and peak RSS belong to that step alone. The parsing and table
formatting here are pure functions (tested in `tests/benchmarks/`).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIME_BIN = Path("/usr/bin/time")

SIZE_SUFFIXES = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


@dataclass(frozen=True)
class Measured:
    """One finished child process: wall and CPU seconds, peak RSS, exit status and output."""

    wall: float
    user: float
    system: float
    max_rss_kb: int
    exit_status: int
    stdout: str = ""
    stderr: str = ""

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def rss_mb(self) -> float:
        return self.max_rss_kb / 1024


class StepFailed(RuntimeError):
    """A measured step exited with a non-zero status."""


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '250K' -> 250_000, '1.5M' -> 1_500_000, '12345' -> 12345."""
    value = text.strip().upper().replace("_", "").replace(",", "")
    if not value:
        raise ValueError("empty size")
    multiplier = SIZE_SUFFIXES.get(value[-1], 1)
    number = value[:-1] if value[-1] in SIZE_SUFFIXES else value
    result = float(number) * multiplier
    if result <= 0 or result != int(result):
        raise ValueError(f"not a positive whole number of requests: {text!r}")
    return int(result)


def size_label(count: int) -> str:
    """Inverse of `parse_size` for round figures: 1_000_000 -> '1M', 250_000 -> '250K'."""
    for suffix, factor in (("G", 1_000_000_000), ("M", 1_000_000), ("K", 1_000)):
        if count >= factor and count % factor == 0:
            return f"{count // factor}{suffix}"
    if count >= 1_000_000 and count % 100_000 == 0:
        return f"{count / 1_000_000:g}M"
    return str(count)


def _clock_seconds(text: str) -> float:
    """'1:02:03.5' / '5:42.66' / '0.31' as seconds."""
    parts = [float(p) for p in text.strip().split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


_FIELDS = {
    "user": re.compile(r"^\s*User time \(seconds\):\s*([\d.]+)", re.M),
    "system": re.compile(r"^\s*System time \(seconds\):\s*([\d.]+)", re.M),
    "wall": re.compile(r"^\s*Elapsed \(wall clock\) time \([^)]*\):\s*([\d:.]+)", re.M),
    "rss": re.compile(r"^\s*Maximum resident set size \(kbytes\):\s*(\d+)", re.M),
    "status": re.compile(r"^\s*Exit status:\s*(-?\d+)", re.M),
}


def parse_time_v(text: str) -> Measured:
    """Read the report of GNU `/usr/bin/time -v` (wall, user, system, max RSS, exit status)."""
    found = {}
    for name, pattern in _FIELDS.items():
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"no {name!r} line in /usr/bin/time -v output")
        found[name] = match.group(1)
    return Measured(
        wall=_clock_seconds(found["wall"]),
        user=float(found["user"]),
        system=float(found["system"]),
        max_rss_kb=int(found["rss"]),
        exit_status=int(found["status"]),
    )


_STAGES_LINE = re.compile(r"^stages:\s*(.*)$", re.M)
_STAGE_ITEM = re.compile(r"([A-Za-z_]+)\s+([\d.]+)s")


def parse_stage_seconds(scan_output: str) -> dict[str, float]:
    """Per-stage wall seconds from the `stages: features 1.0s, graph 2.0s, ...` summary line."""
    match = _STAGES_LINE.search(scan_output)
    if match is None:
        return {}
    return {name: float(value) for name, value in _STAGE_ITEM.findall(match.group(1))}


def measure(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    profile_to: Path | None = None,
) -> Measured:
    """Run `command` under `/usr/bin/time -v` and return its measurements and output.

    With `profile_to`, py-spy attaches to the command's process from outside (sampling,
    non-blocking) and writes collapsed stacks there; py-spy is not a descendant of the timed
    process, so its own CPU and memory are not counted in the step's figures.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as report:
        report_path = Path(report.name)
    try:
        with subprocess.Popen(
            [str(TIME_BIN), "-v", "-o", str(report_path), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        ) as timed:
            spy = _attach_profiler(timed.pid, profile_to) if profile_to else None
            stdout, stderr = timed.communicate()
            if spy is not None:
                spy.wait(timeout=120)
        result = parse_time_v(report_path.read_text())
    finally:
        report_path.unlink(missing_ok=True)
    result = Measured(**{**result.__dict__, "stdout": stdout, "stderr": stderr})
    if check and (timed.returncode != 0 or result.exit_status != 0):
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise StepFailed(f"{' '.join(command)} exited with {timed.returncode}:\n{tail}")
    return result


def _attach_profiler(time_pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Start `py-spy record` on the child of the `time` process, once it exists."""
    children = Path(f"/proc/{time_pid}/task/{time_pid}/children")
    deadline = time.monotonic() + 10
    pid = ""
    while time.monotonic() < deadline and not pid:
        try:
            listed = children.read_text().split()
        except OSError:
            return None
        pid = listed[0] if listed else ""
        if not pid:
            time.sleep(0.05)
    if not pid:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--nonblocking", "--rate", "50", "--format", "raw",
         "-o", str(out), "--pid", pid],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def python() -> str:
    """The interpreter running this script (the project's virtualenv)."""
    return sys.executable


def distillguard() -> str:
    """The `distillguard` console script next to the interpreter."""
    return str(Path(sys.executable).with_name("distillguard"))


@dataclass(frozen=True)
class Machine:
    """Where and when a benchmark ran."""

    cores: int
    ram_gb: float
    cpu_model: str
    system: str
    python: str
    commit: str
    started: datetime

    def describe(self, load: Sequence[tuple[float, float, float]]) -> str:
        loads = ", ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in load)
        return (
            f"{self.started:%Y-%m-%d %H:%M} UTC; commit {self.commit}; {self.cores} cores "
            f"({self.cpu_model}), {self.ram_gb:.0f} GB RAM, {self.system}, Python {self.python}; "
            f"load average (1/5/15 min) at each step: {loads}"
        )


def machine() -> Machine:
    """Cores, memory and CPU model from /proc, and the commit (read-only `git rev-parse`)."""
    cpu_model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ram_gb = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        if match:
            ram_gb = int(match.group(1)) / 1024 / 1024
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return Machine(
        cores=os.cpu_count() or 0,
        ram_gb=ram_gb,
        cpu_model=cpu_model,
        system=f"{platform.system()} {platform.machine()}",
        python=platform.python_version(),
        commit=commit,
        started=datetime.now(UTC),
    )


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return (one, five, fifteen)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def fmt_mb(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}x"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A GitHub markdown table; columns whose index is in `right` are right-aligned."""
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header {len(header)}")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def append_section(doc: Path, heading: str, body: str) -> None:
    """Add `body` at the end of the `## heading` section of `doc` (creating it at the end)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    marker = f"\n## {heading}\n"
    block = "\n" + body.strip("\n") + "\n"
    start = text.find(marker)
    if start < 0:
        doc.write_text(text.rstrip("\n") + "\n\n" + marker.lstrip("\n") + block)
        return
    following = text.find("\n## ", start + len(marker))
    end = len(text) if following < 0 else following
    head, tail = text[:end].rstrip("\n") + "\n", text[end:]
    doc.write_text(head + block + ("\n" + tail.lstrip("\n") if tail else ""))
