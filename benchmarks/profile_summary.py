"""Summarize py-spy collapsed stacks (`--format raw`): where a stage's samples land in our code.

Each sample is attributed to the deepest frame inside `detector/` (the project line that was
running, or that called into DuckDB, polars, numpy, ... when the time went there), and to
the library function at the leaf. Native code that releases the GIL (DuckDB queries, polars
kernels) shows as the Python line that called it.

    .venv/bin/python benchmarks/profile_summary.py /tmp/distillguard-bench/profiles/*.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_PROJECT = re.compile(r"(^|/)detector/")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*?):(?P<line>\d+)\)$")


def parse_collapsed(text: str) -> Counter[tuple[str, ...]]:
    """Stacks (outermost first) and their sample counts from py-spy's raw output."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def short(frame: str) -> str:
    """'func (…/detector/graph/edges.py:73)' -> 'graph/edges.py:73 func'."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match.group("file")
    project = _PROJECT.search(path)
    if project is not None:
        path = path[project.end():]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{path}:{match.group('line')} {match.group('func')}"


def own_frame(stack: tuple[str, ...]) -> str:
    """The deepest frame of the stack that lies in the project package."""
    for frame in reversed(stack):
        match = _FRAME.match(frame)
        if match is not None and _PROJECT.search(match.group("file")):
            return short(frame)
    return "(outside detector/: start-up, imports)"


def summarize(stacks: Counter[tuple[str, ...]], top: int) -> str:
    total = sum(stacks.values()) or 1
    by_line: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for stack, count in stacks.items():
        line = own_frame(stack)
        by_line[line] += count
        file, _, rest = line.partition(":")
        by_function[f"{file} {rest.partition(' ')[2]}" if rest else line] += count
        by_leaf[short(stack[-1])] += count
    lines = [f"  samples: {total:,}", "  deepest project function:"]
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in by_function.most_common(top)]
    lines.append("  deepest project line:")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in by_line.most_common(top)]
    lines.append("  leaf function:")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in by_leaf.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for path in args.files:
        print(path.name)
        print(summarize(parse_collapsed(path.read_text()), args.top))


if __name__ == "__main__":
    main()
